// The start-up helper shared by `npm start` and the commands: it opens what the configuration names, and its
// close() undoes exactly what was opened, also when it comes while the steps are still running.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { databaseStartup, withDatabase } from '../src/startup.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

describe('databaseStartup', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
  });
  after(() => t.drop());

  it('migrates and hands over a pool; close() ends the pool', async () => {
    const config = loadConfig({ APP_ENV: 'test', DATABASE_URL: t.url });
    const migrated: number[] = [];
    const startup = databaseStartup(config, { onMigrated: (result) => migrated.push(result.total) });
    const started = await startup.open();
    assert.ok(started);
    assert.equal(started.url, t.url);
    assert.equal(started.local.embedded, false);
    assert.ok((migrated[0] ?? 0) > 0, 'migrations applied and reported');
    const [row] = await started.database.sql<{ one: number }[]>`select 1 as one`;
    assert.equal(row?.one, 1);
    await startup.close();
    await startup.close();
    await assert.rejects(started.database.sql`select 1`, /CONNECTION_ENDED|ended/i);
  });

  it('close() during open(): open() answers undefined and no pool is left behind', async () => {
    const config = loadConfig({ APP_ENV: 'test', DATABASE_URL: t.url });
    let opened = false;
    const startup = databaseStartup(config, { checkReachable: true, onOpened: () => (opened = true) });
    const opening = startup.open();
    await startup.close();
    assert.equal(await opening, undefined);
    assert.equal(opened, true, 'the close waited for the step in progress');
  });

  it('withDatabase closes the pool when the body throws', async () => {
    const config = loadConfig({ APP_ENV: 'test', DATABASE_URL: t.url, MIGRATE_ON_START: 'false' });
    let sql: Database['sql'] | undefined;
    await assert.rejects(
      withDatabase(config, {}, ({ database }) => {
        sql = database.sql;
        return Promise.reject(new Error('body failed'));
      }),
      /body failed/,
    );
    assert.ok(sql);
    await assert.rejects(sql`select 1`, /CONNECTION_ENDED|ended/i);
  });
});

// The database pool gauges read postgres.js's own pool state (patches/postgres+3.4.9.patch): connections held by
// transactions count as in use, a query with no connection left counts as waiting, and both go back to 0.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { registerPoolGauges } from '../../src/metrics/pool-gauges.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readMetric } from '../helpers/metrics.js';
import { waitUntil, within } from '../helpers/wait.js';

let t: TestDatabase;

before(async () => {
  t = await createTestDatabase({ max: 2 });
  registerPoolGauges(t.database);
});
after(() => t.drop());

const pool = (state: string) => readMetric('glisk_db_pool_connections', { state });

describe('database pool gauges', () => {
  it('count connections held by transactions as in use, and a query without a connection as waiting', async () => {
    assert.equal(await readMetric('glisk_db_pool_max_connections'), 2);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const started: number[] = [];
    const transactions = [1, 2].map((n) =>
      t.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        started.push(n);
        await held;
      }),
    );
    await waitUntil(() => started.length === 2, { what: 'both transactions hold a connection' });
    assert.equal(await pool('in_use'), 2);
    assert.equal(await pool('waiting'), 0);

    const third = t.sql<{ one: number }[]>`select 1 as one`.then((rows) => rows[0]?.one);
    await waitUntil(async () => (await pool('waiting')) === 1, { what: 'the third query waits' });
    assert.equal(await pool('in_use'), 2);

    release();
    await within(Promise.all(transactions), 10_000, 'the transactions commit');
    assert.equal(await within(third, 10_000, 'the waiting query runs'), 1);
    await waitUntil(async () => (await pool('in_use')) === 0 && (await pool('waiting')) === 0, {
      what: 'the pool is idle again',
    });
    assert.equal(await pool('idle'), 2);
  });
});

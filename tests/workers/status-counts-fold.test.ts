// token_status_counts is folded on a timer, with no /metrics scrape: by the service's background workers (the
// list main starts) and by `npm run worker`. Several processes folding while tokens move keep the counts exact.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/run.js';
import { main as workerMain } from '../../src/cli/worker.js';
import { loadConfig } from '../../src/config.js';
import { createDatabase } from '../../src/db/client.js';
import { startWorkers, workerFactories } from '../../src/workers/index.js';
import { statusCountsFoldWorker } from '../../src/workers/status-counts-fold.worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { captureLogs } from '../helpers/logs.js';
import { waitUntil } from '../helpers/wait.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(() => t.drop());
beforeEach(async () => {
  await t.sql`truncate tokens_s0, authors, mint_events cascade`;
  await t.sql`delete from token_status_counts`;
});

const rowCount = async () => Number((await t.sql`select count(*)::int as n from token_status_counts`)[0]?.n);

/** Per status, the counts' sum and the real count (statuses absent from both left out). */
async function countsAndTruth(): Promise<{ counted: Record<string, number>; real: Record<string, number> }> {
  const counted = await t.sql<{ status: string; n: number }[]>`
    select status, sum(count)::int as n from token_status_counts group by status having sum(count) <> 0`;
  const real = await t.sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from tokens_s0 group by status`;
  const byStatus = (rows: readonly { status: string; n: number }[]): Record<string, number> =>
    Object.fromEntries(rows.map((r): [string, number] => [r.status, r.n]).sort());
  return { counted: byStatus(counted), real: byStatus(real) };
}

/** 20 tokens moved one statement at a time: about 60 appended rows. */
async function moveTokensOneByOne(): Promise<void> {
  const author = await insertAuthor(t.db, 1);
  const tokens = await insertTokens(
    t.db,
    author,
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  for (const token of tokens) {
    await t.sql`update tokens_s0 set status = 'generating' where id = ${token.id}`;
    await t.sql`update tokens_s0 set status = 'failed',
      error_data = '{"code":"X","message":"x"}'::jsonb where id = ${token.id}`;
  }
}

const config = () => loadConfig({ APP_ENV: 'test', STATUS_COUNTS_FOLD_SECONDS: '0.05' });

describe('token_status_counts folded on a timer', { timeout: 60_000 }, () => {
  it("the service's background workers fold it, without any scrape", async () => {
    await moveTokensOneByOne();
    assert.ok((await rowCount()) >= 40, 'the moves appended rows');
    const deps = { config: config(), logger: captureLogs().logger, database: t.database };
    // The list main starts (startWorkers' default); with no chain configured only the fold runs.
    const workers = startWorkers(deps, workerFactories);
    try {
      assert.deepEqual(workers.names, ['status-counts-fold']);
      await waitUntil(async () => (await rowCount()) <= 1, { what: 'the rows folded into one per status' });
    } finally {
      await workers.stop(5_000);
    }
    const { counted, real } = await countsAndTruth();
    assert.deepEqual(counted, { failed: 20 });
    assert.deepEqual(counted, real);
  });

  it('`npm run worker` folds it too', async () => {
    await moveTokensOneByOne();
    let out = '';
    const io: CliIo = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (out += text) },
      env: {
        APP_ENV: 'test',
        DATABASE_URL: t.url,
        MIGRATE_ON_START: 'false',
        LOG_FORMAT: 'json',
        STATUS_COUNTS_FOLD_SECONDS: '0.05',
        // The image stage has nothing to claim: every token is failed.
        POLL_INTERVAL_SECONDS: '60',
      },
    };
    const stop = new AbortController();
    const running = workerMain(['--stages', 'image'], io, { signal: stop.signal });
    try {
      await waitUntil(async () => (await rowCount()) <= 1, {
        what: 'the worker folded the rows',
      });
    } finally {
      stop.abort();
      assert.equal(await running, 0, out);
    }
    assert.deepEqual((await countsAndTruth()).counted, { failed: 20 });
  });

  it('three processes folding while tokens move: the counts stay exact', async () => {
    const author = await insertAuthor(t.db, 1);
    const tokens = await insertTokens(
      t.db,
      author,
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    const pools = [0, 1, 2].map(() => createDatabase(t.url, { max: 2 }));
    const folders = pools.map((database) =>
      startWorkers({ config: config(), logger: captureLogs().logger, database }, [statusCountsFoldWorker]),
    );
    try {
      // Concurrent writers, each moving its tokens through the statuses one statement at a time.
      await Promise.all(
        [0, 1, 2].map(async (lane) => {
          for (const token of tokens.filter((_, i) => i % 3 === lane)) {
            for (const status of ['generating', 'uploading']) {
              await t.sql`update tokens_s0 set status = ${status} where id = ${token.id}`;
            }
          }
        }),
      );
      await waitUntil(async () => (await rowCount()) <= 1, { what: 'the rows folded into one per status' });
    } finally {
      await Promise.all(folders.map((f) => f.stop(5_000)));
      await Promise.all(pools.map((p) => p.close(2)));
    }
    const { counted, real } = await countsAndTruth();
    assert.deepEqual(counted, { uploading: 60 });
    assert.deepEqual(counted, real);
  });
});

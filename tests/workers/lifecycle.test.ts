// startWorkers as main uses it: workers run at start and on their interval, survive failing passes with a
// bounded backoff, and stop() aborts them and waits for the pass in flight (bounded).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { startWorkers } from '../../src/workers/index.js';
import type { Worker } from '../../src/workers/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureLogs, type LogCapture } from '../helpers/logs.js';
import { waitUntil } from '../helpers/wait.js';

let testDb: TestDatabase;
let logs: LogCapture;
let deps: Deps;
before(async () => {
  testDb = await createTestDatabase();
  logs = captureLogs();
  deps = { config: loadConfig({ APP_ENV: 'test' }), logger: logs.logger, database: testDb.database };
});
after(() => testDb.drop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('startWorkers', () => {
  it('runs each worker at start, then every interval, and not after stop()', async () => {
    let passes = 0;
    const worker: Worker = {
      name: 'counter',
      intervalMs: 20,
      run: async () => {
        passes += 1;
        // A real pass touches the database it was given.
        await deps.database.sql`select 1`;
      },
    };
    const running = startWorkers(deps, [() => worker]);
    assert.deepEqual(running.names, ['counter']);
    await waitUntil(() => passes >= 1);
    await waitUntil(() => passes >= 4);
    assert.deepEqual(await running.stop(1_000), { forced: false });
    const atStop = passes;
    await sleep(80);
    assert.equal(passes, atStop, 'no pass after stop()');
    assert.ok(logs.lines.some((l) => l.message === 'worker.stopped'));
  });

  it('stop() aborts the signal of the pass in flight and waits for it to return', async () => {
    let inPass = false;
    let sawAbort = false;
    let finished = false;
    const worker: Worker = {
      name: 'long-pass',
      intervalMs: 1_000,
      run: async (signal) => {
        inPass = true;
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        sawAbort = signal.aborted;
        await sleep(50); // cleanup after the abort, e.g. committing a checkpoint
        finished = true;
      },
    };
    const running = startWorkers(deps, [() => worker]);
    await waitUntil(() => inPass);
    const result = await running.stop(2_000);
    assert.deepEqual(result, { forced: false });
    assert.equal(sawAbort, true);
    assert.equal(finished, true, 'stop() resolved only after the pass returned');
  });

  it('a failing pass is logged with its error and retried; the worker recovers', async () => {
    let passes = 0;
    const worker: Worker = {
      name: 'flaky',
      intervalMs: 20,
      run: () => {
        passes += 1;
        if (passes <= 2) return Promise.reject(new Error(`rpc down (pass ${passes})`));
        return Promise.resolve();
      },
    };
    const running = startWorkers(deps, [() => worker]);
    await waitUntil(() => passes >= 4);
    await running.stop(1_000);
    const failed = logs.lines.filter((l) => l.message === 'worker.failed' && l.worker === 'flaky');
    assert.equal(failed.length, 2);
    assert.deepEqual(
      failed.map((l) => l.failures),
      [1, 2],
    );
    assert.match(JSON.stringify(failed[0]?.error), /rpc down \(pass 1\)/);
    assert.ok(logs.lines.some((l) => l.message === 'worker.recovered' && l.afterFailures === 2));
  });

  it('runAtStart: false waits one interval before the first pass', async () => {
    let passes = 0;
    const worker: Worker = {
      name: 'later',
      intervalMs: 150,
      runAtStart: false,
      run: () => {
        passes += 1;
        return Promise.resolve();
      },
    };
    const running = startWorkers(deps, [() => worker]);
    await sleep(60);
    assert.equal(passes, 0);
    await waitUntil(() => passes === 1);
    await running.stop(1_000);
  });

  it('a pass that ignores its signal makes stop() give up after the timeout, reporting forced', async () => {
    let release = () => {};
    const stuck = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inPass = false;
    const worker: Worker = {
      name: 'stuck',
      intervalMs: 1_000,
      run: async () => {
        inPass = true;
        await stuck;
      },
    };
    const running = startWorkers(deps, [() => worker]);
    await waitUntil(() => inPass);
    const started = performance.now();
    assert.deepEqual(await running.stop(100), { forced: true });
    assert.ok(performance.now() - started < 1_000);
    assert.ok(logs.lines.some((l) => l.message === 'worker.stop_timed_out'));
    assert.deepEqual(await running.stop(100), { forced: true }, 'stop() is idempotent');
    release();
  });

  it('skips factories that return undefined (turned off by config) and refuses duplicate names', async () => {
    const worker: Worker = { name: 'twin', intervalMs: 1_000, run: () => Promise.resolve() };
    const running = startWorkers(deps, [() => undefined, () => worker]);
    assert.deepEqual(running.names, ['twin']);
    await running.stop(1_000);
    assert.throws(() => startWorkers(deps, [() => worker, () => worker]), /two workers are named twin/);
    assert.throws(
      () => startWorkers(deps, [() => ({ ...worker, name: 'zero', intervalMs: 0 })]),
      /intervalMs must be > 0/,
    );
  });
});

// `npm run worker` in-process: its help, its argument errors, and a run stopped as SIGTERM would stop it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/run.js';
import { main } from '../../src/cli/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

function io(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    env: { APP_ENV: 'test', ...env },
    out: () => out,
    err: () => err,
  };
}

describe('npm run worker', { timeout: 60_000 }, () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.drop());

  it('--help prints the usage and exits 0', async () => {
    const cli = io();
    assert.equal(await main(['--help'], cli), 0);
    assert.match(cli.out(), /^Usage: npm run worker -- \[--stages/);
    assert.match(cli.out(), /SIGTERM/);
  });

  it('refuses unknown stages and options with exit 1 and a hint', async () => {
    for (const argv of [['--stages', 'paint'], ['--stages', ''], ['--bogus']]) {
      const cli = io();
      assert.equal(await main(argv, cli), 1, argv.join(' '));
      assert.match(cli.err(), /^worker failed: .*\(see --help\)\n$/);
    }
  });

  it('runs the image stage until stopped, then exits 0 with its leases released', async () => {
    const cli = io({ DATABASE_URL: t.url, MIGRATE_ON_START: 'false', LOG_FORMAT: 'json' });
    const stop = new AbortController();
    const running = main(['--stages', 'image'], cli, { signal: stop.signal });
    const deadline = Date.now() + 30_000;
    while (!cli.out().includes('worker.started')) {
      if (Date.now() > deadline) throw new Error(`never started: ${cli.out()} ${cli.err()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop.abort();
    assert.equal(await running, 0, cli.err());
    assert.match(cli.out(), /worker\.stopped/);
  });

  it('serves its own /metrics on METRICS_PORT, labelled by instance, until it stops', async () => {
    const cli = io({
      DATABASE_URL: t.url,
      MIGRATE_ON_START: 'false',
      LOG_FORMAT: 'json',
      HOST: '127.0.0.1',
      METRICS_INSTANCE: 'worker-test-7',
    });
    const stop = new AbortController();
    const running = main(['--stages', 'image'], cli, { signal: stop.signal });
    const deadline = Date.now() + 30_000;
    let metricsUrl: string | undefined;
    while (metricsUrl === undefined) {
      if (Date.now() > deadline) throw new Error(`never started: ${cli.out()} ${cli.err()}`);
      metricsUrl = /"metricsUrl":"([^"]+)"/.exec(cli.out())?.[1];
      if (metricsUrl === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    try {
      assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(metricsUrl);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(text, /^glisk_stage_claimed_total\{stage="image",glisk_instance="worker-test-7"\} \d+$/m);
      assert.match(text, /^glisk_db_pool_max_connections\{glisk_instance="worker-test-7"\} \d+$/m);
      assert.equal((await fetch(metricsUrl.replace(/\/metrics$/, '/api/tokens'))).status, 404);
    } finally {
      stop.abort();
    }
    assert.equal(await running, 0, cli.err());
    await assert.rejects(fetch(metricsUrl), 'the listener is closed with the worker');
  });
});

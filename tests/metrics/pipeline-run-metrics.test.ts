// After a run of the local pipeline (the real image and IPFS stages with the local providers, started by
// startPipeline as npm start does), GET /metrics carries what happened: per-stage claims and completions,
// provider calls, and the token gauges read from PostgreSQL. The text is read with a Prometheus parser.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { loadConfig } from '../../src/config.js';
import { startPipeline } from '../../src/workers/pipeline.js';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';
import { metricDeltas } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

describe('metrics after a run of the local pipeline', { timeout: 120_000 }, () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { METRICS_REFRESH_SECONDS: '0.05' } });
  });
  after(() => app.close());

  it('counts each stage and provider call, and the gauges follow the tokens', async () => {
    const delta = await metricDeltas({
      imageClaimed: ['glisk_stage_claimed_total', { stage: 'image' }],
      imageCompleted: ['glisk_stage_completed_total', { stage: 'image' }],
      ipfsClaimed: ['glisk_stage_claimed_total', { stage: 'ipfs' }],
      ipfsCompleted: ['glisk_stage_completed_total', { stage: 'ipfs' }],
      imageDurations: ['glisk_stage_duration_seconds', { stage: 'image', outcome: 'ok' }],
      generated: [
        'glisk_provider_request_duration_seconds',
        { provider: 'local', operation: 'generate', outcome: 'ok' },
      ],
    });
    const author = await insertAuthor(app.testDb.db, 1);
    await insertTokens(app.testDb.db, author, [1, 2, 3]);
    const config = loadConfig({ APP_ENV: 'test', IMAGE_PROVIDER: 'local', IPFS_PROVIDER: 'local' });
    const pipeline = await startPipeline(
      { config, logger: captureLogs([], 'warn').logger, database: app.testDb.database },
      { stages: ['image', 'ipfs'], listenUrl: app.testDb.url },
    );
    try {
      await waitUntil(
        async () => (await app.testDb.sql`select 1 from tokens_s0 where status = 'ready'`).length === 3,
        { what: 'three tokens ready', timeoutMs: 60_000 },
      );
    } finally {
      await pipeline.stop(10_000);
    }
    assert.deepEqual(await delta(), {
      imageClaimed: 3,
      imageCompleted: 3,
      ipfsClaimed: 3,
      ipfsCompleted: 3,
      imageDurations: 3,
      generated: 3,
    });

    // The scrape: the same counters in the text, and the token gauges from PostgreSQL (refreshed in the
    // background: a later scrape shows the three tokens ready).
    let text = '';
    await waitUntil(
      async () => {
        text = await (await fetch(`${app.url}/metrics`)).text();
        return /^glisk_tokens\{[^}]*status="ready"[^}]*\} 3$/m.test(text);
      },
      { what: 'glisk_tokens{status="ready"} 3 in a scrape' },
    );
    const names = new Set(parsePrometheusTextFormat(text).map((family) => family.name));
    for (const name of [
      'glisk_stage_claimed_total',
      'glisk_stage_completed_total',
      'glisk_stage_in_flight',
      'glisk_stage_duration_seconds',
      'glisk_provider_request_duration_seconds',
      'glisk_tokens',
    ]) {
      assert.ok(names.has(name), `${name} parses`);
    }
    assert.match(text, /^glisk_tokens\{[^}]*status="detected"[^}]*\} 0$/m);
    assert.match(text, /^glisk_stage_waiting_tokens\{[^}]*stage="reveal"[^}]*\} 3$/m);
    assert.match(text, /^glisk_stage_in_flight\{[^}]*stage="image"[^}]*\} 0$/m);
  });
});

// GET /metrics: Prometheus text that a Prometheus parser reads, HTTP requests by route template, token gauges
// read from PostgreSQL (cached, never per scrape), bounded labels, and the optional bearer token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat, { type ParsedMetric } from 'parse-prometheus-text-format';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

type Sample = { name: string; labels: Record<string, string>; value: number };

// parse-prometheus-text-format (a port of client_python's parser) checks the text format and the metric
// families; it merges a labelled histogram's series into one, so series are read from the sample lines too.
async function scrape(url: string, headers: Record<string, string> = {}): Promise<Family[]> {
  const res = await fetch(`${url}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = parsePrometheusTextFormat(text);
  return families.map((family) => ({ ...family, samples: samplesOf(text, family.name) }));
}

function samplesOf(text: string, family: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match?.[1] || !match[3]) continue;
    const name = match[1];
    if (name !== family && !['_bucket', '_sum', '_count'].some((s) => name === family + s)) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ''] = pair[2] ?? '';
    }
    samples.push({ name, labels, value: Number(match[3]) });
  }
  return samples;
}

type Family = ParsedMetric & { samples: Sample[] };

function metric(metrics: Family[], name: string): Family {
  const found = metrics.find((m) => m.name === name);
  assert.ok(found, `${name} is exported`);
  return found;
}

function valueOf(metrics: Family[], name: string, labels: Record<string, string>): number {
  const series = metric(metrics, name).samples.find((s) =>
    Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  assert.ok(series, `${name}${JSON.stringify(labels)} is exported`);
  return series.value;
}

describe('GET /metrics', () => {
  let app: TestApp;
  before(async () => {
    // A long refresh interval: the second scrape must come from the cached snapshot.
    app = await startTestApp({ env: { METRICS_REFRESH_SECONDS: '3600', METRICS_INSTANCE: 'test-1' } });
    const author = await insertAuthor(app.testDb.db, 1);
    await insertTokens(app.testDb.db, author, [1, 2, 3]);
    await insertTokens(app.testDb.db, author, [4], { status: 'generating' });
  });
  after(() => app.close());

  it('parses, carries default metrics with the prefix, and labels every series with the instance', async () => {
    const metrics = await scrape(app.url);
    assert.ok(metrics.length > 10);
    for (const m of metrics) {
      assert.match(m.name, /^glisk_/, `${m.name} has the glisk_ prefix`);
      for (const sample of m.samples) assert.equal(sample.labels.glisk_instance, 'test-1', sample.name);
    }
    metric(metrics, 'glisk_process_cpu_user_seconds_total');
    // The pool gauges of the app's database (their values: tests/metrics/pool-gauges.test.ts).
    metric(metrics, 'glisk_db_pool_connections');
    metric(metrics, 'glisk_db_pool_max_connections');
  });

  it('counts tokens per status from PostgreSQL, and waiting tokens per stage', async () => {
    const metrics = await scrape(app.url);
    assert.equal(valueOf(metrics, 'glisk_tokens', { status: 'detected' }), 3);
    assert.equal(valueOf(metrics, 'glisk_tokens', { status: 'generating' }), 1);
    assert.equal(valueOf(metrics, 'glisk_tokens', { status: 'revealed' }), 0);
    assert.equal(valueOf(metrics, 'glisk_stage_waiting_tokens', { stage: 'image' }), 3);
    assert.ok(valueOf(metrics, 'glisk_stage_oldest_waiting_age_seconds', { stage: 'image' }) >= 0);
  });

  it('reads the gauges from a cached snapshot, not per scrape', async () => {
    const before = valueOf(await scrape(app.url), 'glisk_tokens', { status: 'detected' });
    const author = await insertAuthor(app.testDb.db, 2);
    await insertTokens(app.testDb.db, author, [10, 11]);
    assert.equal(valueOf(await scrape(app.url), 'glisk_tokens', { status: 'detected' }), before);
  });

  it('observes requests by route template and status, never by raw path', async () => {
    await fetch(`${app.url}/api/tokens/123456`);
    await fetch(`${app.url}/no/such/path/abc`);
    const histogram = metric(await scrape(app.url), 'glisk_http_request_duration_seconds');
    assert.equal(histogram.type, 'HISTOGRAM');
    const routes = new Set(histogram.samples.map((s) => s.labels.route));
    assert.ok(routes.has('/api/tokens/:tokenId'), `routes seen: ${[...routes].join(' | ')}`);
    assert.ok(routes.has('unmatched'));
    for (const route of routes) assert.doesNotMatch(route ?? '', /123456|abc/);
    const count = histogram.samples.find(
      (s) => s.name.endsWith('_count') && s.labels.route === '/api/tokens/:tokenId',
    );
    assert.equal(count?.labels.status_code, '404');
    assert.ok((count?.value ?? 0) >= 1);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let app: TestApp;
  const token = 'metrics-token-for-tests-0123456789';
  before(async () => {
    app = await startTestApp({ env: { METRICS_TOKEN: token } });
  });
  after(() => app.close());

  it('answers 401 without the token, with a wrong one, and with a prefix of it', async () => {
    for (const header of [undefined, 'Bearer wrong', `Bearer ${token.slice(0, -1)}`, `Basic ${token}`]) {
      const res = await fetch(`${app.url}/metrics`, { headers: header ? { authorization: header } : {} });
      assert.equal(res.status, 401, String(header));
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'METRICS_UNAUTHORIZED');
    }
  });

  it('answers 200 with the token', async () => {
    const metrics = await scrape(app.url, { authorization: `Bearer ${token}` });
    metric(metrics, 'glisk_tokens');
  });
});

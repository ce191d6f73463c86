// No label of any glisk_ series holds an unbounded value. The local pipeline runs whole in this process: tokens
// minted on a local chain go through the image stage (local provider), the IPFS stage (a fake Kubo that fails one
// upload: a provider error, a failed token, which an operator then retries over HTTP) and the reveal (real
// transactions, chain calls timed per JSON-RPC method); HTTP requests name token ids, wallets and CIDs in their
// paths. Then every label value of every glisk_ series in the scrape must be in its label's bounded set (stage
// names, statuses, error classes, providers, operations, route templates, outcomes...), and none may contain a
// token id, a wallet, a prompt, a CID or a transaction hash. A label this test does not know fails it: a new
// label must say here what bounds it.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { getHeapSpaceStatistics } from 'node:v8';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import * as viem from 'viem';
import { loadConfig } from '../../src/config.js';
import { IMAGE_PROVIDERS } from '../../src/config/image.js';
import { IPFS_PROVIDERS } from '../../src/config/ipfs.js';
import { TOKEN_STATUSES } from '../../src/db/schema.js';
import * as appErrors from '../../src/errors.js';
import { DASHBOARD_PATHS } from '../../src/http/dashboard.js';
import { DOCS_PATHS } from '../../src/http/docs.js';
import { METRICS_PATH } from '../../src/metrics/http-metrics.js';
import { REVEAL_GAUGE_STATES } from '../../src/metrics/reveal-gauges.js';
import { CHAIN_STATUS_SOURCES } from '../../src/domain/chain-status.js';
import { metricsRegistry } from '../../src/metrics/registry.js';
import * as authorsRepository from '../../src/repositories/authors.repository.js';
import { STAGE_NAMES } from '../../src/stage-names.js';
import { startPipeline } from '../../src/workers/pipeline.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { insertTokens } from '../helpers/db-fixtures.js';
import { startFakeKubo, type FakeIpfsService } from '../helpers/fake-ipfs.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';
import { waitUntil } from '../helpers/wait.js';

const KEY = 'metric-labels-admin-key-0123456789';
// Ids with no digit in common with a bucket bound (le="50", "60"), a status code or Node's version: a token id
// found in a label is a token id, not a coincidence.
const TOKEN_IDS = [53, 54, 55, 56, 57, 58];
const PROMPT = 'a lighthouse of woven kelp under a violet moon';

let chain: TestChain;
let kubo: FakeIpfsService;
let app: TestApp;

before(async () => {
  chain = await startTestChain();
  kubo = await startFakeKubo();
  app = await startTestApp({ env: { ADMIN_API_KEY: KEY, METRICS_REFRESH_SECONDS: '0.05' } });
});
after(async () => {
  await app?.close();
  await kubo?.close();
  await chain?.stop();
});

/** Every class name an error label may carry: this project's error classes, viem's, and JavaScript's own. */
function errorClassNames(): Set<string> {
  const names = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'AbortError', 'DOMException']);
  for (const module of [appErrors, viem]) {
    for (const [name, value] of Object.entries(module as Record<string, unknown>)) {
      if (typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof Error) {
        names.add(name);
      }
    }
  }
  // The stage runtime's classes of a failed attempt; errorClass() of a thrown non-Error is its typeof.
  for (const name of ['transient', 'permanent', 'settled', 'string', 'object', 'undefined']) names.add(name);
  return names;
}

/** The route templates the app serves (its OpenAPI paths, the docs, the dashboard, /metrics) and "unmatched". */
async function routeTemplates(): Promise<Set<string>> {
  const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as { paths: object };
  const express = Object.keys(document.paths).map((p) => p.replace(/\{(\w+)\}/g, ':$1'));
  return new Set([
    ...express,
    ...Object.keys(DOCS_PATHS),
    ...Object.keys(DASHBOARD_PATHS),
    METRICS_PATH,
    'unmatched',
  ]);
}

/** Every bucket bound of the registered histograms, as Prometheus writes them. */
function bucketBounds(): Set<string> {
  const bounds = new Set(['+Inf']);
  for (const metric of metricsRegistry().getMetricsAsArray()) {
    const upper = (metric as { upperBounds?: number[] }).upperBounds;
    for (const bound of upper ?? []) bounds.add(String(bound));
  }
  return bounds;
}

type Rule = ReadonlySet<string> | RegExp;

async function labelRules(): Promise<Record<string, Rule>> {
  const [major, minor, patch] = process.versions.node.split('.');
  return {
    glisk_instance: new Set([app.config.metrics.instance ?? `${hostname()}:${process.pid}`]),
    stage: new Set(STAGE_NAMES),
    status: new Set(TOKEN_STATUSES),
    error_class: errorClassNames(),
    outcome: new Set(['ok', 'error', 'retry', 'failed', 'confirmed', 'reverted', 'replaced']),
    provider: new Set([...IMAGE_PROVIDERS, ...IPFS_PROVIDERS, 'chain']),
    // Stage operations, and JSON-RPC method names (letters only: no id, address or hash fits).
    operation: /^(generate|pin_image|pin_metadata|other|(eth|net|web3|hardhat|evm|anvil)_[A-Za-z]+)$/,
    method: new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
    route: await routeTemplates(),
    status_code: /^[1-5]\d\d$/,
    // The pool's connection states; the reveal keepers' states and their reason codes (constants of the code).
    state: new Set(['in_use', 'idle', 'waiting', ...REVEAL_GAUGE_STATES]),
    code: /^(none|OTHER|[A-Z][A-Z0-9_]{1,63})$/,
    part: new Set(CHAIN_STATUS_SOURCES),
    via: new Set(['transaction', 'synced']),
    le: bucketBounds(),
    // Node's default metrics: the runtime's version, GC kinds, heap spaces, handle and resource types.
    version: new Set([process.version]),
    major: new Set([major ?? '']),
    minor: new Set([minor ?? '']),
    patch: new Set([patch ?? '']),
    kind: new Set(['major', 'minor', 'incremental', 'weakcb']),
    space: new Set(getHeapSpaceStatistics().map((s) => s.space_name.replace(/_space$/, ''))),
    type: /^[A-Za-z]+$/,
  };
}

/**
 * Every (family, label, value) of the scrape's series, read line by line from the text (the Prometheus parser
 * checks the format but drops a histogram's labels). Every family has the glisk_ prefix.
 */
function labelValues(text: string): { family: string; label: string; value: string }[] {
  assert.ok(parsePrometheusTextFormat(text).length > 0, 'the scrape parses');
  const found: { family: string; label: string; value: string }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(sample, `a sample line: ${line}`);
    const [, family = '', labels = ''] = sample;
    assert.ok(family.startsWith('glisk_'), `${family} has the glisk_ prefix`);
    let rest = labels;
    for (const pair of labels.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) {
      const [whole, label = '', raw = ''] = pair;
      found.push({ family, label, value: raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) });
      rest = rest.replace(whole, '');
    }
    assert.equal(rest, '', `every label of ${line} is read`);
  }
  return found;
}

describe('metric labels after a run of the local pipeline', { timeout: 180_000 }, () => {
  it('every label value is in its bounded set; none holds a token id, wallet, prompt, CID or hash', async () => {
    // Tokens 1..58 exist on chain; the database knows 53..58, minted by one wallet whose author has a prompt.
    const minter = chain.accounts.minters[0];
    assert.ok(minter);
    await chain.mint({ from: minter, author: minter.address, quantity: 50 });
    await chain.mint({ from: minter, author: minter.address, quantity: 8 });
    const wallet = minter.address.toLowerCase();
    const author = await authorsRepository.add(app.testDb.db, { walletAddress: wallet, promptText: PROMPT });
    await insertTokens(app.testDb.db, author, TOKEN_IDS);

    // The first upload fails (500) and MAX_ATTEMPTS_UPLOAD=1 fails its token for good.
    kubo.inject({ kind: 'status', status: 500, body: 'injected' });
    const config = loadConfig({
      APP_ENV: 'test',
      IMAGE_PROVIDER: 'local',
      IPFS_PROVIDER: 'kubo',
      KUBO_API_URL: kubo.url,
      MAX_ATTEMPTS_UPLOAD: '1',
      KEEPER_PRIVATE_KEY: chain.accounts.keeper.privateKey,
      RPC_URL: chain.rpcUrl,
      GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
      BATCH_REVEAL_WAIT_SECONDS: '0.05',
      POLL_INTERVAL_SECONDS: '0.05',
    });
    const pipeline = await startPipeline(
      { config, logger: captureLogs([], 'error').logger, database: app.database },
      { stages: ['image', 'ipfs', 'reveal'], listenUrl: app.testDb.url },
    );
    const statusCount = async (status: string) =>
      Number((await app.testDb.sql`select count(*)::int as n from tokens_s0 where status = ${status}`)[0]?.n);
    let failedTokenId: number;
    try {
      await waitUntil(async () => (await statusCount('failed')) === 1, {
        what: 'the token whose upload failed is failed',
        timeoutMs: 60_000,
      });
      const [failed] = await app.testDb.sql<{ token_id: number }[]>`
        select token_id from tokens_s0 where status = 'failed'`;
      assert.ok(failed);
      failedTokenId = failed.token_id;
      const retried = await fetch(`${app.url}/api/tokens/${failedTokenId}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
      });
      assert.equal(retried.status, 200);
      await waitUntil(async () => (await statusCount('revealed')) === TOKEN_IDS.length, {
        what: 'every token revealed',
        timeoutMs: 90_000,
      });
    } finally {
      await pipeline.stop(10_000);
    }

    // What the labels must never hold: everything this run made that is per token or per person.
    const cids = await app.testDb.sql<{ cid: string }[]>`
      select image_cid as cid from tokens_s0 union select metadata_cid from tokens_s0
      union select cid from ipfs_upload_records where cid is not null`;
    const hashes = await app.testDb.sql<{ hash: string }[]>`
      select tx_hash as hash from reveal_attempts where tx_hash is not null`;
    assert.ok(cids.length >= 2 * TOKEN_IDS.length && hashes.length >= 1);
    const unbounded = [
      ...cids.map((r) => r.cid.toLowerCase()),
      ...hashes.map((r) => r.hash.toLowerCase()),
      wallet,
      wallet.slice(2),
      chain.accounts.keeper.address.toLowerCase().slice(2),
      PROMPT.toLowerCase(),
    ];

    // Requests that name token ids, wallets and CIDs in their paths (and one that no route matches).
    const image = cids[0]?.cid ?? '';
    for (const path of [
      `/api/tokens/${TOKEN_IDS[0]}`,
      `/api/tokens/${failedTokenId}`,
      '/api/tokens/999999',
      '/api/tokens/57x',
      `/api/authors/${wallet}`,
      `/api/authors/${wallet}/tokens`,
      `/ipfs/${image}`,
      `/nothing/${TOKEN_IDS[1]}/${wallet}`,
      '/api/pipeline/overview',
      '/dashboard',
    ]) {
      const response = await fetch(`${app.url}${path}`);
      await response.arrayBuffer();
    }

    let text = '';
    await waitUntil(
      async () => {
        text = await (await fetch(`${app.url}/metrics`)).text();
        return /^glisk_tokens\{[^}]*status="revealed"[^}]*\} 6$/m.test(text);
      },
      { what: 'the token gauges after the run' },
    );

    const rules = await labelRules();
    const values = labelValues(text);
    // The run did reach every kind of label this test is about.
    for (const [label, value] of [
      ['stage', 'reveal'],
      ['provider', 'kubo'],
      ['provider', 'chain'],
      ['outcome', 'failed'],
      ['outcome', 'confirmed'],
      ['route', '/api/tokens/:tokenId'],
      ['route', '/api/authors/:wallet'],
      ['route', 'unmatched'],
    ] as const) {
      assert.ok(
        values.some((v) => v.label === label && v.value === value),
        `the scrape has ${label}="${value}"`,
      );
    }
    const problems: string[] = [];
    for (const { family, label, value } of values) {
      const rule = rules[label];
      const where = `${family}{${label}="${value}"}`;
      if (rule === undefined) problems.push(`${where}: label "${label}" has no known bound`);
      else if (rule instanceof RegExp ? !rule.test(value) : !rule.has(value)) {
        problems.push(`${where}: not in the bounded set of "${label}"`);
      }
      const lower = value.toLowerCase();
      for (const id of TOKEN_IDS) {
        if (new RegExp(`(^|\\D)${id}(\\D|$)`).test(value)) problems.push(`${where}: holds token id ${id}`);
      }
      for (const secret of unbounded) {
        if (lower.includes(secret)) problems.push(`${where}: holds "${secret}"`);
      }
    }
    assert.deepEqual([...new Set(problems)], []);
  });
});

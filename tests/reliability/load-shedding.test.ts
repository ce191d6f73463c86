// Load shedding (issue 13.5): beyond HTTP_MAX_IN_FLIGHT requests, the next one is answered 503 SERVER_BUSY with
// Retry-After at once; /health and /metrics are never refused, and /health has its own connection, so it answers
// 200 while every pool connection is held by API work.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { defineRoute } from '../../src/http/route.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { waitUntil, within } from '../helpers/wait.js';

const MAX_IN_FLIGHT = 4;
const POOL_SIZE = 2;

let entered = 0;
let holding = 0;
let release: () => void = () => {};
let gate = Promise.resolve();

// Each call takes a pool connection (a transaction that has run a query) and keeps it until the gate opens.
const holdRoute = defineRoute({
  method: 'get',
  path: '/test/hold',
  operationId: 'testHold',
  summary: 'holds a pool connection until the test releases it',
  tags: ['test'],
  responses: { 200: { description: 'released', schema: z.object({ held: z.literal(true) }) } },
}).handle(async ({ uow }) => {
  entered += 1;
  const { tx } = await uow();
  await tx.execute('select 1');
  holding += 1;
  await gate;
  return { status: 200, body: { held: true as const } };
});

describe('load shedding', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      extraRoutes: [holdRoute],
      env: {
        HTTP_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
        DB_POOL_SIZE: String(POOL_SIZE),
        // The requests queued for the pool must not time out while the test looks.
        DB_POOL_TIMEOUT_MS: '60000',
      },
    });
    // The first scrape reads its snapshot through the pool; later ones read the cached one.
    assert.equal((await fetch(`${app.url}/metrics`)).status, 200);
  });
  after(async () => {
    release();
    await app.close();
  });

  it('refuses the request over the bound with 503 SERVER_BUSY + Retry-After at once; /health still answers 200', async () => {
    gate = new Promise((resolve) => (release = resolve));
    const held = Array.from({ length: MAX_IN_FLIGHT }, () => fetch(`${app.url}/test/hold`));
    await waitUntil(() => entered === MAX_IN_FLIGHT && holding === POOL_SIZE, {
      what: `${MAX_IN_FLIGHT} requests in flight, ${POOL_SIZE} holding every pool connection`,
    });

    const refused = await within(fetch(`${app.url}/api/tokens`), 2_000, 'the refusal');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = (await refused.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'SERVER_BUSY');

    // The pool is exhausted and the bound reached: the probe has its own connection and is not counted.
    const health = await fetch(`${app.url}/health`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(health.status, 200, 'a health probe does not queue behind the held pool');
    assert.deepEqual(await health.json(), { status: 'healthy' });
    const metrics = await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(metrics.status, 200, '/metrics is not shed either');

    release();
    const answers = await within(Promise.all(held), 30_000, 'the held requests');
    assert.deepEqual(
      answers.map((res) => res.status),
      Array.from({ length: MAX_IN_FLIGHT }, () => 200),
    );
    // Every slot is free again once the answers are out.
    const after = await fetch(`${app.url}/api/tokens`);
    assert.equal(after.status, 200);
  });

  it('a slot is given back when the answer is an error too', async () => {
    for (let i = 0; i < MAX_IN_FLIGHT + 2; i += 1) {
      const res = await fetch(`${app.url}/api/tokens?limit=0`);
      assert.equal(res.status, 400);
      await res.arrayBuffer();
    }
    assert.equal((await fetch(`${app.url}/api/tokens`)).status, 200);
  });
});

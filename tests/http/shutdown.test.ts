// Graceful shutdown: requests in flight finish, new connections are refused, the timeout bounds the wait; and
// the real service process does the same on SIGTERM (exit 0), or exits at once on a second signal (exit 1).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { defineRoute, type Route } from '../../src/http/route.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { spawnService, startTcpProxy, startTestApp, type TcpProxy } from '../helpers/http.js';

let release = () => {};
let entered = false;
const slowRoutes: Route[] = [
  defineRoute({
    method: 'get',
    path: '/test/slow',
    operationId: 'testSlow',
    summary: 'answers when the test releases it',
    tags: ['test'],
    responses: { 200: { description: 'done', schema: z.object({ done: z.literal(true) }) } },
  }).handle(async () => {
    entered = true;
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    return { status: 200, body: { done: true } };
  }),
];

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function refused(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return false;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code === 'ECONNREFUSED';
  }
}

describe('server.close', () => {
  it('finishes the request in flight, refuses new connections, and resolves unforced', async () => {
    const app = await startTestApp({ extraRoutes: slowRoutes });
    try {
      entered = false;
      const inFlight = fetch(`${app.url}/test/slow`);
      await waitUntil(() => entered);

      const closed = app.server.close(5_000);
      assert.equal(await refused(`${app.url}/health`), true, 'a new connection is refused while draining');

      release();
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { done: true });
      assert.equal(res.headers.get('connection'), 'close');
      assert.deepEqual(await closed, { forced: false });
    } finally {
      release();
      await app.close();
    }
  });

  it('cuts what is still open when the timeout passes, and says so', async () => {
    const app = await startTestApp({ extraRoutes: slowRoutes });
    try {
      entered = false;
      const inFlight = fetch(`${app.url}/test/slow`).then(
        () => 'answered',
        () => 'cut',
      );
      await waitUntil(() => entered);
      const started = performance.now();
      assert.deepEqual(await app.server.close(200), { forced: true });
      assert.ok(performance.now() - started < 2_000);
      assert.equal(await inFlight, 'cut');
    } finally {
      release();
      await app.close();
    }
  });
});

describe('the service process on SIGTERM', () => {
  let testDb: TestDatabase;
  let proxy: TcpProxy;
  before(async () => {
    testDb = await createTestDatabase();
  });
  after(async () => {
    await testDb.drop();
  });

  /** Starts main against the test database through a proxy whose traffic the test can hold. */
  async function start() {
    proxy = await startTcpProxy(testDb.url);
    const service = spawnService({
      DATABASE_URL: proxy.urlFor(testDb.url),
      PORT: '0',
      HOST: '127.0.0.1',
      HEALTH_TIMEOUT_MS: '20000',
      SHUTDOWN_TIMEOUT_SECONDS: '15',
    });
    const listening = await service.waitForLog((l) => l.message === 'http.listening');
    return { service, url: String(listening.url) };
  }

  it('lets the request in flight finish, then exits 0', async () => {
    const { service, url } = await start();
    try {
      // Hold the database: /health's query is now in flight and stays there.
      proxy.pause();
      const inFlight = fetch(`${url}/health`);
      await new Promise((resolve) => setTimeout(resolve, 200));

      service.child.kill('SIGTERM');
      await service.waitForLog((l) => l.message === 'service.stopping');
      assert.equal(await refused(`${url}/health`), true, 'no new connections once stopping');

      proxy.resume();
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'healthy' });
      assert.equal(await service.exited, 0);
      assert.ok(service.stdout().includes('"service.stopped"'), service.stdout());
    } finally {
      await service.kill();
      await proxy.close();
    }
  });

  it('exits 1 at once on a second signal while still draining', async () => {
    const { service, url } = await start();
    try {
      proxy.pause();
      const inFlight = fetch(`${url}/health`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      service.child.kill('SIGTERM');
      await service.waitForLog((l) => l.message === 'service.stopping');
      // Past the window in which repeats count as the same Ctrl-C.
      await new Promise((resolve) => setTimeout(resolve, 700));
      const started = performance.now();
      service.child.kill('SIGTERM');
      assert.equal(await service.exited, 1);
      assert.ok(performance.now() - started < 2_000);
      assert.ok(service.stdout().includes('"service.forced_exit"'));
      await inFlight;
    } finally {
      proxy.resume();
      await service.kill();
      await proxy.close();
    }
  });
});

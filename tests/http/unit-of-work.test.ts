// The request's unit of work over real HTTP and a real database: commit before the answer, rollback on a
// throw, 500 when COMMIT itself fails, no connection for routes that do not ask, bounded pool waits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { ConflictError } from '../../src/errors.js';
import { defineRoute, type Route } from '../../src/http/route.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { closedPort, startTestApp, type TestApp } from '../helpers/http.js';
import { waitUntil, within } from '../helpers/wait.js';

const Probe = z.object({ id: z.int(), name: z.string(), key: z.int().optional() });

type Gate = { promise: Promise<void>; open: () => void };
function gate(): Gate {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

// What the hold route waits for, and how many requests currently hold a transaction.
let holdGate = gate();
let holding = 0;

const testRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/test/probes',
    operationId: 'testCreateProbe',
    summary: 'insert a probe row; name "throw" or "conflict" fails after the insert',
    tags: ['test'],
    body: { schema: Probe },
    responses: { 201: { description: 'created', schema: Probe } },
    errors: { 409: 'conflict' },
  }).handle(async ({ body, uow }) => {
    const { tx } = await uow();
    await tx.execute(
      sql`insert into uow_probe (id, name, key) values (${body.id}, ${body.name}, ${body.key ?? null})`,
    );
    if (body.name === 'throw') throw new Error('handler failed after its insert');
    if (body.name === 'conflict') throw new ConflictError('PROBE_CONFLICT', 'refused after the insert');
    return { status: 201, body };
  }),
  defineRoute({
    method: 'post',
    path: '/test/deferred',
    operationId: 'testDeferredViolation',
    summary: 'two rows with the same deferred-unique key: the statements pass, COMMIT fails',
    tags: ['test'],
    responses: { 200: { description: 'never answered', schema: z.object({ inserted: z.int() }) } },
  }).handle(async ({ uow }) => {
    const { tx } = await uow();
    await tx.execute(sql`insert into uow_probe (id, name, key) values (901, 'a', 7), (902, 'b', 7)`);
    return { status: 200, body: { inserted: 2 } };
  }),
  defineRoute({
    method: 'get',
    path: '/test/hold',
    operationId: 'testHoldTransaction',
    summary: 'opens the transaction and waits for the test to release it',
    tags: ['test'],
    responses: { 200: { description: 'released', schema: z.object({ backendPid: z.int() }) } },
  }).handle(async ({ uow }) => {
    const { tx } = await uow();
    const rows = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
    holding += 1;
    try {
      await holdGate.promise;
    } finally {
      holding -= 1;
    }
    return { status: 200, body: { backendPid: rows[0]?.pid ?? -1 } };
  }),
  defineRoute({
    method: 'get',
    path: '/test/no-db',
    operationId: 'testNoDatabase',
    summary: 'never touches the database',
    tags: ['test'],
    responses: { 200: { description: 'ok', schema: z.object({ ok: z.literal(true) }) } },
  }).handle(() => ({ status: 200, body: { ok: true } })),
];

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// Held by the test: a probe named 'slow-commit' makes COMMIT wait for it (deferred trigger, see before()).
const SLOW_COMMIT_LOCK = 4_711_001;

let testDb: TestDatabase;
before(async () => {
  testDb = await createTestDatabase();
  await testDb.sql`create table uow_probe (
    id int primary key,
    name text not null,
    key int,
    constraint uow_probe_key unique (key) deferrable initially deferred
  )`;
  // Runs at COMMIT, not at the INSERT: a COMMIT that the test can hold for as long as it likes.
  await testDb.sql.unsafe(`
    create function uow_probe_slow_commit() returns trigger language plpgsql as $$
    begin
      if new.name = 'slow-commit' then perform pg_advisory_xact_lock(${SLOW_COMMIT_LOCK}); end if;
      return null;
    end $$;
    create constraint trigger uow_probe_slow_commit after insert on uow_probe
      deferrable initially deferred for each row execute function uow_probe_slow_commit();`);
});
after(() => testDb.drop());

async function probeCount(): Promise<number> {
  const [row] = await testDb.sql<[{ n: number }]>`select count(*)::int as n from uow_probe`;
  return row?.n ?? -1;
}

describe('request unit of work', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ testDb, extraRoutes: testRoutes, env: { LOG_LEVEL: 'debug' } });
  });
  after(() => app.close());

  it('commits before answering: the answer waits for a slow COMMIT, and the row is visible when it arrives', async () => {
    const holder = await testDb.sql.reserve();
    await holder`select pg_advisory_lock(${SLOW_COMMIT_LOCK})`;
    let answered = false;
    const response = post(`${app.url}/test/probes`, { id: 1, name: 'slow-commit' }).then((res) => {
      answered = true;
      return res;
    });
    try {
      await waitUntil(
        async () =>
          (
            await testDb.sql`
              select 1 from pg_stat_activity
              where datname = current_database() and application_name = 'glisk-backend'
                and wait_event = 'advisory'`
          ).length > 0,
        { what: "the request's COMMIT waiting for the test's lock" },
      );
      // An answer sent before the COMMIT would already be on its way: a round trip to the app lets it land.
      assert.equal((await fetch(`${app.url}/test/no-db`)).status, 200);
      assert.equal(answered, false, 'no answer while COMMIT is held');
    } finally {
      await holder`select pg_advisory_unlock(${SLOW_COMMIT_LOCK})`;
      holder.release();
    }
    const res = await response;
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { id: 1, name: 'slow-commit' });
    const [row] = await testDb.sql<[{ name: string }]>`select name from uow_probe where id = 1`;
    assert.equal(row?.name, 'slow-commit');
    const requestId = res.headers.get('x-request-id');
    assert.ok(
      app.logs.lines.some((l) => l.message === 'uow.committed' && l.requestId === requestId),
      'a debug line records the commit with the request id',
    );
  });

  it('rolls back when the handler throws: 500, nothing written', async () => {
    const before = await probeCount();
    const res = await post(`${app.url}/test/probes`, { id: 2, name: 'throw' });
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'INTERNAL_ERROR');
    assert.equal(await probeCount(), before);
    const requestId = res.headers.get('x-request-id');
    assert.ok(app.logs.lines.some((l) => l.message === 'uow.rolled_back' && l.requestId === requestId));
  });

  it('rolls back when the handler throws an AppError: its status, nothing written', async () => {
    const before = await probeCount();
    const res = await post(`${app.url}/test/probes`, { id: 3, name: 'conflict' });
    assert.equal(res.status, 409);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PROBE_CONFLICT');
    assert.equal(await probeCount(), before);
  });

  it('answers 500, never 2xx, when COMMIT fails (deferred unique constraint)', async () => {
    const before = await probeCount();
    const res = await fetch(`${app.url}/test/deferred`, { method: 'POST' });
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INTERNAL_ERROR');
    assert.doesNotMatch(body.error.message, /uow_probe|duplicate|constraint/i, 'no internals in the answer');
    assert.equal(await probeCount(), before);
    const logged = app.logs.lines.find(
      (l) => l.message === 'http.unhandled_error' && l.requestId === res.headers.get('x-request-id'),
    );
    assert.ok(logged, 'the failure is logged');
    assert.match(JSON.stringify(logged.error), /uow_probe_key/, 'with the database error and its stack');
  });

  it('a duplicate key the database refuses at the statement also rolls back the whole request', async () => {
    const res = await post(`${app.url}/test/probes`, { id: 1, name: 'again' });
    assert.equal(res.status, 500);
    const [row] = await testDb.sql<[{ name: string }]>`select name from uow_probe where id = 1`;
    assert.equal(row?.name, 'slow-commit');
  });
});

describe('connections', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      testDb,
      extraRoutes: testRoutes,
      // 1 s: the two holding requests must get their connections (opened on demand) within it on a loaded machine.
      env: { DB_POOL_SIZE: '2', DB_POOL_TIMEOUT_MS: '1000' },
    });
  });
  after(async () => {
    holdGate.open();
    await app.close();
  });

  async function appConnections(): Promise<number> {
    const [row] = await testDb.sql<[{ n: number }]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and application_name = 'glisk-backend'`;
    return row?.n ?? -1;
  }

  it('routes that never ask for the unit of work open no connection', async () => {
    for (let i = 0; i < 5; i += 1) {
      const res = await fetch(`${app.url}/test/no-db`);
      assert.equal(res.status, 200);
    }
    assert.equal(await appConnections(), 0);
  });

  it('a full pool answers 503 DB_POOL_EXHAUSTED after the bounded wait, and recovers', async () => {
    holdGate = gate();
    const held = [fetch(`${app.url}/test/hold`), fetch(`${app.url}/test/hold`)];
    await waitUntil(() => holding === 2, { what: 'two requests holding a transaction' });

    const started = performance.now();
    const refused = await fetch(`${app.url}/test/hold`);
    const waited = performance.now() - started;
    assert.equal(refused.status, 503);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'DB_POOL_EXHAUSTED');
    assert.match(body.error.message, /1000 ms/);
    // The bound is the behaviour: not before it (timers never fire early), and not unbounded (generous margin).
    assert.ok(waited >= 990 && waited < 15_000, `waited ${Math.round(waited)} ms for a 1000 ms bound`);

    // A route without the database still answers while the pool is full.
    assert.equal((await fetch(`${app.url}/test/no-db`)).status, 200);

    holdGate.open();
    const answers = await Promise.all(held);
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200],
    );
    // The abandoned request's late connection was handed back: the pool serves again, no transaction left open.
    const again = await post(`${app.url}/test/probes`, { id: 50, name: 'after' });
    assert.equal(again.status, 201);
    await waitUntil(() => holding === 0, { what: 'the held requests ending' });
    const [open] = await testDb.sql<[{ n: number }]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and application_name = 'glisk-backend' and state like 'idle in transaction%'`;
    assert.equal(open?.n, 0);
  });
});

describe('database unreachable', () => {
  let app: TestApp;
  before(async () => {
    const url = new URL(testDb.url);
    url.port = String(await closedPort());
    app = await startTestApp({ testDb, extraRoutes: testRoutes, databaseUrl: url.toString() });
  });
  after(() => app.close());

  it('answers 503 DATABASE_UNAVAILABLE with the envelope', async () => {
    const res = await within(post(`${app.url}/test/probes`, { id: 60, name: 'x' }), 10_000, 'the answer');
    assert.equal(res.status, 503);
    const body = (await res.json()) as { error: { code: string }; requestId: string };
    assert.equal(body.error.code, 'DATABASE_UNAVAILABLE');
    assert.equal(body.requestId, res.headers.get('x-request-id'));
  });
});

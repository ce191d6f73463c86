// Operator routes behind ADMIN_API_KEY: POST /api/tokens/{tokenId}/retry and GET /api/pipeline/stats. One
// database for the file; one app with the key and one without (503 ADMIN_NOT_CONFIGURED).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { TOKENS_CHANNEL } from '../../src/db/channels.js';
import type { Author, ErrorData } from '../../src/db/schema.js';
import * as imageJobs from '../../src/repositories/image-generation-jobs.repository.js';
import * as ipfsRecords from '../../src/repositories/ipfs-upload-records.repository.js';
import * as revealTransactions from '../../src/repositories/reveal-transactions.repository.js';
import { cidOf, insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { within } from '../helpers/wait.js';

const KEY = 'op-test-key-4Hq8ZtWm2Lr7Ks9Vd3Xn';

let testDb: TestDatabase;
let app: TestApp;
let unconfigured: TestApp;
let author: Author;

before(async () => {
  testDb = await createTestDatabase();
  [app, unconfigured] = await Promise.all([
    startTestApp({ testDb, env: { ADMIN_API_KEY: KEY } }),
    startTestApp({ testDb }),
  ]);
  author = await insertAuthor(testDb.db, 1);
});

after(async () => {
  await Promise.all([app?.close(), unconfigured?.close()]);
  await testDb?.drop();
});

beforeEach(async () => {
  await testDb.sql`truncate tokens_s0, reveal_transactions cascade`;
});

function call(
  target: TestApp,
  method: 'GET' | 'POST',
  path: string,
  // null: no Authorization header.
  authorization: string | null = `Bearer ${KEY}`,
): Promise<Response> {
  return fetch(`${target.url}${path}`, {
    method,
    headers: authorization === null ? {} : { authorization },
  });
}

function must<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing`);
  return value;
}

async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error: { code: string } };
  return body.error.code;
}

const failedIn = (stage: string, code = 'PROVIDER_DOWN'): ErrorData => ({
  stage,
  class: 'transient',
  code,
  message: 'the provider kept failing',
  attempts: 3,
  exhausted: true,
});

const ROUTES = [
  ['POST', '/api/tokens/7/retry'],
  ['GET', '/api/pipeline/stats'],
] as const;

describe('operator routes: access', () => {
  it('answer 503 ADMIN_NOT_CONFIGURED when ADMIN_API_KEY is unset, even with a key sent', async () => {
    for (const [method, path] of ROUTES) {
      for (const authorization of [null, `Bearer ${KEY}`, 'Bearer ']) {
        const res = await call(unconfigured, method, path, authorization);
        assert.equal(res.status, 503, `${method} ${path}`);
        assert.equal(await errorCode(res), 'ADMIN_NOT_CONFIGURED');
      }
    }
  });

  it('answer 401 without the key, with a wrong one, a prefix of it, or another scheme; nothing changes', async () => {
    const [token] = await insertTokens(testDb.db, author, [7], {
      status: 'failed',
      errorData: failedIn('image'),
    });
    const wrong = [
      null,
      'Bearer',
      'Bearer wrong-key',
      `Bearer ${KEY.slice(0, -1)}`,
      `Bearer ${KEY}x`,
      `Basic ${Buffer.from(`admin:${KEY}`).toString('base64')}`,
      KEY,
    ];
    for (const [method, path] of ROUTES) {
      for (const authorization of wrong) {
        const res = await call(app, method, path, authorization);
        assert.equal(res.status, 401, `${method} ${path} with ${authorization}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="operator"');
        assert.equal(await errorCode(res), 'ADMIN_UNAUTHORIZED');
      }
    }
    const [row] = await testDb.sql<
      { status: string }[]
    >`select status from tokens_s0 where id = ${must(token, 'token').id}`;
    assert.equal(row?.status, 'failed');
  });

  it('checks the key before the inputs (an invalid token id without the key is 401, not 400)', async () => {
    const res = await call(app, 'POST', '/api/tokens/0/retry', null);
    assert.equal(res.status, 401);
  });

  it('accepts the scheme name in any case', async () => {
    const res = await call(app, 'GET', '/api/pipeline/stats', `bearer ${KEY}`);
    assert.equal(res.status, 200);
  });

  it('are in the OpenAPI document with the bearer scheme and their errors', async () => {
    const doc = (await (await fetch(`${app.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
      components: { securitySchemes?: Record<string, unknown> };
    };
    assert.deepEqual(doc.components.securitySchemes?.adminApiKey, {
      type: 'http',
      scheme: 'bearer',
      description: 'Operator routes: `Authorization: Bearer <ADMIN_API_KEY>`.',
    });
    const retry = doc.paths['/api/tokens/{tokenId}/retry']?.post;
    const stats = doc.paths['/api/pipeline/stats']?.get;
    for (const [operation, statuses] of [
      [retry, ['200', '400', '401', '404', '409', '503']],
      [stats, ['200', '401', '503']],
    ] as const) {
      assert.ok(operation);
      assert.deepEqual(operation.security, [{ adminApiKey: [] }]);
      for (const status of statuses) assert.ok(operation.responses[status], status);
    }
    assert.equal(doc.paths['/api/tokens/{tokenId}']?.get?.security, undefined, 'public routes stay open');
  });
});

describe('POST /api/tokens/{tokenId}/retry', () => {
  it('sends a token failed in ipfs back to uploading: upload attempts reset, the rest kept, workers woken', async () => {
    const [token] = await insertTokens(testDb.db, author, [7], {
      status: 'failed',
      errorData: failedIn('ipfs'),
      imageCid: cidOf(7),
      generationAttempts: 2,
      uploadAttempts: 5,
      nextAttemptAt: new Date(Date.now() + 3_600_000),
    });
    let wake: (payload: string) => void = () => {};
    const notified = new Promise<string>((resolve) => (wake = resolve));
    const listening = await testDb.sql.listen(TOKENS_CHANNEL, (payload) => {
      if (payload === 'uploading') wake(payload);
    });
    const res = await call(app, 'POST', '/api/tokens/7/retry');
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      tokenId: number;
      status: string;
      imageCid: string;
      attempts: { generation: number; upload: number; reveal: number };
      lastError: unknown;
    };
    assert.equal(body.tokenId, 7);
    assert.equal(body.status, 'uploading');
    assert.equal(body.imageCid, cidOf(7));
    assert.deepEqual(body.attempts, { generation: 2, upload: 0, reveal: 0 });
    assert.equal(body.lastError, null);
    const [row] = await testDb.sql<{ status: string; due: boolean; lease: string | null }[]>`
      select status, next_attempt_at <= now() as due, lease_owner as lease from tokens_s0 where id = ${must(token, 'token').id}`;
    assert.deepEqual(row, { status: 'uploading', due: true, lease: null });
    assert.equal(await within(notified, 5_000, 'NOTIFY uploading'), 'uploading');
    await listening.unlisten();
    assert.equal((await app.logs.waitFor('token.retried')).tokenId, 7);
  });

  it('sends a token failed in image (or naming no stage) back to detected with its generation attempts reset', async () => {
    await insertTokens(testDb.db, author, [8], {
      status: 'failed',
      errorData: failedIn('image'),
      generationAttempts: 3,
    });
    await insertTokens(testDb.db, author, [9], {
      status: 'failed',
      errorData: { code: 'LEGACY', message: 'failed before stages were recorded' },
      generationAttempts: 1,
    });
    for (const tokenId of [8, 9]) {
      const res = await call(app, 'POST', `/api/tokens/${tokenId}/retry`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { status: string; attempts: { generation: number } };
      assert.equal(body.status, 'detected');
      assert.equal(body.attempts.generation, 0);
    }
  });

  it('answers 409 INVALID_STATE_TRANSITION for a token that is not failed, and changes nothing', async () => {
    for (const [tokenId, status] of [
      [10, 'detected'],
      [11, 'generating'],
      [12, 'uploading'],
      [13, 'revealed'],
    ] as const) {
      await insertTokens(testDb.db, author, [tokenId], {
        status,
        generationAttempts: 2,
        ...(status === 'uploading' || status === 'revealed' ? { imageCid: cidOf(tokenId) } : {}),
        ...(status === 'revealed'
          ? { metadataCid: cidOf(tokenId + 100), revealedAt: new Date(), readyAt: new Date() }
          : {}),
      });
      const res = await call(app, 'POST', `/api/tokens/${tokenId}/retry`);
      assert.equal(res.status, 409, status);
      const body = (await res.json()) as { error: { code: string; details: { from: string } } };
      assert.equal(body.error.code, 'INVALID_STATE_TRANSITION');
      assert.equal(body.error.details.from, status);
      const [row] = await testDb.sql<{ status: string; attempts: number }[]>`
        select status, generation_attempts as attempts from tokens_s0 where token_id = ${tokenId}`;
      assert.deepEqual(row, { status, attempts: 2 });
    }
  });

  it('answers 404 TOKEN_NOT_FOUND for an unknown token, 400 for an id outside the column', async () => {
    const missing = await call(app, 'POST', '/api/tokens/424242/retry');
    assert.equal(missing.status, 404);
    assert.equal(await errorCode(missing), 'TOKEN_NOT_FOUND');
    for (const bad of ['0', '-1', '2147483648', 'abc', '1.5']) {
      const res = await call(app, 'POST', `/api/tokens/${bad}/retry`);
      assert.equal(res.status, 400, bad);
      assert.equal(await errorCode(res), 'VALIDATION_ERROR');
    }
  });
});

type Stats = {
  statuses: { status: string; count: number; oldestWaitingSeconds: number | null; leasesHeld: number }[];
  stages: {
    stage: string;
    waitsIn: string;
    leasesHeld: number;
    lastHour: {
      attempts: number;
      completed: number;
      failed: number;
      running: number;
      failures: { errorClass: string; code: string; count: number }[];
    };
    completedLastMinute: number;
  }[];
};

async function stats(): Promise<Stats> {
  const res = await call(app, 'GET', '/api/pipeline/stats');
  assert.equal(res.status, 200);
  return (await res.json()) as Stats;
}

describe('GET /api/pipeline/stats', () => {
  it('answers zeros for an empty pipeline, every status and stage listed', async () => {
    const body = await stats();
    assert.deepEqual(
      body.statuses.map((s) => [s.status, s.count, s.oldestWaitingSeconds, s.leasesHeld]),
      ['detected', 'generating', 'uploading', 'ready', 'revealed', 'failed'].map((s) => [s, 0, null, 0]),
    );
    assert.deepEqual(
      body.stages.map((s) => [s.stage, s.waitsIn, s.leasesHeld, s.lastHour.attempts, s.completedLastMinute]),
      [
        ['image', 'detected', 0, 0, 0],
        ['ipfs', 'uploading', 0, 0, 0],
        ['reveal', 'ready', 0, 0, 0],
      ],
    );
  });

  it('counts statuses, the oldest waiting, leases, attempts and failures by class, and last-minute throughput', async () => {
    const hour = 3_600_000;
    const leased = { leaseOwner: 'worker-a', leaseExpiresAt: new Date(Date.now() + 60_000) };
    const detected = await insertTokens(testDb.db, author, [1, 2, 3]);
    await insertTokens(testDb.db, author, [4, 5], { status: 'generating', generationAttempts: 1, ...leased });
    // A generating token whose lease expired: its worker died; it waits to be claimed again.
    await insertTokens(testDb.db, author, [6], {
      status: 'generating',
      leaseOwner: 'worker-dead',
      leaseExpiresAt: new Date(Date.now() - 1_000),
    });
    const uploading = await insertTokens(testDb.db, author, [7, 8], {
      status: 'uploading',
      imageCid: cidOf(7),
    });
    await insertTokens(testDb.db, author, [9], { status: 'uploading', imageCid: cidOf(9), ...leased });
    await insertTokens(testDb.db, author, [10], {
      status: 'ready',
      imageCid: cidOf(10),
      metadataCid: cidOf(110),
      readyAt: new Date(),
    });
    const [revealed] = await insertTokens(testDb.db, author, [11], {
      status: 'revealed',
      imageCid: cidOf(11),
      metadataCid: cidOf(111),
      readyAt: new Date(),
      revealedAt: new Date(),
    });
    await insertTokens(testDb.db, author, [12], { status: 'failed', errorData: failedIn('image') });
    // Ages by updated_at: detected #1 waited 90 s, #2 30 s; the dead-lease generating token 40 s.
    await testDb.sql`update tokens_s0 set updated_at = now() - interval '90 seconds' where token_id = 1`;
    await testDb.sql`update tokens_s0 set updated_at = now() - interval '30 seconds' where token_id = 2`;
    await testDb.sql`update tokens_s0 set updated_at = now() - interval '40 seconds' where token_id = 6`;
    // Leased tokens older still do not count as waiting.
    await testDb.sql`update tokens_s0 set updated_at = now() - interval '500 seconds' where token_id in (4, 5, 9)`;

    // Image attempts: 2 completed (one in the last minute), 2 transient and 1 permanent failure, 1 running,
    // and one completed 2 hours ago (outside the hour).
    const t1 = must(detected[0], 'token 1').id;
    const job = (fields: Parameters<typeof imageJobs.add>[1]) => imageJobs.add(testDb.db, fields);
    await job({ tokenRowId: t1, service: 'local', status: 'completed', completedAt: new Date() });
    await job({
      tokenRowId: t1,
      service: 'local',
      status: 'completed',
      completedAt: new Date(Date.now() - 10 * 60_000),
      createdAt: new Date(Date.now() - 10 * 60_000),
    });
    for (const code of ['REPLICATE_RATE_LIMITED', 'REPLICATE_RATE_LIMITED']) {
      await job({
        tokenRowId: t1,
        service: 'replicate',
        status: 'failed',
        errorData: { code, message: '429', class: 'transient' },
      });
    }
    await job({
      tokenRowId: t1,
      service: 'replicate',
      status: 'failed',
      errorData: { code: 'REPLICATE_UNAUTHORIZED', message: '401', class: 'permanent' },
    });
    await job({ tokenRowId: t1, service: 'local', status: 'running' });
    await job({
      tokenRowId: t1,
      service: 'local',
      status: 'completed',
      createdAt: new Date(Date.now() - 2 * hour),
      completedAt: new Date(Date.now() - 2 * hour),
    });
    // IPFS: token 7 tried twice (first failed at the image upload, second completed both records).
    const u7 = must(uploading[0], 'token 7').id;
    await ipfsRecords.add(testDb.db, {
      tokenRowId: u7,
      recordType: 'image',
      status: 'failed',
      retryCount: 0,
      errorData: { code: 'IPFS_UNAVAILABLE', message: '503', class: 'transient' },
    });
    for (const recordType of ['image', 'metadata'] as const) {
      await ipfsRecords.add(testDb.db, {
        tokenRowId: u7,
        recordType,
        status: 'completed',
        cid: cidOf(recordType === 'image' ? 7 : 107),
        retryCount: 1,
        completedAt: new Date(),
      });
    }
    // Reveal: one confirmed batch.
    await revealTransactions.add(testDb.db, {
      tokenRowIds: [must(revealed, 'token 11').id],
      status: 'confirmed',
      txHash: `0x${'ab'.repeat(32)}`,
      confirmedAt: new Date(),
    });

    const body = await stats();
    const status = (s: string) =>
      must(
        body.statuses.find((x) => x.status === s),
        s,
      );
    assert.deepEqual(
      body.statuses.map((s) => [s.status, s.count, s.leasesHeld]),
      [
        ['detected', 3, 0],
        ['generating', 3, 2],
        ['uploading', 3, 1],
        ['ready', 1, 0],
        ['revealed', 1, 0],
        ['failed', 1, 0],
      ],
    );
    const near = (actual: number | null, expected: number) =>
      assert.ok(actual !== null && actual >= expected && actual < expected + 30, `${actual} ~ ${expected}`);
    near(status('detected').oldestWaitingSeconds, 90);
    near(status('generating').oldestWaitingSeconds, 40);
    near(status('uploading').oldestWaitingSeconds, 0);
    assert.equal(status('revealed').oldestWaitingSeconds, null);
    assert.notEqual(status('failed').oldestWaitingSeconds, null);

    const stage = (s: string) =>
      must(
        body.stages.find((x) => x.stage === s),
        s,
      );
    assert.deepEqual(stage('image').lastHour, {
      attempts: 6,
      completed: 2,
      failed: 3,
      running: 1,
      failures: [
        { errorClass: 'transient', code: 'REPLICATE_RATE_LIMITED', count: 2 },
        { errorClass: 'permanent', code: 'REPLICATE_UNAUTHORIZED', count: 1 },
      ],
    });
    assert.equal(stage('image').leasesHeld, 2);
    assert.equal(stage('image').completedLastMinute, 1);
    assert.deepEqual(stage('ipfs').lastHour, {
      attempts: 2,
      completed: 1,
      failed: 1,
      running: 0,
      failures: [{ errorClass: 'transient', code: 'IPFS_UNAVAILABLE', count: 1 }],
    });
    assert.equal(stage('ipfs').leasesHeld, 1);
    assert.equal(stage('ipfs').completedLastMinute, 1);
    assert.equal(stage('reveal').lastHour.attempts, 1);
    assert.equal(stage('reveal').lastHour.completed, 1);
    assert.equal(stage('reveal').completedLastMinute, 1);
  });
});

// The one error path over real HTTP: the envelope for 400/404/405/413/415/500, request ids, CORS, UTC.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { ServiceUnavailableError } from '../../src/errors.js';
import { defineRoute, type Route } from '../../src/http/route.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

type Envelope = { error: { code: string; message: string; details?: unknown }; requestId: string };

const Item = z.object({ name: z.string().min(1), quantity: z.int().min(1).max(50) });

const testRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/test/items/{itemId}',
    operationId: 'testPutItem',
    summary: 'validates path, query and body',
    tags: ['test'],
    params: z.object({ itemId: z.coerce.number().int().positive() }),
    query: z.object({ dryRun: z.enum(['true', 'false']).optional() }),
    body: { schema: Item },
    responses: {
      200: {
        description: 'echo',
        schema: z.object({ itemId: z.int(), item: Item, dryRun: z.boolean(), at: z.iso.datetime() }),
      },
    },
  }).handle(({ params, query, body }) => ({
    status: 200,
    body: {
      itemId: params.itemId,
      item: body,
      dryRun: query.dryRun === 'true',
      at: new Date('2026-03-01T12:00:00+05:00').toISOString(),
    },
  })),
  defineRoute({
    method: 'get',
    path: '/test/crash',
    operationId: 'testCrash',
    summary: 'throws an unexpected error whose message must not leak',
    tags: ['test'],
    responses: { 200: { description: 'never' } },
  }).handle(() => {
    throw new Error('connect to postgres://admin:hunter2@10.0.0.5/internal failed in /srv/app/secret.ts');
  }),
  defineRoute({
    method: 'get',
    path: '/test/unavailable',
    operationId: 'testUnavailable',
    summary: 'a known outage: 503 with its code',
    tags: ['test'],
    responses: { 200: { description: 'never' } },
  }).handle(() => {
    throw new ServiceUnavailableError('TEST_OUTAGE', 'The test dependency is down', undefined, 2);
  }),
  defineRoute({
    method: 'get',
    path: '/test/broken-contract',
    operationId: 'testBrokenContract',
    summary: 'answers a body that breaks its own schema',
    tags: ['test'],
    responses: { 200: { description: 'never', schema: z.object({ count: z.int() }) } },
  }).handle(() => ({ status: 200, body: { count: 'many' as unknown as number } })),
];

let app: TestApp;
before(async () => {
  app = await startTestApp({
    extraRoutes: testRoutes,
    env: { BODY_LIMIT: '1kb', CORS_ORIGINS: 'https://app.glisk.xyz,http://localhost:3000' },
  });
});
after(() => app.close());

async function envelope(res: Response, status: number, code: string): Promise<Envelope> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as Envelope;
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.requestId, res.headers.get('x-request-id'), 'the envelope carries the echoed request id');
  return body;
}

const json = { 'content-type': 'application/json' };

describe('error envelope', () => {
  it('valid input passes through every schema; timestamps are ISO 8601 UTC', async () => {
    const res = await fetch(`${app.url}/test/items/7?dryRun=true`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'x', quantity: 3, extra: 'dropped' }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      itemId: 7,
      item: { name: 'x', quantity: 3 },
      dryRun: true,
      at: '2026-03-01T07:00:00.000Z',
    });
  });

  it('404 for an unknown route', async () => {
    const body = await envelope(await fetch(`${app.url}/nope?x=1`), 404, 'ROUTE_NOT_FOUND');
    assert.match(body.error.message, /GET \/nope$/);
  });

  it('405 with Allow for a known path and another method', async () => {
    const res = await fetch(`${app.url}/health`, { method: 'DELETE' });
    await envelope(res, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    const post = await fetch(`${app.url}/test/items/1`, { method: 'GET' });
    await envelope(post, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(post.headers.get('allow'), 'POST');
    const docs = await fetch(`${app.url}/openapi.json`, { method: 'PUT' });
    await envelope(docs, 405, 'METHOD_NOT_ALLOWED');
  });

  it('400 lists every zod issue with its path (path, query and body)', async () => {
    const res = await fetch(`${app.url}/test/items/abc?dryRun=maybe`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: '', quantity: 51 }),
    });
    const body = await envelope(res, 400, 'VALIDATION_ERROR');
    // Path is checked first; its failure is what the request gets.
    assert.deepEqual(
      (body.error.details as Array<{ path: string }>).map((d) => d.path),
      ['path.itemId'],
    );

    const bodyIssues = await envelope(
      await fetch(`${app.url}/test/items/1`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ name: '', quantity: 51 }),
      }),
      400,
      'VALIDATION_ERROR',
    );
    const details = bodyIssues.error.details as Array<{ path: string; code: string; message: string }>;
    assert.deepEqual(details.map((d) => d.path).sort(), ['body.name', 'body.quantity']);
    assert.ok(details.every((d) => d.code.length > 0 && d.message.length > 0));
    assert.match(bodyIssues.error.message, /^Invalid request body: body\.\w+: .+ \(and 1 more\)$/);

    const queryIssues = await envelope(
      await fetch(`${app.url}/test/items/1?dryRun=maybe`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ name: 'a', quantity: 1 }),
      }),
      400,
      'VALIDATION_ERROR',
    );
    assert.deepEqual(
      (queryIssues.error.details as Array<{ path: string }>).map((d) => d.path),
      ['query.dryRun'],
    );
  });

  it('400 INVALID_PATH for a path parameter that is not valid percent-encoding', async () => {
    const res = await fetch(`${app.url}/test/items/%E0%A4%A`, { method: 'POST', headers: json, body: '{}' });
    const body = await envelope(res, 400, 'INVALID_PATH');
    assert.doesNotMatch(body.error.message, /%E0/);
  });

  it('400 INVALID_JSON for a body that is not JSON, or empty', async () => {
    await envelope(
      await fetch(`${app.url}/test/items/1`, { method: 'POST', headers: json, body: '{"name": "x",' }),
      400,
      'INVALID_JSON',
    );
    await envelope(
      await fetch(`${app.url}/test/items/1`, { method: 'POST', headers: json, body: '' }),
      400,
      'INVALID_JSON',
    );
  });

  it('413 for a body over BODY_LIMIT', async () => {
    const body = JSON.stringify({ name: 'x'.repeat(2_000), quantity: 1 });
    const answer = await envelope(
      await fetch(`${app.url}/test/items/1`, { method: 'POST', headers: json, body }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    assert.match(answer.error.message, /1024 bytes/);
  });

  it('415 for a body that is not JSON, compressed, or not UTF-8', async () => {
    const valid = JSON.stringify({ name: 'x', quantity: 1 });
    await envelope(
      await fetch(`${app.url}/test/items/1`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: valid,
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await envelope(
      await fetch(`${app.url}/test/items/1`, { method: 'POST', body: new Blob([valid]) }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await envelope(
      await fetch(`${app.url}/test/items/1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=latin1' },
        body: valid,
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await envelope(
      await fetch(`${app.url}/test/items/1`, {
        method: 'POST',
        headers: { ...json, 'content-encoding': 'gzip' },
        body: gzipSync(valid),
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('500 says nothing about internals; the log has the stack, with secrets redacted', async () => {
    const res = await fetch(`${app.url}/test/crash`);
    const body = await envelope(res, 500, 'INTERNAL_ERROR');
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /postgres|hunter2|10\.0\.0\.5|secret\.ts|stack/i);
    const logged = app.logs.lines.find(
      (l) => l.message === 'http.unhandled_error' && l.requestId === body.requestId,
    );
    assert.ok(logged, 'the error is logged with the request id');
    const error = logged.error as { stack?: string; message?: string };
    assert.match(error.stack ?? '', /errors\.test\.ts/, 'with its stack');
    assert.doesNotMatch(app.logs.text(), /hunter2/, 'the URL password is redacted in the log');
  });

  it('a typed 503 keeps its code and Retry-After; its log line is found by its event name', async () => {
    const res = await fetch(`${app.url}/test/unavailable`);
    assert.equal(res.headers.get('retry-after'), '2');
    const body = await envelope(res, 503, 'TEST_OUTAGE');
    const logged = app.logs.lines.find((l) => l.requestId === body.requestId && l.code === 'TEST_OUTAGE');
    assert.ok(logged, 'the service error is logged');
    assert.equal(
      logged.message,
      'http.service_error',
      'the answer message does not overwrite the event name',
    );
    assert.equal(logged.detail, 'The test dependency is down');
  });

  it('an answer that breaks its own schema is a 500, not a surprise for the client', async () => {
    await envelope(await fetch(`${app.url}/test/broken-contract`), 500, 'INTERNAL_ERROR');
  });

  it('one log line per request with method, path, status, duration and request id', async () => {
    const res = await fetch(`${app.url}/nope?token=abc`);
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    const line = app.logs.lines.find((l) => l.message === 'http.request' && l.requestId === id);
    assert.ok(line);
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/nope', 'no query string in the log');
    assert.equal(line.status, 404);
    assert.equal(typeof line.durationMs, 'number');
    assert.match(String(line.timestamp), /Z$/);
  });
});

describe('X-Request-Id', () => {
  it('echoes a well-formed id', async () => {
    const res = await fetch(`${app.url}/nope`, { headers: { 'x-request-id': 'req-abc.123:XYZ_9' } });
    assert.equal(res.headers.get('x-request-id'), 'req-abc.123:XYZ_9');
    assert.equal(((await res.json()) as Envelope).requestId, 'req-abc.123:XYZ_9');
  });

  it('replaces a malformed or oversized id with a fresh UUID', async () => {
    for (const bad of ['has space', 'x'.repeat(129), 'quote"d', 'semi;colon']) {
      const res = await fetch(`${app.url}/health`, { headers: { 'x-request-id': bad } });
      await res.arrayBuffer();
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `for ${JSON.stringify(bad)}`);
    }
  });

  it('generates one when absent, different for each request, on every answer', async () => {
    const ids = new Set<string>();
    for (const path of ['/health', '/nope', '/openapi.json', '/docs/']) {
      const res = await fetch(`${app.url}${path}`);
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id');
      assert.ok(id, `on ${path}`);
      ids.add(id);
    }
    assert.equal(ids.size, 4);
  });
});

describe('CORS', () => {
  it('allows a listed origin and exposes the request id', async () => {
    const res = await fetch(`${app.url}/health`, { headers: { origin: 'https://app.glisk.xyz' } });
    await res.arrayBuffer();
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.glisk.xyz');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/i);
  });

  it('gives no allow-origin to an origin that is not listed', async () => {
    for (const origin of [
      'https://evil.example',
      'https://app.glisk.xyz.evil.example',
      'http://app.glisk.xyz',
    ]) {
      const res = await fetch(`${app.url}/health`, { headers: { origin } });
      await res.arrayBuffer();
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  it('answers a preflight of a listed origin, and not of another', async () => {
    const preflight = (origin: string) =>
      new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          `${app.url}/test/items/1`,
          {
            method: 'OPTIONS',
            headers: {
              origin,
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'content-type',
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const allowed = await preflight('http://localhost:3000');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.match(String(allowed.headers['access-control-allow-methods']), /POST/);
    const refused = await preflight('https://evil.example');
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
  });
});

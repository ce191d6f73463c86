// IMAGE_PROVIDER=replicate: the official client driven against a fake Replicate on loopback, each failure injected
// the way Replicate produces it, and classified as the runtime needs it.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Author } from '../../src/db/schema.js';
import { ContentPolicyError, StageError } from '../../src/errors.js';
import { computeCid } from '../../src/lib/cid.js';
import { createReplicateImageProvider } from '../../src/providers/image/replicate.js';
import * as contentBlobs from '../../src/repositories/content-blobs.repository.js';
import * as imageJobs from '../../src/repositories/image-generation-jobs.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createImageStage } from '../../src/stages/image/image.stage.js';
import { startStageRunner, type StageRunner } from '../../src/workers/stage-runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { startFakeReplicate, type Behaviour, type FakeReplicate } from '../helpers/fake-replicate.js';
import { closedPort } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';

const MODEL = 'black-forest-labs/flux-schnell';
const PROMPTS = { defaultPrompt: 'the default prompt', fallbackPrompt: 'kittens in a garden' };

let fake: FakeReplicate | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function providerFor(behave: (prompt: string, call: number) => Behaviour, timeoutMs = 5_000) {
  fake = await startFakeReplicate(behave);
  return createReplicateImageProvider({
    apiToken: fake.token,
    model: MODEL,
    baseUrl: fake.url,
    timeoutMs,
    pollIntervalMs: 20,
  });
}

const request = { prompt: 'a red fox', tokenId: 1, signal: new AbortController().signal };

async function failure(promise: Promise<unknown>): Promise<StageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof StageError, `expected a StageError, got ${String(error)}`);
  return error;
}

describe('replicate provider against the fake', () => {
  it('creates a prediction with Prefer: wait and the bearer token, and downloads the output bytes', async () => {
    const provider = await providerFor(() => 'succeed');
    const image = await provider.generate(request);
    assert.ok(fake);
    assert.deepEqual(Buffer.from(image.bytes), await fake.outputFor('a red fox'));
    assert.match(image.externalJobId ?? '', /^\w+$/);
    assert.equal(fake.calls.length, 1);
    assert.equal(fake.calls[0]?.model, MODEL);
    assert.match(fake.calls[0]?.prefer ?? '', /^wait=\d+$/);
  });

  it('polls a prediction that is not finished when the wait ends', async () => {
    const provider = await providerFor(() => 'succeed-after-poll');
    const image = await provider.generate(request);
    assert.ok(image.bytes.byteLength > 0);
  });

  it('429: transient RATE_LIMITED with Retry-After, after ONE request (no client-side hammering)', async () => {
    const provider = await providerFor(() => ({ status: 429, retryAfterSeconds: 7 }));
    const error = await failure(provider.generate(request));
    assert.deepEqual(
      [error.errorClass, error.code, error.providerStatus, error.retryAfterMs],
      ['transient', 'RATE_LIMITED', 429, 7_000],
    );
    assert.equal(fake?.calls.length, 1);
  });

  it('500: transient PROVIDER_5XX', async () => {
    const provider = await providerFor(() => ({ status: 500 }));
    const error = await failure(provider.generate(request));
    assert.deepEqual(
      [error.errorClass, error.code, error.providerStatus],
      ['transient', 'PROVIDER_5XX', 500],
    );
  });

  it('401: permanent PROVIDER_UNAUTHORIZED; 422: permanent PROVIDER_INVALID_INPUT', async () => {
    const unauthorized = await failure((await providerFor(() => ({ status: 401 }))).generate(request));
    assert.deepEqual([unauthorized.errorClass, unauthorized.code], ['permanent', 'PROVIDER_UNAUTHORIZED']);
    await fake?.close();
    const invalid = await failure((await providerFor(() => ({ status: 422 }))).generate(request));
    assert.deepEqual([invalid.errorClass, invalid.code], ['permanent', 'PROVIDER_INVALID_INPUT']);
  });

  it('a prediction that hangs past the timeout: transient PROVIDER_TIMEOUT, and the prediction is cancelled', async () => {
    const provider = await providerFor(() => 'hang', 300);
    const started = Date.now();
    const error = await failure(provider.generate(request));
    assert.deepEqual([error.errorClass, error.code], ['transient', 'PROVIDER_TIMEOUT']);
    assert.ok(Date.now() - started < 3_000, 'gave up near the timeout');
    assert.equal(fake?.cancelled.length, 1);
  });

  it('malformed JSON: transient PROVIDER_BAD_RESPONSE', async () => {
    const provider = await providerFor(() => 'malformed-json');
    const error = await failure(provider.generate(request));
    assert.deepEqual([error.errorClass, error.code], ['transient', 'PROVIDER_BAD_RESPONSE']);
  });

  it('an expired output URL: transient OUTPUT_UNAVAILABLE (a new prediction is needed)', async () => {
    const provider = await providerFor(() => 'expired-output');
    const error = await failure(provider.generate(request));
    assert.deepEqual(
      [error.errorClass, error.code, error.providerStatus],
      ['transient', 'OUTPUT_UNAVAILABLE', 404],
    );
  });

  it('an NSFW refusal: ContentPolicyError', async () => {
    const provider = await providerFor(() => 'nsfw');
    const error = await failure(provider.generate(request));
    assert.ok(error instanceof ContentPolicyError);
    assert.equal(error.errorClass, 'permanent');
  });

  it('a connection refused: transient PROVIDER_CONNECTION', async () => {
    const provider = createReplicateImageProvider({
      apiToken: 'r8_test',
      model: MODEL,
      baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
      timeoutMs: 5_000,
    });
    const error = await failure(provider.generate(request));
    assert.deepEqual([error.errorClass, error.code], ['transient', 'PROVIDER_CONNECTION']);
  });
});

describe('image stage with the replicate provider', { timeout: 60_000 }, () => {
  let t: TestDatabase;
  let author: Author;
  let runner: StageRunner | undefined;
  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.drop());
  beforeEach(async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs cascade`;
    author = await insertAuthor(t.db, 1);
  });
  afterEach(async () => {
    await runner?.stop(2_000);
    runner = undefined;
  });

  async function run(behave: (prompt: string, call: number) => Behaviour) {
    const provider = await providerFor(behave);
    const stage = createImageStage({
      database: t.database,
      provider,
      prompts: PROMPTS,
      settings: {
        batchSize: 10,
        concurrency: 2,
        maxAttempts: 3,
        leaseSeconds: 30,
        pollIntervalMs: 60_000,
        retryBaseMs: 50,
        retryMaxMs: 100,
      },
    });
    runner = startStageRunner(stage, { database: t.database, logger: captureLogs().logger });
  }

  async function waitForStatus(tokenId: number, status: string) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const token = await tokensRepository.getByTokenId(t.db, tokenId);
      if (token?.status === status) return token;
      if (Date.now() > deadline) throw new Error(`token ${tokenId} is ${token?.status}, never ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('detected -> uploading: the WebP bytes in the content store, typed by their bytes, the prediction id recorded', async () => {
    await t.sql`update authors set prompt_text = 'a red fox' where id = ${author.id}`;
    await insertTokens(t.db, author, [1]);
    await run(() => 'succeed');
    const token = await waitForStatus(1, 'uploading');
    assert.ok(fake);
    const bytes = await fake.outputFor('a red fox');
    assert.equal(token.imageCid, await computeCid(bytes, 'raw-leaves'));
    assert.equal((await contentBlobs.getInfo(t.db, token.imageCid ?? ''))?.mediaType, 'image/webp');
    const [job] = await imageJobs.listByToken(t.db, token.id);
    assert.equal(job?.service, 'replicate');
    assert.match(job?.externalJobId ?? '', /^\w+$/);
  });

  it('an NSFW refusal is retried once with FALLBACK_CENSORED_PROMPT, recorded on the attempt', async () => {
    await t.sql`update authors set prompt_text = 'something refused' where id = ${author.id}`;
    await insertTokens(t.db, author, [1]);
    await run((prompt) => (prompt === PROMPTS.fallbackPrompt ? 'succeed' : 'nsfw'));
    const token = await waitForStatus(1, 'uploading');
    assert.deepEqual(
      fake?.calls.map((call) => call.prompt),
      ['something refused', PROMPTS.fallbackPrompt],
    );
    const [job] = await imageJobs.listByToken(t.db, token.id);
    assert.equal(job?.errorData?.code, 'CONTENT_POLICY_FALLBACK');
  });

  it('a 429 puts the token back with next_attempt_at after Retry-After, then it succeeds', async () => {
    await insertTokens(t.db, author, [1]);
    await run((_prompt, call) => (call === 1 ? { status: 429, retryAfterSeconds: 1 } : 'succeed'));
    // Retry-After is 1 s: the token waits in detected with the error for that long (polled every 10 ms).
    const deadline = Date.now() + 10_000;
    let wait: number | undefined;
    while (wait === undefined && Date.now() < deadline) {
      const [row] = await t.sql<{ code: string | null; wait: number }[]>`
        select error_data->>'code' as code, extract(epoch from next_attempt_at - updated_at)::float8 as wait
        from tokens_s0 where token_id = 1 and status = 'detected'`;
      if (row?.code === 'RATE_LIMITED') wait = row.wait;
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(
      wait !== undefined && wait >= 0.99,
      `next attempt ${wait} s after the 429, Retry-After said 1 s`,
    );
    await waitForStatus(1, 'uploading');
    assert.equal(fake?.calls.length, 2);
  });
});

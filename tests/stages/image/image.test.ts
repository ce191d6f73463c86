// The image stage on the stage runtime: the local provider's artwork, the content store hand-off keyed by CID,
// the prompt rules and the content-policy fallback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Author } from '../../../src/db/schema.js';
import { computeCid } from '../../../src/lib/cid.js';
import { sniffImageMediaType } from '../../../src/lib/media-type.js';
import { ContentPolicyError } from '../../../src/errors.js';
import type { ImageProvider } from '../../../src/providers/image/image-provider.js';
import { createLocalImageProvider, renderLocalArtwork } from '../../../src/providers/image/local.js';
import * as contentBlobs from '../../../src/repositories/content-blobs.repository.js';
import * as imageJobs from '../../../src/repositories/image-generation-jobs.repository.js';
import * as tokensRepository from '../../../src/repositories/tokens.repository.js';
import { createImageStage, resolvePrompt } from '../../../src/stages/image/image.stage.js';
import type { StageSettings } from '../../../src/stages/stage.js';
import { startStageRunner, type StageRunner } from '../../../src/workers/stage-runner.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { insertAuthor, insertTokens } from '../../helpers/db-fixtures.js';
import { claimOne, workContext } from '../../helpers/stage-work.js';
import { captureLogs } from '../../helpers/logs.js';

const SETTINGS: StageSettings = {
  batchSize: 10,
  concurrency: 4,
  maxAttempts: 3,
  leaseSeconds: 30,
  pollIntervalMs: 60_000,
  retryBaseMs: 50,
  retryMaxMs: 100,
};
const PROMPTS = { defaultPrompt: 'the default prompt', fallbackPrompt: 'kittens in a garden' };

/** CIDv1 (raw codec, sha2-256) of a single-block file, in base32, computed here without multiformats. */
function rawCidByHand(bytes: Uint8Array): string {
  const cid = Buffer.concat([
    Buffer.from([0x01, 0x55, 0x12, 0x20]),
    createHash('sha256').update(bytes).digest(),
  ]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = 'b';
  for (const byte of cid) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

describe('local image provider', () => {
  it('renders the same PNG bytes for the same prompt and token, 1024x1024', async () => {
    const a = await renderLocalArtwork('a lighthouse at dusk', 7);
    const b = await renderLocalArtwork('a lighthouse at dusk', 7);
    assert.deepEqual(a, b);
    const meta = await sharp(a).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 1024]);
    assert.equal(sniffImageMediaType(a), 'image/png');
  });

  it('renders visibly different artworks for different prompts', async () => {
    const stats = await Promise.all(
      ['a lighthouse at dusk', 'neon jungle', 'quiet snowfield'].map(async (prompt) =>
        (await sharp(await renderLocalArtwork(prompt, 7)).stats()).channels.map((c) => c.mean),
      ),
    );
    for (let i = 0; i < stats.length; i += 1) {
      for (let j = i + 1; j < stats.length; j += 1) {
        const distance = Math.hypot(...(stats[i] ?? []).map((mean, k) => mean - (stats[j]?.[k] ?? 0)));
        assert.ok(distance > 10, `prompts ${i} and ${j}: mean colours only ${distance.toFixed(1)} apart`);
      }
    }
    assert.notDeepEqual(
      await renderLocalArtwork('neon jungle', 1),
      await renderLocalArtwork('neon jungle', 2),
    );
  });

  it('gives CIDs equal to known CIDs of the same bytes', async () => {
    // `ipfs add --cid-version=1` of the 11 bytes "hello world" (a well-known value).
    assert.equal(
      await computeCid(Buffer.from('hello world'), 'raw-leaves'),
      'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e',
    );
    const artwork = await renderLocalArtwork('a lighthouse at dusk', 7);
    assert.ok(artwork.byteLength < 262_144, 'one raw block: the CID is the hash of the bytes');
    assert.equal(await computeCid(artwork, 'raw-leaves'), rawCidByHand(artwork));
  });

  it('resolves the prompt: the author text trimmed, else the default', () => {
    assert.equal(resolvePrompt('  a cat  ', 'default'), 'a cat');
    assert.equal(resolvePrompt(null, 'default'), 'default');
    assert.equal(resolvePrompt('   ', 'default'), 'default');
  });
});

describe('image stage', { timeout: 60_000 }, () => {
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

  function run(provider: ImageProvider): StageRunner {
    const stage = createImageStage({ database: t.database, provider, settings: SETTINGS, prompts: PROMPTS });
    runner = startStageRunner(stage, { database: t.database, logger: captureLogs().logger });
    return runner;
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

  it('moves detected -> uploading with the image in the content store under its CID (local provider)', async () => {
    await t.sql`update authors set prompt_text = '  a lighthouse at dusk ' where id = ${author.id}`;
    await insertTokens(t.db, author, [7]);
    run(createLocalImageProvider());
    const token = await waitForStatus(7, 'uploading');
    const expected = await renderLocalArtwork('a lighthouse at dusk', 7);
    assert.equal(token.imageCid, rawCidByHand(expected));
    const blob = await contentBlobs.get(t.db, token.imageCid ?? '');
    assert.ok(blob);
    assert.equal(blob.mediaType, 'image/png');
    assert.equal(blob.sizeBytes, expected.byteLength);
    assert.deepEqual(Buffer.from(blob.bytes), expected);
    const jobs = await imageJobs.listByToken(t.db, token.id);
    assert.deepEqual(
      jobs.map((job) => [job.service, job.status]),
      [['local', 'completed']],
    );
  });

  it('uses DEFAULT_PROMPT while the author has none; reads the media type from the bytes', async () => {
    await insertTokens(t.db, author, [1]);
    const prompts: string[] = [];
    // WebP bytes from a provider that says nothing about their type.
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } })
      .webp()
      .toBuffer();
    run({
      name: 'recording',
      generate: ({ prompt }) => {
        prompts.push(prompt);
        return Promise.resolve({ bytes: webp, externalJobId: 'job-1' });
      },
    });
    const token = await waitForStatus(1, 'uploading');
    assert.deepEqual(prompts, [PROMPTS.defaultPrompt]);
    assert.equal((await contentBlobs.getInfo(t.db, token.imageCid ?? ''))?.mediaType, 'image/webp');
    const [job] = await imageJobs.listByToken(t.db, token.id);
    assert.equal(job?.externalJobId, 'job-1');
  });

  it('retries a content-policy refusal once with FALLBACK_CENSORED_PROMPT and records it', async () => {
    await t.sql`update authors set prompt_text = 'something refused' where id = ${author.id}`;
    await insertTokens(t.db, author, [1]);
    const prompts: string[] = [];
    run({
      name: 'picky',
      generate: async ({ prompt, tokenId }) => {
        prompts.push(prompt);
        if (prompt !== PROMPTS.fallbackPrompt) throw new ContentPolicyError('NSFW content detected');
        return { bytes: await renderLocalArtwork(prompt, tokenId) };
      },
    });
    const token = await waitForStatus(1, 'uploading');
    assert.deepEqual(prompts, ['something refused', PROMPTS.fallbackPrompt]);
    const [job] = await imageJobs.listByToken(t.db, token.id);
    assert.equal(job?.status, 'completed');
    assert.equal(job?.errorData?.code, 'CONTENT_POLICY_FALLBACK');
  });

  it('fails the token when the fallback prompt is refused too (permanent, no further attempt)', async () => {
    await insertTokens(t.db, author, [1]);
    let calls = 0;
    run({
      name: 'refuses-all',
      generate: () => {
        calls += 1;
        return Promise.reject(new ContentPolicyError('NSFW content detected', { providerStatus: 422 }));
      },
    });
    const token = await waitForStatus(1, 'failed');
    assert.equal(calls, 2);
    assert.equal(token.errorData?.code, 'CONTENT_POLICY');
    assert.equal(token.errorData?.class, 'permanent');
    assert.equal(token.generationAttempts, 1);
  });

  it('retries bytes that are no image (transient INVALID_IMAGE)', async () => {
    await insertTokens(t.db, author, [1]);
    let calls = 0;
    run({
      name: 'garbage-once',
      generate: async ({ prompt, tokenId }) => {
        calls += 1;
        return {
          bytes:
            calls === 1 ? Buffer.from('<html>expired</html>') : await renderLocalArtwork(prompt, tokenId),
        };
      },
    });
    const token = await waitForStatus(1, 'uploading');
    const jobs = await imageJobs.listByToken(t.db, token.id);
    assert.deepEqual(
      jobs.map((job) => [job.status, job.errorData?.code ?? null]),
      [
        ['failed', 'INVALID_IMAGE'],
        ['completed', null],
      ],
    );
  });

  it("reads the author's prompt in the claim statement and generates from it; without it, reads it itself", async () => {
    await t.sql`update authors set prompt_text = '  a lighthouse at dusk ' where id = ${author.id}`;
    await insertTokens(t.db, author, [7]);
    const prompts: string[] = [];
    const provider: ImageProvider = {
      name: 'recording',
      generate: async ({ prompt, tokenId }) => {
        prompts.push(prompt);
        return { bytes: await renderLocalArtwork(prompt, tokenId) };
      },
    };
    const stage = createImageStage({ database: t.database, provider, settings: SETTINGS, prompts: PROMPTS });
    const claimed = await claimOne(t.db, stage);
    assert.deepEqual(claimed.inputs, { prompt: '  a lighthouse at dusk ' });
    const ctx = workContext();
    // The claim's inputs are what the work uses: a prompt there that the database does not hold proves it.
    await stage.work(claimed, ctx, { prompt: 'a prompt that only the claim knows' });
    await stage.work(claimed, ctx, undefined);
    assert.deepEqual(prompts, ['a prompt that only the claim knows', 'a lighthouse at dusk']);
  });
});

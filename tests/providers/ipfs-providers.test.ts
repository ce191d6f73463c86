// The Kubo and Pinata providers against fake services on loopback speaking their upload APIs, and the rate limit
// that Pinata's workers share through PostgreSQL. CIDs written here were computed by Kubo itself (its sharness
// tests, t0040-add-and-cat.sh, and `ipfs add` runs), never by this code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database } from '../../src/db/client.js';
import { computeCid, toCanonicalCid, type CidLayout } from '../../src/lib/cid.js';
import { parseRetryAfter } from '../../src/lib/retry-after.js';
import { IpfsProviderError } from '../../src/errors.js';
import {
  imageFileName,
  metadataFileName,
  type IpfsFile,
  type IpfsProvider,
} from '../../src/providers/ipfs/ipfs-provider.js';
import { createKuboProvider } from '../../src/providers/ipfs/kubo.provider.js';
import { createPinataProvider } from '../../src/providers/ipfs/pinata.provider.js';
import { createSharedRateLimiter } from '../../src/providers/rate-limiter.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { closedPort } from '../helpers/http.js';
import { startFakeKubo, startFakePinata, type FakeIpfsService } from '../helpers/fake-ipfs.js';

// `echo "hello world" | ipfs add --cid-version=1` and `| ipfs add` (CIDv0).
const HELLO_WORLD = 'hello world\n';
const HELLO_WORLD_V1_RAW = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4';
const HELLO_WORLD_V0 = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
// Kubo's sharness t0040: `echo "Hello Worlds!" > hello.txt; ipfs add hello.txt`.
const HELLO_WORLDS = 'Hello Worlds!\n';
const HELLO_WORLDS_V0 = 'QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH';
// t0040: `echo "base32 test" | ipfs add --cid-base=base32` (a CIDv0 file, shown in its v1 base32 form).
const BASE32_TEST = 'base32 test\n';
const BASE32_TEST_V1 = 'bafybeibyosqxljd2eptb4ebbtvk7pb4aoxzqa6ttdsflty6rsslz5y6i34';
// t0040: `echo file1 > mfs1.txt; ipfs add --cid-version 1 mfs1.txt`.
const FILE1 = 'file1\n';
const FILE1_V1_RAW = 'bafkreihm3rktn5z33luic3youqdsn326toaq3ekesmdvsa53sbrd3f5r3a';

async function fileOf(text: string, layout: CidLayout, tokenId = 7): Promise<IpfsFile> {
  const bytes = new TextEncoder().encode(text);
  return {
    bytes,
    mediaType: layout === 'raw-leaves' ? 'image/png' : 'application/json',
    fileName: layout === 'raw-leaves' ? imageFileName(tokenId, 'image/png') : metadataFileName(tokenId),
    layout,
    cid: await computeCid(bytes, layout),
    tokenId,
  };
}

async function rejection(promise: Promise<unknown>): Promise<IpfsProviderError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof IpfsProviderError, `expected an IpfsProviderError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the pin to fail');
}

describe('fixture CIDs (computed by Kubo)', () => {
  it('computeCid gives what ipfs add gives for the same bytes', async () => {
    const enc = (text: string) => new TextEncoder().encode(text);
    assert.equal(await computeCid(enc(HELLO_WORLD), 'raw-leaves'), HELLO_WORLD_V1_RAW);
    assert.equal(await computeCid(enc(HELLO_WORLD), 'dag-pb'), toCanonicalCid(HELLO_WORLD_V0));
    assert.equal(await computeCid(enc(HELLO_WORLDS), 'dag-pb'), toCanonicalCid(HELLO_WORLDS_V0));
    assert.equal(await computeCid(enc(BASE32_TEST), 'dag-pb'), BASE32_TEST_V1);
    assert.equal(await computeCid(enc(FILE1), 'raw-leaves'), FILE1_V1_RAW);
  });
});

describe('Kubo provider', () => {
  let kubo: FakeIpfsService;
  let provider: IpfsProvider;
  before(async () => {
    kubo = await startFakeKubo();
    provider = createKuboProvider({ apiUrl: `${kubo.url}/`, timeoutMs: 2_000 });
  });
  after(() => kubo.close());

  it('adds an image as --cid-version=1 (raw leaves) and pins it: the CID Kubo computes', async () => {
    const result = await provider.pin(await fileOf(HELLO_WORLD, 'raw-leaves', 12));
    assert.equal(result.cid, HELLO_WORLD_V1_RAW);
    const upload = kubo.uploads.at(-1);
    assert.ok(upload);
    assert.equal(upload.query.get('cid-version'), '1');
    assert.equal(upload.query.get('pin'), 'true');
    assert.equal(upload.fileName, 's0-token-12.png');
    assert.equal(upload.bytes.toString(), HELLO_WORLD, 'the exact bytes, as a file');
    assert.ok(kubo.pins.has(HELLO_WORLD_V1_RAW));
  });

  it('adds metadata as --cid-version=0 (dag-pb leaves): Kubo answers Qm..., kept in canonical form', async () => {
    const result = await provider.pin(await fileOf(HELLO_WORLDS, 'dag-pb', 12));
    assert.equal(result.cid, toCanonicalCid(HELLO_WORLDS_V0));
    const upload = kubo.uploads.at(-1);
    assert.equal(upload?.query.get('cid-version'), '0');
    assert.equal(upload?.fileName, 's0-token-12-metadata.json');
    assert.deepEqual(upload?.outcome, { cid: HELLO_WORLDS_V0 });
  });

  it('answers the CID Kubo names even when it is not the one computed here (the stage compares)', async () => {
    kubo.inject({ kind: 'wrong-cid' });
    const file = await fileOf(FILE1, 'raw-leaves');
    const result = await provider.pin(file);
    assert.equal(file.cid, FILE1_V1_RAW);
    assert.notEqual(result.cid, FILE1_V1_RAW);
  });

  it('classifies each failure: 429 with Retry-After, 500, 401, a body without a CID, a timeout, no server', async () => {
    const file = await fileOf(FILE1, 'raw-leaves');

    kubo.inject({ kind: 'status', status: 429, retryAfter: '7' });
    const limited = await rejection(provider.pin(file));
    assert.equal(limited.code, 'IPFS_RATE_LIMITED');
    assert.equal(limited.transient, true);
    assert.equal(limited.retryAfterMs, 7_000);

    kubo.inject({ kind: 'status', status: 500 });
    const failed = await rejection(provider.pin(file));
    assert.deepEqual(
      [failed.code, failed.transient, failed.providerStatus],
      ['IPFS_PROVIDER_ERROR', true, 500],
    );

    kubo.inject({ kind: 'status', status: 401, body: 'unauthorized' });
    const refused = await rejection(provider.pin(file));
    assert.deepEqual([refused.code, refused.transient], ['IPFS_UNAUTHORIZED', false]);

    kubo.inject({ kind: 'no-cid' });
    const noCid = await rejection(provider.pin(file));
    assert.deepEqual([noCid.code, noCid.transient], ['IPFS_NO_CID', true]);

    kubo.inject({ kind: 'hang' });
    const quick = createKuboProvider({ apiUrl: kubo.url, timeoutMs: 150 });
    const hung = await rejection(quick.pin(file));
    assert.deepEqual([hung.code, hung.transient], ['IPFS_TIMEOUT', true]);

    const nowhere = createKuboProvider({
      apiUrl: `http://127.0.0.1:${await closedPort()}`,
      timeoutMs: 2_000,
    });
    const unreachable = await rejection(nowhere.pin(file));
    assert.deepEqual([unreachable.code, unreachable.transient], ['IPFS_CONNECTION_FAILED', true]);

    // After every fault, the next request goes through.
    assert.equal((await provider.pin(file)).cid, FILE1_V1_RAW);
  });

  it("the caller's abort is not turned into a provider error", async () => {
    kubo.inject({ kind: 'hang' });
    const controller = new AbortController();
    const pinning = provider.pin(await fileOf(FILE1, 'raw-leaves'), controller.signal);
    setImmediate(() => controller.abort(new Error('shutting down')));
    await assert.rejects(pinning, (error: unknown) => !(error instanceof IpfsProviderError));
  });
});

describe('Pinata provider and its shared rate limit', { timeout: 60_000 }, () => {
  const JWT = 'test-pinata-jwt-0123456789';
  let t: TestDatabase;
  const pools: Database[] = [];
  /** A separate pool per worker, as separate processes would have. */
  const workerDb = () => {
    const created = createDatabase(t.url, { max: 2 });
    pools.push(created);
    return created.db;
  };
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close(1)));
    await t.drop();
  });

  const pinataFor = (url: string, key: string, maxPerMinute: number, jwt = JWT) =>
    createPinataProvider({
      apiUrl: url,
      jwt,
      timeoutMs: 2_000,
      limiter: createSharedRateLimiter({ db: workerDb(), key, maxPerMinute }),
    });

  it('pins the file with the Bearer JWT, file name, CID version and keyvalues season/token_id', async () => {
    const pinata = await startFakePinata({ jwt: JWT });
    try {
      const provider = pinataFor(pinata.url, 'pinata-a', 6_000);
      assert.equal((await provider.pin(await fileOf(HELLO_WORLD, 'raw-leaves', 31))).cid, HELLO_WORLD_V1_RAW);
      assert.equal(
        (await provider.pin(await fileOf(BASE32_TEST, 'dag-pb', 31))).cid,
        BASE32_TEST_V1,
        'metadata pinned as CIDv0',
      );
      const [image, metadata] = pinata.uploads;
      assert.equal(image?.headers.authorization, `Bearer ${JWT}`);
      assert.equal(image?.fileName, 's0-token-31.png');
      assert.equal(image?.mediaType, 'image/png');
      assert.deepEqual(JSON.parse(image?.fields.pinataOptions ?? ''), { cidVersion: 1 });
      assert.deepEqual(JSON.parse(image?.fields.pinataMetadata ?? ''), {
        name: 's0-token-31.png',
        keyvalues: { season: '0', token_id: '31' },
      });
      assert.equal(metadata?.fileName, 's0-token-31-metadata.json');
      assert.deepEqual(JSON.parse(metadata?.fields.pinataOptions ?? ''), { cidVersion: 0 });
      assert.equal(metadata?.bytes.toString(), BASE32_TEST);
    } finally {
      await pinata.close();
    }
  });

  it('a wrong JWT is a permanent IPFS_UNAUTHORIZED; no CID in the answer is transient', async () => {
    const pinata = await startFakePinata({ jwt: JWT });
    try {
      const file = await fileOf(FILE1, 'raw-leaves');
      const wrong = await rejection(pinataFor(pinata.url, 'pinata-b', 6_000, 'not-the-jwt').pin(file));
      assert.deepEqual(
        [wrong.code, wrong.transient, wrong.providerStatus],
        ['IPFS_UNAUTHORIZED', false, 401],
      );
      pinata.inject({ kind: 'no-cid' });
      const noCid = await rejection(pinataFor(pinata.url, 'pinata-b', 6_000).pin(file));
      assert.equal(noCid.code, 'IPFS_NO_CID');
    } finally {
      await pinata.close();
    }
  });

  it("a 429's Retry-After holds every worker's next request back", async () => {
    const pinata = await startFakePinata({ jwt: JWT });
    try {
      const file = await fileOf(FILE1, 'raw-leaves');
      const [first, second] = [
        pinataFor(pinata.url, 'pinata-c', 60_000),
        pinataFor(pinata.url, 'pinata-c', 60_000),
      ];
      pinata.inject({ kind: 'status', status: 429, retryAfter: '1' });
      const limited = await rejection(first.pin(file));
      assert.equal(limited.retryAfterMs, 1_000);
      // The other worker has not seen the 429 itself; the shared limit makes it wait anyway.
      await second.pin(file);
      const [refused, next] = pinata.uploads;
      assert.ok(refused && next);
      assert.ok(next.at - refused.at >= 950, `waited ${Math.round(next.at - refused.at)} ms after the 429`);
    } finally {
      await pinata.close();
    }
  });

  it('4 concurrent workers on separate connections stay under the limit: no 429 from a strict Pinata', async () => {
    // Pinata here allows 5 requests in any 1 s window; the workers are configured for 4 per second (240/min).
    const pinata = await startFakePinata({ jwt: JWT, rateLimit: { max: 5, windowMs: 1_000 } });
    try {
      const file = await fileOf(FILE1, 'raw-leaves');
      const workers = [1, 2, 3, 4].map(() => pinataFor(pinata.url, 'pinata-d', 240));
      const started = performance.now();
      await Promise.all(
        workers.map(async (worker) => {
          for (let i = 0; i < 3; i += 1) await worker.pin(file);
        }),
      );
      const elapsed = performance.now() - started;
      assert.equal(pinata.uploads.length, 12);
      assert.deepEqual(
        pinata.uploads.filter((u) => !('cid' in u.outcome)).map((u) => u.outcome),
        [],
        'no request was refused',
      );
      // 12 slots 250 ms apart: the last one starts 2.75 s after the first.
      assert.ok(elapsed >= 2_600, `took ${Math.round(elapsed)} ms`);
    } finally {
      await pinata.close();
    }
  });

  it('a caller that wakes up long after its slot (a stalled host) takes a new slot instead of sending late', async () => {
    const db = workerDb();
    const nextSlotAt = async () => {
      const [row] = await db.execute<{ at: string }>(
        sql`select extract(epoch from next_slot_at) * 1000 as at from rate_limits where key = 'stalled'`,
      );
      return Number(row?.at);
    };
    // A host clock whose first wait ends 800 ms late (the event loop or the host stalled), later waits on time.
    let now = 0;
    let sleeps = 0;
    const clock = {
      now: () => now,
      sleep: (ms: number) => {
        now += ms + (sleeps === 0 ? 800 : 0);
        sleeps += 1;
        return Promise.resolve();
      },
    };
    const limiter = createSharedRateLimiter({ db, key: 'stalled', maxPerMinute: 240, clock });
    await createSharedRateLimiter({ db, key: 'stalled', maxPerMinute: 240 }).acquire(); // the slot of now
    const first = await nextSlotAt(); // 250 ms ahead
    await limiter.acquire();
    // Its slot was `first`; it woke 800 ms late and took another one: the next free slot is two intervals on.
    assert.ok((await nextSlotAt()) - first >= 450, 'the late caller reserved a new slot');
  });

  it('without a shared limit (one limiter per worker) the same load is refused: the test can fail', async () => {
    const pinata = await startFakePinata({ jwt: JWT, rateLimit: { max: 5, windowMs: 1_000 } });
    try {
      const file = await fileOf(FILE1, 'raw-leaves');
      const workers = [1, 2, 3, 4].map((n) => pinataFor(pinata.url, `pinata-e${n}`, 240));
      const results = await Promise.allSettled(
        workers.flatMap((worker) => [worker.pin(file), worker.pin(file), worker.pin(file)]),
      );
      assert.ok(
        results.some((r) => r.status === 'rejected'),
        'some request was refused with 429',
      );
    } finally {
      await pinata.close();
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a past date means now');
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

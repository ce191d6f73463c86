// The IPFS stage on the stage runtime: uploading -> ready with each provider (local content store, fake Kubo,
// fake Pinata), the metadata bytes, one upload row per attempt and record type, the provider's CID kept when it
// differs, retries, permanent failures, and a ready token's links followed over the gateway. Fixture CIDs were
// computed by Kubo (see tests/providers/ipfs-providers.test.ts).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Author, Token } from '../../../src/db/schema.js';
import { computeCid, toCanonicalCid, toCidV0 } from '../../../src/lib/cid.js';
import type { IpfsProvider } from '../../../src/providers/ipfs/ipfs-provider.js';
import { createKuboProvider } from '../../../src/providers/ipfs/kubo.provider.js';
import { createLocalProvider } from '../../../src/providers/ipfs/local.provider.js';
import { createPinataProvider } from '../../../src/providers/ipfs/pinata.provider.js';
import { createSharedRateLimiter } from '../../../src/providers/rate-limiter.js';
import * as contentBlobs from '../../../src/repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../../src/repositories/ipfs-upload-records.repository.js';
import * as tokensRepository from '../../../src/repositories/tokens.repository.js';
import { createIpfsStage } from '../../../src/stages/ipfs/ipfs.stage.js';
import type { StageSettings } from '../../../src/stages/stage.js';
import { startStageRunner, type StageRunner } from '../../../src/workers/stage-runner.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { insertAuthor, insertTokens } from '../../helpers/db-fixtures.js';
import { startFakeKubo, startFakePinata, type FakeIpfsService } from '../../helpers/fake-ipfs.js';
import { startTestApp } from '../../helpers/http.js';
import { claimOne, workContext } from '../../helpers/stage-work.js';
import { captureLogs, type LogCapture } from '../../helpers/logs.js';

const SETTINGS: StageSettings = {
  batchSize: 10,
  concurrency: 4,
  maxAttempts: 3,
  leaseSeconds: 30,
  pollIntervalMs: 60_000,
  retryBaseMs: 20,
  retryMaxMs: 50,
};
// `echo "hello world" | ipfs add --cid-version=1`: the image bytes of the tokens here.
const IMAGE = Buffer.from('hello world\n');
const IMAGE_CID = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4';
const JWT = 'stage-test-pinata-jwt';

/** The documented metadata JSON of token 7 by an author with both handles, as bytes. */
function expectedMetadata(imageCid: string): string {
  return (
    '{"name":"GLISK S0 #7","description":"GLISK Season 0. https://x.com/getglisk",' +
    `"image":"ipfs://${imageCid}","attributes":[` +
    '{"trait_type":"Author X Handle","value":"@glisk_fan"},' +
    '{"trait_type":"Author Farcaster Handle","value":"@gliskfan"}]}'
  );
}

describe('IPFS stage', { timeout: 60_000 }, () => {
  let t: TestDatabase;
  let author: Author;
  let runner: StageRunner | undefined;
  let logs: LogCapture;
  let kubo: FakeIpfsService;
  let pinata: FakeIpfsService;

  before(async () => {
    t = await createTestDatabase();
    kubo = await startFakeKubo();
    pinata = await startFakePinata({ jwt: JWT });
  });
  after(async () => {
    await kubo.close();
    await pinata.close();
    await t.drop();
  });
  beforeEach(async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs, ipfs_upload_records, rate_limits cascade`;
    author = await insertAuthor(t.db, 1);
    await t.sql`update authors set twitter_handle = 'glisk_fan', farcaster_handle = 'gliskfan' where id = ${author.id}`;
    await contentBlobs.put(t.db, { cid: IMAGE_CID, mediaType: 'image/png', bytes: IMAGE });
  });
  afterEach(async () => {
    await runner?.stop(2_000);
    runner = undefined;
  });

  const providers = {
    local: (): IpfsProvider => createLocalProvider({ db: t.db }),
    kubo: (): IpfsProvider => createKuboProvider({ apiUrl: kubo.url, timeoutMs: 2_000 }),
    pinata: (jwt = JWT): IpfsProvider =>
      createPinataProvider({
        apiUrl: pinata.url,
        jwt,
        timeoutMs: 2_000,
        limiter: createSharedRateLimiter({ db: t.db, key: 'pinata', maxPerMinute: 60_000 }),
      }),
  };

  async function uploadingToken(tokenId = 7): Promise<Token> {
    const [token] = await insertTokens(t.db, author, [tokenId], { status: 'uploading', imageCid: IMAGE_CID });
    assert.ok(token);
    return token;
  }

  function run(provider: IpfsProvider, settings: StageSettings = SETTINGS): void {
    logs = captureLogs();
    runner = startStageRunner(createIpfsStage({ database: t.database, provider, settings }), {
      database: t.database,
      logger: logs.logger,
    });
  }

  async function waitForStatus(tokenId: number, status: string): Promise<Token> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const token = await tokensRepository.getByTokenId(t.db, tokenId);
      if (token?.status === status) return token;
      if (Date.now() > deadline) throw new Error(`token ${tokenId} is ${token?.status}, never ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  const recordsOf = async (token: Token) =>
    (await ipfsRecords.listByToken(t.db, token.id)).map((r) => ({
      type: r.recordType,
      provider: r.provider,
      status: r.status,
      cid: r.cid,
      computedCid: r.computedCid,
      code: r.errorData?.code,
    }));

  for (const name of ['local', 'kubo', 'pinata'] as const) {
    it(`uploading -> ready with both CIDs and the documented metadata bytes (${name})`, async () => {
      const token = await uploadingToken();
      run(providers[name]());
      const ready = await waitForStatus(7, 'ready');
      const metadata = expectedMetadata(IMAGE_CID);
      const metadataCid = await computeCid(Buffer.from(metadata), 'dag-pb');
      assert.equal(ready.imageCid, IMAGE_CID);
      assert.equal(ready.metadataCid, metadataCid);
      assert.match(toCidV0(ready.metadataCid ?? ''), /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/, 'a CIDv0 form exists');
      assert.equal(ready.leaseOwner, null);
      assert.ok(ready.readyAt);
      const stored = await contentBlobs.get(t.db, metadataCid);
      assert.equal(Buffer.from(stored?.bytes ?? []).toString(), metadata);
      assert.equal(stored?.mediaType, 'application/json');
      assert.deepEqual(await recordsOf(token), [
        {
          type: 'image',
          provider: name,
          status: 'completed',
          cid: IMAGE_CID,
          computedCid: IMAGE_CID,
          code: undefined,
        },
        {
          type: 'metadata',
          provider: name,
          status: 'completed',
          cid: metadataCid,
          computedCid: metadataCid,
          code: undefined,
        },
      ]);
      if (name !== 'local') {
        const fake = name === 'kubo' ? kubo : pinata;
        assert.deepEqual(fake.pins.get(IMAGE_CID), IMAGE, 'the image bytes were pinned as they are');
        assert.equal(fake.pins.get(metadataCid)?.toString(), metadata, 'the metadata bytes were pinned');
        const [image, json] = fake.uploads.slice(-2);
        assert.equal(image?.fileName, 's0-token-7.png');
        assert.equal(json?.fileName, 's0-token-7-metadata.json');
      }
    });
  }

  it('follows a ready token over the gateway: the documented JSON, and an image whose bytes hash to image_cid', async () => {
    await uploadingToken();
    run(providers.local());
    const ready = await waitForStatus(7, 'ready');
    const app = await startTestApp({ testDb: t });
    try {
      const detail = (await (await fetch(`${app.url}/api/tokens/7`)).json()) as { metadataUrl: string };
      const metadataV0 = `/ipfs/${toCidV0(ready.metadataCid ?? '')}`;
      for (const path of [detail.metadataUrl, metadataV0]) {
        const response = await fetch(`${app.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(await response.clone().text(), expectedMetadata(IMAGE_CID));
        const document = (await response.json()) as { image: string };
        const image = await fetch(`${app.url}/ipfs/${document.image.replace('ipfs://', '')}`);
        const bytes = new Uint8Array(await image.arrayBuffer());
        assert.equal(await computeCid(bytes, 'raw-leaves'), ready.imageCid);
        assert.equal(image.headers.get('content-type'), 'image/png');
      }
    } finally {
      await app.close();
    }
  });

  it("keeps the provider's CID when it differs, records both and warns with both", async () => {
    const token = await uploadingToken();
    kubo.inject({ kind: 'wrong-cid' });
    run(providers.kubo());
    const ready = await waitForStatus(7, 'ready');
    assert.notEqual(ready.imageCid, IMAGE_CID);
    const [image, metadata] = await recordsOf(token);
    assert.deepEqual([image?.cid, image?.computedCid], [ready.imageCid, IMAGE_CID]);
    // The metadata names the image as pinned: the provider's CID.
    const json = await contentBlobs.get(t.db, toCanonicalCid(metadata?.computedCid ?? ''));
    assert.equal(Buffer.from(json?.bytes ?? []).toString(), expectedMetadata(ready.imageCid ?? ''));
    const warning = logs.lines.find((line) => line.message === 'ipfs.cid_mismatch');
    assert.ok(warning, 'a warning is logged');
    assert.deepEqual(
      [warning.computedCid, warning.providerCid, warning.recordType],
      [IMAGE_CID, ready.imageCid, 'image'],
    );
  });

  it('retries a transient failure; a retry after a metadata failure does not upload the image again', async () => {
    const token = await uploadingToken();
    const before = kubo.uploads.length;
    kubo.inject(
      { kind: 'status', status: 503 },
      { kind: 'ok' },
      { kind: 'status', status: 429, retryAfter: '0' },
    );
    run(providers.kubo());
    const ready = await waitForStatus(7, 'ready');
    assert.equal(ready.uploadAttempts, 3);
    assert.deepEqual(
      (await recordsOf(token)).map((r) => `${r.type}:${r.status}${r.code ? `:${r.code}` : ''}`),
      [
        'image:failed:IPFS_PROVIDER_ERROR',
        'image:completed',
        'metadata:failed:IPFS_RATE_LIMITED',
        'metadata:completed',
      ],
    );
    const images = kubo.uploads.slice(before).filter((u) => u.fileName === 's0-token-7.png');
    assert.equal(images.length, 2, 'the failed upload and the successful one, not a third');
    // retry_count: the attempt's retries before it (attempt 1 -> 0, attempt 2 -> 1, attempt 3 -> 2).
    assert.deepEqual(
      (await ipfsRecords.listByToken(t.db, token.id)).map((r) => r.retryCount),
      [0, 1, 1, 2],
    );
  });

  it('local: an attempt that fails after pinning the image records that pin itself; its retry reuses it', async () => {
    const token = await uploadingToken();
    const local = providers.local();
    let metadataPins = 0;
    // The metadata's first pin fails (transient): the image's local pin was already made in that attempt.
    const flaky: IpfsProvider = {
      ...local,
      pin: (file, signal) => {
        if (file.layout === 'dag-pb' && (metadataPins += 1) === 1) {
          return Promise.reject(new Error('test: the metadata pin failed once'));
        }
        return local.pin(file, signal);
      },
    };
    run(flaky);
    const ready = await waitForStatus(7, 'ready');
    assert.equal(ready.uploadAttempts, 2);
    assert.deepEqual(
      (await recordsOf(token)).map((r) => `${r.type}:${r.status}${r.code ? `:${r.code}` : ''}`),
      ['image:completed', 'metadata:failed:UNEXPECTED', 'metadata:completed'],
      'the failed attempt wrote its image pin and its failed metadata pin; the retry reused the image',
    );
  });

  it('a permanent failure (401) fails the token at once with error_data', async () => {
    const token = await uploadingToken();
    run(providers.pinata('wrong-jwt'));
    const failed = await waitForStatus(7, 'failed');
    assert.equal(failed.uploadAttempts, 1);
    assert.equal(failed.errorData?.code, 'IPFS_UNAUTHORIZED');
    assert.equal(failed.errorData?.stage, 'ipfs');
    assert.equal(failed.errorData?.class, 'permanent');
    assert.equal(failed.errorData?.providerStatus, 401);
    assert.deepEqual(
      (await recordsOf(token)).map((r) => [r.type, r.status, r.code]),
      [['image', 'failed', 'IPFS_UNAUTHORIZED']],
    );
  });

  it('fails after MAX_ATTEMPTS of transient failures', async () => {
    await uploadingToken();
    kubo.inject(...[1, 2, 3].map(() => ({ kind: 'status' as const, status: 500 })));
    run(providers.kubo());
    const failed = await waitForStatus(7, 'failed');
    assert.equal(failed.uploadAttempts, 3);
    assert.equal(failed.errorData?.code, 'IPFS_PROVIDER_ERROR');
  });

  it('an image missing from the content store fails the token (nothing to pin)', async () => {
    await t.sql`delete from content_blobs`;
    await uploadingToken();
    run(providers.local());
    const failed = await waitForStatus(7, 'failed');
    assert.equal(failed.errorData?.code, 'IMAGE_BYTES_MISSING');
  });

  it('the claim statement reads what uploadInputs reads, and the work builds the metadata from it', async () => {
    const token = await uploadingToken();
    await ipfsRecords.addRecords(t.db, [
      {
        tokenRowId: token.id,
        recordType: 'image',
        provider: 'local',
        computedCid: IMAGE_CID,
        cid: IMAGE_CID,
        status: 'completed',
        retryCount: 0,
      },
    ]);
    const stage = createIpfsStage({ database: t.database, provider: providers.local(), settings: SETTINGS });
    const claimed = await claimOne(t.db, stage);
    const read = await ipfsRecords.uploadInputs(t.db, {
      tokenRowId: token.id,
      authorId: author.id,
      imageCid: IMAGE_CID,
      provider: 'local',
      withBytes: false,
    });
    assert.deepEqual(read, {
      author: { twitterHandle: 'glisk_fan', farcasterHandle: 'gliskfan' },
      image: { mediaType: 'image/png', bytes: undefined },
      pinnedImageCid: IMAGE_CID,
    });
    assert.deepEqual(ipfsRecords.parseUploadInputs(claimed.inputs, IMAGE_CID), read);
    // Read for another form of the CID: not taken for this one (the work then reads them itself).
    assert.equal(ipfsRecords.parseUploadInputs(claimed.inputs, 'bafkreiother'), undefined);

    // The work uses the claim's inputs: a handle there that the database does not hold shows in the metadata.
    const inputs = { ...(claimed.inputs as Record<string, unknown>), farcasterHandle: 'only_in_the_claim' };
    const ctx = workContext();
    const { changes, blobs } = await stage.work(claimed, ctx, inputs);
    const metadata = blobs?.find((blob) => blob.cid === changes.metadataCid);
    assert.match(Buffer.from(metadata?.bytes ?? []).toString(), /"value":"@only_in_the_claim"/);
  });
});

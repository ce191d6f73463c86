// The IPFS stage across the process boundary: `npm run worker -- --stages ipfs` processes sharing one database
// and one (fake) Kubo node. 4 processes over 500 tokens pin each image and each metadata document exactly once
// (counted at the fake, by file name); a worker SIGKILLed while its uploads hang leaves its tokens to another
// worker once the lease expires, and they reach `ready`.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { computeCid } from '../../src/lib/cid.js';
import { createKuboProvider } from '../../src/providers/ipfs/kubo.provider.js';
import { createIpfsStage } from '../../src/stages/ipfs/ipfs.stage.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startFakeKubo, type FakeIpfsService } from '../helpers/fake-ipfs.js';
import { waitUntil } from '../helpers/wait.js';
import {
  assertStopsCleanly,
  exited,
  startSurvivor,
  survivorSettings,
  workerProcesses,
} from '../helpers/worker-processes.js';

let t: TestDatabase;
let kubo: FakeIpfsService;
const workers = workerProcesses();

before(async () => {
  t = await createTestDatabase({ max: 4 });
  kubo = await startFakeKubo();
});
afterEach(() => workers.killAll());
after(async () => {
  await kubo.close();
  await t.drop();
});

const spawnIpfsWorker = (env: Record<string, string> = {}) =>
  workers.spawn({
    stages: 'ipfs',
    databaseUrl: t.url,
    env: { IPFS_PROVIDER: 'kubo', KUBO_API_URL: kubo.url, IPFS_CONCURRENCY: '8', ...env },
  });

/**
 * `count` tokens 1..count waiting in `uploading`, each with its own image in the content store (rows as
 * contentBlobs.put writes them; two statements for all, not two per token).
 */
async function uploadingTokens(count: number): Promise<void> {
  await t.sql`truncate tokens_s0, authors, content_blobs, ipfs_upload_records cascade`;
  kubo.uploads.length = 0;
  kubo.pins.clear();
  const [author] = await t.sql<{ id: string }[]>`
    insert into authors (wallet_address) values ('0x00000000000000000000000000000000000000aa') returning id`;
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  const texts = ids.map((n) => `image of token ${n}\n`);
  const cids = await Promise.all(texts.map((text) => computeCid(Buffer.from(text), 'raw-leaves')));
  await t.sql`
    insert into content_blobs (cid, media_type, size_bytes, bytes)
    select cid, 'image/png', octet_length(convert_to(text, 'UTF8')), convert_to(text, 'UTF8')
    from unnest(${cids}::text[], ${texts}::text[]) as image(cid, text)`;
  await t.sql`
    insert into tokens_s0 (token_id, author_id, minter_address, mint_timestamp, status, image_cid)
    select n, ${author?.id ?? null}, '0x00000000000000000000000000000000000000aa', now(), 'uploading', cid
    from unnest(${ids}::int[], ${cids}::text[]) as token(n, cid)`;
}

const count = async (where: string) =>
  Number((await t.sql.unsafe<{ n: string }[]>(`select count(*) as n from tokens_s0 where ${where}`))[0]?.n);

describe('IPFS worker processes', { timeout: 240_000 }, () => {
  it('4 processes over 500 tokens: each image and each metadata pinned once, every token ready; SIGTERM exits 0', async () => {
    await uploadingTokens(500);
    const running = [1, 2, 3, 4].map(() => spawnIpfsWorker());
    await waitUntil(async () => (await count(`status = 'ready'`)) === 500, {
      what: '500 tokens ready',
      timeoutMs: 180_000,
      intervalMs: 200,
    });

    const perFile = new Map<string, number>();
    for (const upload of kubo.uploads) perFile.set(upload.fileName, (perFile.get(upload.fileName) ?? 0) + 1);
    assert.equal(perFile.size, 1000, 'an image and a metadata document per token');
    assert.deepEqual([...new Set(perFile.values())], [1], 'nothing was uploaded twice');
    assert.equal(await count(`upload_attempts <> 1 or lease_owner is not null or metadata_cid is null`), 0);
    const records = await t.sql<{ n: number }[]>`
      select count(*)::int as n from ipfs_upload_records where status = 'completed' group by token_id`;
    assert.deepEqual([...new Set(records.map((row) => row.n))], [2], 'two completed uploads per token');

    await assertStopsCleanly(running);
  });

  it('a worker SIGKILLed mid-upload: its tokens reach ready through another worker after the lease expires', async () => {
    await uploadingTokens(12);
    kubo.inject({ kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    const doomed = spawnIpfsWorker({ WORKER_LEASE_SECONDS: '2', IPFS_CONCURRENCY: '4' });
    await waitUntil(() => kubo.uploads.length >= 4, {
      what: 'the doomed worker uploading',
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    doomed.kill('SIGKILL');
    await exited(doomed);
    // Uploads it had started (all hanging); it also held the tokens it had claimed ahead, never started.
    const started = kubo.uploads.length;
    const held = await count(`lease_owner is not null`);
    assert.ok(held >= started, `${held} tokens were leased when it died`);

    const survivor = startSurvivor(
      createIpfsStage({
        database: t.database,
        provider: createKuboProvider({ apiUrl: kubo.url, timeoutMs: 5_000 }),
        settings: survivorSettings,
      }),
      t.database,
    );
    try {
      await waitUntil(async () => (await count(`status = 'ready'`)) === 12, {
        what: 'all 12 ready',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      // The dead worker's tokens were attempted twice: its attempt (its upload rows left `uploading`) and ours.
      assert.equal(await count(`upload_attempts = 2`), held);
      const stuck = await t.sql<{ n: number }[]>`
        select count(*)::int as n from ipfs_upload_records where status = 'uploading'`;
      assert.equal(stuck[0]?.n, started, 'the killed uploads stay visible as uploading');
      for (let n = 1; n <= 12; n += 1) {
        const [token] = await t.sql<
          { image_cid: string }[]
        >`select image_cid from tokens_s0 where token_id = ${n}`;
        assert.ok(token && kubo.pins.has(token.image_cid), `token ${n}'s image is pinned`);
      }
    } finally {
      await survivor.stop(2_000);
    }
  });
});

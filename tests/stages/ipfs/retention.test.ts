// Storage that does not grow forever (issue 14, deliverable 5): with a remote provider, the stored bytes of tokens
// revealed more than IPFS_LOCAL_RETENTION_HOURS ago are deleted; content pinned by `local` (where the store is the
// pin) never is, nor content a token not yet revealed (or revealed recently) still names. Times are set on the
// database clock (revealed_at = now() - N hours), so nothing waits for hours.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config.js';
import type { IpfsRecordStatus, TokenStatus } from '../../../src/db/schema.js';
import * as contentBlobs from '../../../src/repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../../src/repositories/ipfs-upload-records.repository.js';
import { retentionSweepIntervalMs, startContentRetention } from '../../../src/stages/ipfs/retention.js';
import { stageUpkeep } from '../../../src/workers/pipeline.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { cidOf, insertAuthor, insertTokens } from '../../helpers/db-fixtures.js';
import { captureLogs } from '../../helpers/logs.js';
import { waitUntil } from '../../helpers/wait.js';

const RETENTION_HOURS = 168;

type Setup = {
  provider: 'local' | 'kubo' | 'pinata';
  status: TokenStatus;
  revealedHoursAgo?: number;
  uploads?: IpfsRecordStatus;
};

describe('content retention', { timeout: 60_000 }, () => {
  let t: TestDatabase;

  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.drop());
  beforeEach(async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs, ipfs_upload_records cascade`;
  });

  /** Token n with its image and metadata stored, uploaded to `provider`, in `status`, revealed hours ago. */
  async function tokenWithContent(n: number, setup: Setup, imageCid = cidOf(1000 + n)) {
    const metadataCid = cidOf(2000 + n);
    const author = await insertAuthor(t.db, n);
    for (const [cid, mediaType] of [
      [imageCid, 'image/png'],
      [metadataCid, 'application/json'],
    ] as const) {
      await contentBlobs.put(t.db, { cid, mediaType, bytes: Buffer.from(`${cid} bytes`) });
    }
    const [token] = await insertTokens(t.db, author, [n], { status: setup.status, imageCid, metadataCid });
    assert.ok(token);
    if (setup.revealedHoursAgo !== undefined) {
      await t.sql`update tokens_s0 set revealed_at = now() - make_interval(hours => ${setup.revealedHoursAgo})
                  where id = ${token.id}`;
    }
    for (const [recordType, cid] of [
      ['image', imageCid],
      ['metadata', metadataCid],
    ] as const) {
      const status = setup.uploads ?? 'completed';
      await ipfsRecords.add(t.db, {
        tokenRowId: token.id,
        recordType,
        provider: setup.provider,
        computedCid: cid,
        cid: status === 'completed' ? cid : null,
        status,
      });
    }
    return { imageCid, metadataCid };
  }

  const stored = async (cid: string) => contentBlobs.exists(t.db, cid);

  it('deletes what a remote provider pinned for tokens revealed before the retention, and nothing else', async () => {
    const pinata = await tokenWithContent(1, {
      provider: 'pinata',
      status: 'revealed',
      revealedHoursAgo: 169,
    });
    const kubo = await tokenWithContent(2, { provider: 'kubo', status: 'revealed', revealedHoursAgo: 500 });
    const recent = await tokenWithContent(3, {
      provider: 'pinata',
      status: 'revealed',
      revealedHoursAgo: 167,
    });
    const ready = await tokenWithContent(4, { provider: 'pinata', status: 'ready' });
    const local = await tokenWithContent(5, {
      provider: 'local',
      status: 'revealed',
      revealedHoursAgo: 5000,
    });
    const unpinned = await tokenWithContent(6, {
      provider: 'pinata',
      status: 'revealed',
      revealedHoursAgo: 500,
      uploads: 'failed',
    });
    // Token 8 is still in the pipeline with the same image bytes as token 7, revealed long ago.
    const shared = await tokenWithContent(7, {
      provider: 'pinata',
      status: 'revealed',
      revealedHoursAgo: 500,
    });
    const author = await insertAuthor(t.db, 8);
    await insertTokens(t.db, author, [8], { status: 'uploading', imageCid: shared.imageCid });

    const deleted = await contentBlobs.deleteRetired(t.db, { retentionHours: RETENTION_HOURS, limit: 100 });

    assert.deepEqual(
      new Set(deleted),
      new Set([pinata.imageCid, pinata.metadataCid, kubo.imageCid, kubo.metadataCid, shared.metadataCid]),
    );
    for (const cid of deleted) assert.equal(await stored(cid), false, cid);
    for (const [why, cid] of [
      ['revealed 167 h ago, retention 168 h', recent.imageCid],
      ['ready, not revealed', ready.imageCid],
      ['ready, not revealed (metadata)', ready.metadataCid],
      ['pinned by local: the store is the pin', local.imageCid],
      ['pinned by local (metadata)', local.metadataCid],
      ['never pinned remotely (failed uploads only)', unpinned.imageCid],
      ['the image of a token still uploading', shared.imageCid],
    ] as const) {
      assert.equal(await stored(cid), true, why);
    }
  });

  it('deletes in chunks of at most `limit` rows', async () => {
    for (const n of [1, 2, 3]) {
      await tokenWithContent(n, { provider: 'kubo', status: 'revealed', revealedHoursAgo: 200 });
    }
    const first = await contentBlobs.deleteRetired(t.db, { retentionHours: RETENTION_HOURS, limit: 4 });
    const rest = await contentBlobs.deleteRetired(t.db, { retentionHours: RETENTION_HOURS, limit: 4 });
    assert.deepEqual([first.length, rest.length], [4, 2]);
    assert.equal((await t.sql`select count(*)::int as n from content_blobs`)[0]?.n, 0);
  });

  it('the sweep runs at once and then every interval until stopped', async () => {
    const logs = captureLogs();
    const one = await tokenWithContent(1, { provider: 'pinata', status: 'revealed', revealedHoursAgo: 200 });
    const retention = startContentRetention({
      db: t.db,
      logger: logs.logger,
      retentionHours: RETENTION_HOURS,
      everyMs: 50,
    });
    try {
      await waitUntil(async () => !(await stored(one.imageCid)), { what: 'the first sweep' });
      const two = await tokenWithContent(2, {
        provider: 'pinata',
        status: 'revealed',
        revealedHoursAgo: 200,
      });
      await waitUntil(async () => !(await stored(two.metadataCid)), { what: 'a later sweep' });
      await logs.waitFor('content.retired');
    } finally {
      await retention.stop();
    }
    const three = await tokenWithContent(3, {
      provider: 'pinata',
      status: 'revealed',
      revealedHoursAgo: 200,
    });
    assert.equal(await stored(three.imageCid), true, 'nothing is deleted after stop()');
  });

  it('runs with the IPFS stage of a remote provider only; never with local', async () => {
    assert.equal(retentionSweepIntervalMs(168), 3_600_000);
    assert.equal(retentionSweepIntervalMs(0.01), 60_000);
    const upkeep = stageUpkeep.ipfs;
    assert.ok(upkeep);
    const { logger } = captureLogs();
    const deps = (env: Record<string, string>) => ({
      config: loadConfig({ APP_ENV: 'test', ...env }),
      logger,
      database: t.database,
    });
    assert.equal(upkeep(deps({ IPFS_PROVIDER: 'local' })), undefined);
    const remote: Record<string, string>[] = [
      { IPFS_PROVIDER: 'kubo', KUBO_API_URL: 'http://127.0.0.1:1' },
      { IPFS_PROVIDER: 'pinata', PINATA_JWT: 'retention-test-jwt' },
    ];
    for (const env of remote) {
      const running = upkeep(deps(env));
      assert.ok(running, env.IPFS_PROVIDER);
      await running.stop();
    }
  });
});

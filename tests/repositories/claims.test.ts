// Worker claims: FOR UPDATE SKIP LOCKED in one statement that stamps the lease, and compare-and-set writes after.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database, type Executor } from '../../src/db/client.js';
import { tokens, type Author, type Token } from '../../src/db/schema.js';
import { STAGES } from '../../src/domain/stages.js';
import { finishClaimedToken } from '../../src/domain/token-state.js';
import { InvalidStateTransition } from '../../src/errors.js';
import { computeCid } from '../../src/lib/cid.js';
import * as contentBlobs from '../../src/repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../src/repositories/ipfs-upload-records.repository.js';
import { completeClaims, type ClaimCompletion } from '../../src/repositories/token-completions.repository.js';
import * as revealTransactionsRepository from '../../src/repositories/reveal-transactions.repository.js';
import * as tokenClaims from '../../src/repositories/token-claims.repository.js';
import * as tokenQueue from '../../src/repositories/token-queue.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { waitUntil } from '../helpers/wait.js';

let t: TestDatabase;
let author: Author;
const pools: Database[] = [];

function pool(applicationName?: string): Database {
  const created = createDatabase(t.url, { max: 1, ...(applicationName ? { applicationName } : {}) });
  pools.push(created);
  return created;
}

before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await Promise.all(pools.map((p) => p.close(1)));
  await t.drop();
});
beforeEach(async () => {
  await t.sql`truncate tokens_s0, authors cascade`;
  author = await insertAuthor(t.db, 1);
});

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
const tokenIds = (rows: readonly Token[]) => rows.map((row) => row.tokenId).sort((a, b) => a - b);

/**
 * Claims in its own committed transaction, as a worker does. A claim never waits for a row lock (it skips locked
 * rows): lock_timeout turns a wait into error 55P03 after 2 s, so a claim that blocks fails its test clearly
 * instead of hanging the file (and every test after it) until the timeout.
 */
function claimImage(db: Executor, owner: string, limit: number, leaseSeconds = 60): Promise<Token[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`set local lock_timeout = '2s'`);
    return tokenClaims.claimTokens(tx, STAGES.image, { owner, leaseSeconds, limit }).then((c) => c.tokens);
  });
}

describe('concurrent claimers', { timeout: 30_000 }, () => {
  it('4 claimers on separate connections claim each of 200 detected tokens exactly once', async () => {
    await insertTokens(t.db, author, range(1, 200));
    const claimers = range(1, 4).map((n) => ({ owner: `worker-${n}`, db: pool().db, got: [] as Token[] }));
    // Connected before the start, so that no claimer is still connecting while the others take all the work.
    await Promise.all(claimers.map((claimer) => claimer.db.execute(sql`select 1`)));
    await Promise.all(
      claimers.map(async (claimer) => {
        for (;;) {
          // Holding the claim transaction open a moment makes the others run into the locked rows.
          const batch = await claimer.db.transaction(async (tx) => {
            const rows = await tokenClaims
              .claimTokens(tx, STAGES.image, {
                owner: claimer.owner,
                leaseSeconds: 60,
                limit: 5,
              })
              .then((c) => c.tokens);
            await tx.execute(sql`select pg_sleep(0.005)`);
            return rows;
          });
          if (batch.length === 0) return;
          claimer.got.push(...batch);
        }
      }),
    );
    const all = claimers.flatMap((claimer) => claimer.got);
    assert.equal(all.length, 200, 'no token claimed twice');
    assert.deepEqual(tokenIds(all), range(1, 200), 'every token claimed');
    for (const claimer of claimers) assert.ok(claimer.got.length > 0, `${claimer.owner} claimed some`);

    const stored = await t.sql<
      { token_id: number; status: string; lease_owner: string; generation_attempts: number; live: boolean }[]
    >`
      select token_id, status, lease_owner, generation_attempts, lease_expires_at > now() as live from tokens_s0`;
    const ownerOf = new Map(
      claimers.flatMap((claimer) => claimer.got.map((row) => [row.tokenId, claimer.owner])),
    );
    for (const row of stored) {
      assert.equal(row.status, 'generating');
      assert.equal(row.generation_attempts, 1);
      assert.equal(row.live, true);
      assert.equal(row.lease_owner, ownerOf.get(row.token_id), `token ${row.token_id}`);
    }
  });

  it('a claimer that rolls back frees its rows for the next claimer, attempts untouched', async () => {
    await insertTokens(t.db, author, range(1, 30));
    const a = pool().db;
    const b = pool().db;
    let releaseA: () => void = () => {};
    const aMayEnd = new Promise<void>((resolve) => (releaseA = resolve));
    let aClaimed: Token[] = [];
    let aHolds: () => void = () => {};
    const aHolding = new Promise<void>((resolve) => (aHolds = resolve));
    const aDone = a
      .transaction(async (tx) => {
        aClaimed = await tokenClaims
          .claimTokens(tx, STAGES.image, {
            owner: 'worker-a',
            leaseSeconds: 60,
            limit: 10,
          })
          .then((c) => c.tokens);
        aHolds();
        await aMayEnd;
        throw new Error('worker-a crashed before committing');
      })
      .catch((error: unknown) => error);
    await aHolding;
    assert.equal(aClaimed.length, 10);

    try {
      const bFirst = await claimImage(b, 'worker-b', 100);
      assert.equal(bFirst.length, 20, 'the rows worker-a holds are skipped, not waited for');
      assert.deepEqual(
        tokenIds(bFirst).filter((id) => tokenIds(aClaimed).includes(id)),
        [],
      );
    } finally {
      releaseA();
    }
    assert.match(String(await aDone), /crashed/);
    const bSecond = await claimImage(b, 'worker-b', 100);
    assert.deepEqual(tokenIds(bSecond), tokenIds(aClaimed));
    for (const row of bSecond) assert.equal(row.generationAttempts, 1, 'worker-a increment rolled back');
  });

  it('a claimer process killed mid-transaction frees its rows', async () => {
    await insertTokens(t.db, author, range(1, 10));
    // A real worker process that claims, then hangs with its transaction open until SIGKILL: the server sees the
    // connection drop and rolls back. (Terminating the backend under an in-process postgres.js transaction is
    // not used here: postgres.js 3.4.9 then throws an uncaught TypeError, porsager/postgres#1208.)
    const code = `
      const { createDatabase } = await import(${JSON.stringify(new URL('../../src/db/client.ts', import.meta.url).href)});
      const queue = await import(${JSON.stringify(new URL('../../src/repositories/token-claims.repository.ts', import.meta.url).href)});
      const { STAGES } = await import(${JSON.stringify(new URL('../../src/domain/stages.ts', import.meta.url).href)});
      const { db } = createDatabase(process.env.CLAIMER_URL, { max: 1, applicationName: 'claims-doomed' });
      await db.transaction(async (tx) => {
        const { tokens: rows } = await queue.claimTokens(tx, STAGES.image, { owner: 'doomed', leaseSeconds: 60, limit: 10 });
        process.stdout.write(JSON.stringify(rows.map((row) => row.tokenId)) + '\\n');
        await new Promise(() => setInterval(() => {}, 1000));
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, CLAIMER_URL: t.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      const [line] = (await Promise.race([
        once(createInterface({ input: child.stdout }), 'line'),
        exited.then(() => {
          throw new Error('the claimer process exited before claiming');
        }),
        sleep(20_000, undefined, { ref: false }).then(() => {
          throw new Error('the claimer process did not claim within 20 s');
        }),
      ])) as [string];
      assert.deepEqual(JSON.parse(line), range(1, 10));
      const other = pool().db;
      assert.deepEqual(
        await claimImage(other, 'survivor', 100),
        [],
        'rows locked by the live claimer are skipped',
      );

      child.kill('SIGKILL');
      await exited;
      await waitUntil(
        async () =>
          (await t.sql`select 1 from pg_stat_activity where application_name = 'claims-doomed'`).length === 0,
        { what: 'the server noticing the dead claimer' },
      );
      const reclaimed = await claimImage(other, 'survivor', 100);
      assert.deepEqual(tokenIds(reclaimed), range(1, 10));
      for (const row of reclaimed) {
        assert.equal(row.leaseOwner, 'survivor');
        assert.equal(row.generationAttempts, 1, 'the increment of the dead claimer was rolled back');
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('leases', { timeout: 30_000 }, () => {
  it('a live lease is not reclaimable, an expired one is, and the old owner then loses its writes', async () => {
    await insertTokens(t.db, author, range(1, 6));
    const live = await claimImage(t.db, 'worker-live', 3, 60);
    // A lease that expired a second ago: no waiting for a clock to pass it.
    const shortLived = await claimImage(t.db, 'worker-slow', 3, -1);
    assert.deepEqual(tokenIds(live), [1, 2, 3], 'oldest first');
    assert.deepEqual(tokenIds(shortLived), [4, 5, 6]);

    const taken = await claimImage(t.db, 'worker-new', 100);
    assert.deepEqual(tokenIds(taken), [4, 5, 6], 'the expired leases, never the live ones');
    for (const row of taken) {
      assert.equal(row.status, 'generating');
      assert.equal(row.leaseOwner, 'worker-new');
      assert.equal(row.generationAttempts, 2);
    }
    assert.deepEqual(await claimImage(t.db, 'worker-new', 100), [], 'the live leases still hold');

    const [stale] = shortLived;
    assert.ok(stale);
    assert.equal(await finishClaimedToken(t.db, stale, 'uploading', { imageCid: cidOf(1) }), undefined);
    assert.equal(await tokenQueue.releaseLease(t.db, stale), undefined);
    assert.equal(
      await tokenQueue.scheduleRetry(t.db, stale, 'detected', 0, { code: 'X', message: 'x' }),
      undefined,
    );
    assert.equal(await tokenQueue.extendLease(t.db, stale, 60), undefined);
    const after = await tokensRepository.getById(t.db, stale.id);
    assert.equal(after?.leaseOwner, 'worker-new');
    assert.equal(after?.status, 'generating');
    assert.equal(after?.imageCid, null);

    const [mine] = live;
    assert.ok(mine);
    const finished = await finishClaimedToken(t.db, mine, 'uploading', { imageCid: cidOf(2) });
    assert.equal(finished?.status, 'uploading');
    assert.equal(finished?.imageCid, cidOf(2));
    assert.equal(finished?.leaseOwner, null);
    assert.equal(finished?.leaseExpiresAt, null);
  });

  it('extendLease keeps a claim alive past its first expiry', async () => {
    await insertTokens(t.db, author, [1]);
    // Claimed with a lease already past its expiry: without the extension, worker-b would take it over.
    const [claimed] = await claimImage(t.db, 'worker-a', 1, -1);
    assert.ok(claimed);
    const extended = await tokenQueue.extendLease(t.db, claimed, 60);
    assert.ok(extended?.leaseExpiresAt && claimed.leaseExpiresAt);
    assert.ok(extended.leaseExpiresAt.getTime() > claimed.leaseExpiresAt.getTime() + 30_000);
    assert.deepEqual(await claimImage(t.db, 'worker-b', 10), []);
  });

  it('releaseLease and scheduleRetry hand the token back, at once or after the delay', async () => {
    await insertTokens(t.db, author, [1, 2]);
    const [first, second] = (await claimImage(t.db, 'worker-a', 2)).sort((x, y) => x.tokenId - y.tokenId);
    assert.ok(first && second);
    assert.equal(await tokenQueue.releaseLease(t.db, { ...first, leaseOwner: 'someone-else' }), undefined);

    const released = await tokenQueue.releaseLease(t.db, first);
    assert.equal(released?.leaseOwner, null);
    assert.equal(released?.status, 'generating');
    const errorData = { code: 'RATE_LIMITED', message: '429', transient: true };
    const delayed = await tokenQueue.scheduleRetry(t.db, second, 'detected', 60, errorData);
    assert.equal(delayed?.status, 'detected', 'back to the start of the stage');
    assert.deepEqual(delayed?.errorData, errorData);
    assert.equal(delayed?.leaseOwner, null);
    assert.ok(delayed && delayed.nextAttemptAt.getTime() > Date.now() + 30_000);

    const again = await claimImage(t.db, 'worker-b', 10);
    assert.deepEqual(tokenIds(again), [1], 'the released token at once, the delayed one not yet');
    assert.equal(again[0]?.generationAttempts, 2);

    await t.sql`update tokens_s0 set next_attempt_at = now() - interval '1 second' where id = ${second.id}`;
    assert.deepEqual(tokenIds(await claimImage(t.db, 'worker-b', 10)), [2]);
  });

  it('claims the due tokens with the earliest next attempt first', async () => {
    const now = Date.now();
    await insertTokens(t.db, author, [1], { nextAttemptAt: new Date(now - 1_000) });
    await insertTokens(t.db, author, [2], { nextAttemptAt: new Date(now - 5_000) });
    await insertTokens(t.db, author, [3], { nextAttemptAt: new Date(now - 3_000) });
    await insertTokens(t.db, author, [4], { nextAttemptAt: new Date(now - 3_000) });
    await insertTokens(t.db, author, [5], { nextAttemptAt: new Date(now + 600_000) });
    assert.deepEqual(tokenIds(await claimImage(t.db, 'w', 1)), [2]);
    assert.deepEqual(tokenIds(await claimImage(t.db, 'w', 1)), [3]);
    assert.deepEqual(tokenIds(await claimImage(t.db, 'w', 2)), [1, 4]);
    assert.deepEqual(await claimImage(t.db, 'w', 10), [], 'not before next_attempt_at');
  });
});

describe('stages', { timeout: 30_000 }, () => {
  it('each stage claims only its own status and counts its own attempts', async () => {
    await insertTokens(t.db, author, [1], { status: 'detected' });
    await insertTokens(t.db, author, [2], { status: 'uploading', imageCid: cidOf(2) });
    await insertTokens(t.db, author, [3], { status: 'ready', imageCid: cidOf(3), metadataCid: cidOf(30) });
    await insertTokens(t.db, author, [4], { status: 'revealed', imageCid: cidOf(4), metadataCid: cidOf(40) });
    await insertTokens(t.db, author, [5], { status: 'failed', errorData: { code: 'X', message: 'x' } });
    await insertTokens(t.db, author, [6], {
      status: 'uploading',
      imageCid: cidOf(6),
      leaseOwner: 'alive',
      leaseExpiresAt: new Date(Date.now() + 600_000),
    });
    await insertTokens(t.db, author, [7], {
      status: 'ready',
      imageCid: cidOf(7),
      metadataCid: cidOf(70),
      leaseOwner: 'dead',
      leaseExpiresAt: new Date(Date.now() - 1_000),
    });
    const options = { owner: 'stage-worker', leaseSeconds: 60, limit: 100 };

    const uploads = await t.db.transaction((tx) =>
      tokenClaims.claimTokens(tx, STAGES.ipfs, options).then((c) => c.tokens),
    );
    assert.deepEqual(tokenIds(uploads), [2]);
    assert.deepEqual(
      uploads.map((row) => [row.status, row.generationAttempts, row.uploadAttempts, row.revealAttempts]),
      [['uploading', 0, 1, 0]],
    );

    const reveals = await t.db.transaction((tx) =>
      tokenClaims.claimTokens(tx, STAGES.reveal, options).then((c) => c.tokens),
    );
    assert.deepEqual(tokenIds(reveals), [3, 7], 'the expired lease of token 7 included');
    for (const row of reveals) {
      assert.equal(row.status, 'ready');
      assert.equal(row.revealAttempts, 1);
      assert.equal(row.uploadAttempts, 0);
      assert.equal(row.leaseOwner, 'stage-worker');
    }

    const images = await t.db.transaction((tx) =>
      tokenClaims.claimTokens(tx, STAGES.image, options).then((c) => c.tokens),
    );
    assert.deepEqual(tokenIds(images), [1]);
    assert.equal(images[0]?.status, 'generating');

    const [four, five, six] = await Promise.all(
      [4, 5, 6].map((id) => tokensRepository.getByTokenId(t.db, id)),
    );
    assert.equal(four?.revealAttempts, 0);
    assert.equal(five?.status, 'failed');
    assert.equal(six?.leaseOwner, 'alive');
  });

  it('a generating token without a lease (released to retry) is claimable by the image stage', async () => {
    await insertTokens(t.db, author, [1], { status: 'generating', generationAttempts: 1 });
    const [row] = await claimImage(t.db, 'w', 10);
    assert.equal(row?.tokenId, 1);
    assert.equal(row?.generationAttempts, 2);
  });

  it('the reveal stage never claims a token that an unfinished reveal transaction names', async () => {
    const ready = { status: 'ready' as const, imageCid: cidOf(1), metadataCid: cidOf(2) };
    const [one, two, three] = await insertTokens(t.db, author, [1, 2, 3], ready);
    assert.ok(one && two && three);
    const pending = await revealTransactionsRepository.add(t.db, {
      tokenRowIds: [one.id],
      status: 'pending',
    });
    const sent = await revealTransactionsRepository.add(t.db, {
      tokenRowIds: [two.id],
      status: 'sent',
      txHash: `0x${'ab'.repeat(32)}`,
    });
    const options = { owner: 'revealer', leaseSeconds: 60, limit: 10 };

    const first = await t.db.transaction((tx) =>
      tokenClaims.claimTokens(tx, STAGES.reveal, options).then((c) => c.tokens),
    );
    assert.deepEqual(tokenIds(first), [3], 'tokens 1 and 2 may still be revealed by their transactions');

    // Settled transactions release their tokens: a failed one to be sent again, a confirmed one is irrelevant.
    await revealTransactionsRepository.update(t.db, pending.id, { status: 'failed' });
    await revealTransactionsRepository.update(t.db, sent.id, { status: 'confirmed' });
    await tokenQueue.releaseLease(t.db, first[0] ?? three);
    const second = await t.db.transaction((tx) =>
      tokenClaims.claimTokens(tx, STAGES.reveal, options).then((c) => c.tokens),
    );
    assert.deepEqual(tokenIds(second), [1, 2, 3]);
  });

  it('the image claim reads tokens_s0_image_claim_idx in order, without a sort', async () => {
    await insertTokens(t.db, author, range(1, 200));
    await t.db.execute(sql`analyze tokens_s0`);
    const query = t.db
      .select({ id: tokens.id })
      .from(tokens)
      .where(
        sql`(status = 'detected' OR (status = 'generating' AND (lease_expires_at IS NULL OR lease_expires_at < now()))) AND next_attempt_at <= now()`,
      )
      .orderBy(tokens.nextAttemptAt, tokens.tokenId)
      .limit(10)
      .toSQL();
    // 200 rows fit one page, so make the planner show the plan it would choose for a large table.
    const plan = await t.sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      return tx.unsafe(`explain ${query.sql}`, query.params as never[]);
    });
    const text = plan.map((row) => String(row['QUERY PLAN'])).join('\n');
    assert.match(text, /tokens_s0_image_claim_idx/);
    assert.doesNotMatch(text, /Sort/);
  });

  it('finishing a claim goes through the transition table', async () => {
    await insertTokens(t.db, author, [1]);
    const [claimed] = await claimImage(t.db, 'w', 1);
    assert.ok(claimed);
    await assert.rejects(
      finishClaimedToken(t.db, claimed, 'ready', { imageCid: cidOf(1), metadataCid: cidOf(2) }),
      (error: unknown) =>
        error instanceof InvalidStateTransition &&
        /Token 1 cannot move from generating to ready/.test(error.message),
    );
    assert.equal((await tokensRepository.getById(t.db, claimed.id))?.status, 'generating');
    const failed = await finishClaimedToken(t.db, claimed, 'failed', {
      errorData: { code: 'CONTENT_POLICY', message: 'refused twice' },
    });
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.leaseOwner, null);
  });
});

describe('grouped finishes: blobs and rows in the same statement', { timeout: 30_000 }, () => {
  /** The IPFS stage's finishRows: its upload records. */
  const recordRows = (sql: Parameters<typeof ipfsRecords.insertFragment>[0], rows: readonly unknown[]) =>
    ipfsRecords.insertFragment(sql, rows as ipfsRecords.NewRecord[]);
  const recordOf = (token: Token, cid: string): ipfsRecords.NewRecord => ({
    tokenRowId: token.id,
    recordType: 'image',
    provider: 'local',
    computedCid: cid,
    cid,
    status: 'completed',
    retryCount: 0,
  });
  type Blob = contentBlobs.ContentBlobInput;
  beforeEach(async () => {
    await t.sql`truncate content_blobs`;
  });
  async function blobOf(size: number, seed: number): Promise<Blob & { bytes: Buffer }> {
    const bytes = Buffer.alloc(size, 0);
    for (let i = 0; i < size; i += 1) bytes[i] = (i * 31 + seed * 17) % 251;
    return { cid: await computeCid(bytes, 'raw-leaves'), mediaType: 'image/png' as const, bytes };
  }
  /** Three claimed tokens; the third's lease taken by another worker. */
  async function claimThree(): Promise<Token[]> {
    await insertTokens(t.db, author, [1, 2, 3]);
    const claimed = await claimImage(t.db, 'w', 3);
    await t.sql`update tokens_s0 set lease_owner = 'another' where token_id = 3`;
    return claimed.sort((a, b) => a.tokenId - b.tokenId);
  }
  const recordCount = async () =>
    (await t.sql<{ n: number }[]>`select count(*)::int as n from ipfs_upload_records`)[0]?.n;
  const blobCount = async () =>
    (await t.sql<{ n: number }[]>`select count(*)::int as n from content_blobs`)[0]?.n;

  it("stores every completion's blobs, each cut exactly from the one parameter, and its rows, lease lost or not", async () => {
    const claimed = await claimThree();
    // Sizes around PostgreSQL's out-of-line chunk (about 2 KB) and a 100 KB image; the same CID twice is stored once.
    const blobs = await Promise.all([blobOf(1, 1), blobOf(2_000, 2), blobOf(2_001, 3), blobOf(100_000, 4)]);
    const [b0, b1, b2, b3] = blobs as [Blob, Blob, Blob, Blob];
    const perToken = [
      [b0, b3],
      [b1, b1],
      [b2, b2],
    ];
    const completions: ClaimCompletion[] = claimed.map((token, k) => ({
      ref: token,
      to: 'uploading',
      changes: { imageCid: blobs[k]?.cid ?? null },
      blobs: perToken[k],
      rows: [recordOf(token, blobs[k]?.cid ?? '')],
    }));
    const moved = await completeClaims(t.db, completions, { rows: recordRows });
    assert.deepEqual(
      [...moved].sort(),
      [claimed[0]?.id, claimed[1]?.id].sort(),
      'the lost lease did not move',
    );
    for (const blob of blobs) {
      const stored = await contentBlobs.get(t.db, blob.cid);
      assert.equal(stored?.sizeBytes, blob.bytes.byteLength, blob.cid);
      assert.ok(Buffer.from(stored?.bytes ?? []).equals(blob.bytes), `the bytes of ${blob.cid}`);
    }
    assert.equal(await blobCount(), 4);
    // The work of the token that lost its lease was done: its record and its blob are kept all the same.
    const third = claimed[2];
    assert.ok(third);
    assert.equal((await ipfsRecords.listByToken(t.db, third.id)).length, 1);
    assert.equal(await recordCount(), 3);
  });

  it('a blob the store refuses fails the whole finish: no token moves, nothing is stored', async () => {
    const claimed = await claimThree();
    const good = await blobOf(5_000, 5);
    const refused = { ...(await blobOf(10, 6)), mediaType: 'text/plain' as 'image/png' };
    await assert.rejects(
      completeClaims(
        t.db,
        claimed.slice(0, 2).map((token, k) => ({
          ref: token,
          to: 'uploading',
          changes: { imageCid: good.cid },
          blobs: [k === 0 ? good : refused],
          rows: [recordOf(token, good.cid)],
        })),
        { rows: recordRows },
      ),
      /content_blobs_media_type_valid/,
    );
    const statuses = await t.sql`select status, lease_owner from tokens_s0 order by token_id`;
    assert.deepEqual(
      statuses.map((row) => `${row.status as string}/${row.lease_owner as string}`),
      ['generating/w', 'generating/w', 'generating/another'],
    );
    assert.equal(await blobCount(), 0);
    assert.equal(await recordCount(), 0);
  });

  it("rows without the stage's FinishRowsSql are refused before anything is written", async () => {
    const [first] = await claimThree();
    assert.ok(first);
    const blob = await blobOf(10, 7);
    await assert.rejects(
      completeClaims(t.db, [
        { ref: first, to: 'uploading', changes: { imageCid: blob.cid }, blobs: [blob], rows: [{}] },
      ]),
      /no FinishRowsSql/,
    );
    assert.equal((await tokensRepository.getById(t.db, first.id))?.status, 'generating');
    assert.equal(await blobCount(), 0);
  });
});

describe('releases and reveal writes', { timeout: 30_000 }, () => {
  const ready = (id: number) => ({
    status: 'ready' as const,
    imageCid: cidOf(id),
    metadataCid: cidOf(id + 100),
  });

  it('releaseClaim sends a token back to its stage start, claimable at once; only a refund gives the attempt back', async () => {
    await insertTokens(t.db, author, [1, 2]);
    const [first, second] = await claimImage(t.db, 'worker-a', 2);
    assert.ok(first && second);
    assert.equal(first.generationAttempts, 1);
    const refunded = await tokenQueue.releaseClaim(t.db, first, STAGES.image, { refundAttempt: true });
    const kept = await tokenQueue.releaseClaim(t.db, second, STAGES.image, { refundAttempt: false });
    assert.deepEqual(
      [refunded, kept].map((row) => [row?.status, row?.generationAttempts, row?.leaseOwner]),
      [
        ['detected', 0, null],
        ['detected', 1, null],
      ],
    );
    assert.deepEqual(tokenIds(await claimImage(t.db, 'worker-b', 10)), [1, 2]);
  });

  it('releaseForReveal caps the backoff at backoffCapSeconds, and grows it below the cap', async () => {
    const rows = [
      ...(await insertTokens(t.db, author, [1], { ...ready(1), revealAttempts: 1 })),
      ...(await insertTokens(t.db, author, [2], { ...ready(2), revealAttempts: 10 })),
    ];
    const [{ now }] = await t.sql<[{ now: Date }]>`select now() as now`;
    const moved = await tokenQueue.releaseForReveal(
      t.db,
      rows.map((row) => row.id),
      {
        errorData: { code: 'REVERTED', message: 'x' },
        maxAttempts: 20,
        backoffBaseSeconds: 60,
        backoffCapSeconds: 300,
      },
    );
    assert.deepEqual(moved, [
      { tokenId: 1, status: 'ready' },
      { tokenId: 2, status: 'ready' },
    ]);
    const delays = await t.sql<{ token_id: number; seconds: number }[]>`
      select token_id, extract(epoch from next_attempt_at - ${now}::timestamptz)::float8 as seconds
      from tokens_s0 order by token_id`;
    const seconds = delays.map((row) => Math.round(Number(row.seconds)));
    // base x 2^(attempts - 1): 60 s after the first attempt; after the tenth 60 x 512 s, capped at 300 s.
    assert.deepEqual(seconds, [60, 300]);
  });

  it('markRevealed writes only the tokens still ready: an operator move in between is kept', async () => {
    const [one, two] = await insertTokens(t.db, author, [1, 2], ready(1));
    assert.ok(one && two);
    await t.sql`update tokens_s0 set status = 'failed', error_data = '{"code":"OPERATOR","message":"x"}'
      where id = ${two.id}`;
    const revealed = await tokenQueue.markRevealed(t.db, [one.id, two.id], `0x${'ab'.repeat(32)}`);
    assert.deepEqual(revealed, [1]);
    const stored = await Promise.all([one.id, two.id].map((id) => tokensRepository.getById(t.db, id)));
    assert.deepEqual(
      stored.map((row) => [row?.tokenId, row?.status, row?.revealTxHash]),
      [
        [1, 'revealed', `0x${'ab'.repeat(32)}`],
        [2, 'failed', null],
      ],
    );
  });
});

// The stage runtime's grouped finishing writes: one statement for a group's successful finishes, each row its own
// compare-and-set; a group the database refuses is retried write by write; the NOTIFY goes with the commit.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { TOKENS_CHANNEL } from '../../src/db/channels.js';
import type { Executor } from '../../src/db/client.js';
import type { Author, Token } from '../../src/db/schema.js';
import { STAGES } from '../../src/domain/stages.js';
import { finishClaimedTokens } from '../../src/domain/token-state.js';
import { InvalidStateTransition } from '../../src/errors.js';
import * as tokenClaims from '../../src/repositories/token-claims.repository.js';
import * as tokenQueue from '../../src/repositories/token-queue.repository.js';
import { imageAttemptRecorder } from '../../src/stages/image/image.stage.js';
import { createFinishWriter } from '../../src/workers/finish-writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { within } from '../helpers/wait.js';

let t: TestDatabase;
let author: Author;

before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});
beforeEach(async () => {
  await t.sql`truncate tokens_s0, authors cascade`;
  author = await insertAuthor(t.db, 1);
});

async function claim(count: number, owner = 'worker-a'): Promise<Token[]> {
  await insertTokens(
    t.db,
    author,
    Array.from({ length: count }, (_, i) => i + 1),
  );
  return tokenClaims
    .claimTokens(t.db, STAGES.image, { owner, leaseSeconds: 60, limit: count })
    .then((c) => c.tokens);
}

describe('finishClaimedTokens (one statement)', () => {
  it('moves the tokens still owned with their own changes, and skips one whose lease was taken over', async () => {
    const [a, b, c] = await claim(3);
    assert.ok(a && b && c);
    // b's lease expired and another worker claimed it.
    await t.sql`update tokens_s0 set lease_owner = 'worker-b' where id = ${b.id}`;
    const moved = await finishClaimedTokens(t.db, [
      { token: a, to: 'uploading', changes: { imageCid: cidOf(1), errorData: null } },
      { token: b, to: 'uploading', changes: { imageCid: cidOf(2) } },
      { token: c, to: 'uploading', changes: { imageCid: cidOf(3), generationAttempts: 7 } },
    ]);
    assert.deepEqual([...moved].sort(), [a.id, c.id].sort());
    const rows = await t.sql<
      { token_id: number; status: string; image_cid: string | null; attempts: number; lease: string | null }[]
    >`select token_id, status, image_cid, generation_attempts as attempts, lease_owner as lease
      from tokens_s0 order by token_id`;
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [
        { token_id: 1, status: 'uploading', image_cid: cidOf(1), attempts: 1, lease: null },
        { token_id: 2, status: 'generating', image_cid: null, attempts: 1, lease: 'worker-b' },
        { token_id: 3, status: 'uploading', image_cid: cidOf(3), attempts: 7, lease: null },
      ],
    );
  });

  it('refuses a move the transition table forbids, writing nothing', async () => {
    const [a, b] = await claim(2);
    assert.ok(a && b);
    await assert.rejects(
      finishClaimedTokens(t.db, [
        { token: a, to: 'uploading', changes: { imageCid: cidOf(1) } },
        { token: b, to: 'revealed' },
      ]),
      InvalidStateTransition,
    );
    const [row] = await t.sql<
      { n: number }[]
    >`select count(*)::int as n from tokens_s0 where status = 'generating'`;
    assert.equal(row?.n, 2);
  });
});

describe('claim and finish statements with attempts rows', () => {
  it('the claim begins an attempts row per live token; the finish closes only those that moved, NOTIFY only then', async () => {
    await insertTokens(t.db, author, [1, 2, 3, 4]);
    // Token 4 used its attempts in claims that never finished: claimed, but no attempts row for it.
    await t.sql`update tokens_s0 set generation_attempts = 3 where token_id = 4`;
    const recorder = imageAttemptRecorder('fake');
    const { tokens: claimed } = await tokenClaims.claimTokens(t.db, STAGES.image, {
      owner: 'worker-a',
      leaseSeconds: 60,
      limit: 10,
      attempts: { sql: recorder, maxAttempts: 3 },
    });
    const [a, b, c, d] = claimed;
    assert.ok(a && b && c && d);
    assert.deepEqual(
      claimed.map((token) => [token.tokenId, token.attemptId !== undefined]),
      [
        [1, true],
        [2, true],
        [3, true],
        [4, false],
      ],
    );
    const jobStatuses = async () =>
      (
        await t.sql<{ token_id: number; status: string; retry_count: number }[]>`
          select t.token_id, j.status, j.retry_count from image_generation_jobs j
          join tokens_s0 t on t.id = j.token_id order by t.token_id`
      ).map((row) => [row.token_id, row.status, row.retry_count]);
    assert.deepEqual(await jobStatuses(), [
      [1, 'running', 0],
      [2, 'running', 0],
      [3, 'running', 0],
    ]);

    const notified: string[] = [];
    const listening = await t.sql.listen(TOKENS_CHANNEL, (payload) => notified.push(payload));
    const finish = (tokens: readonly tokenClaims.ClaimedToken[], notify: 'uploading' | 'ready') =>
      finishClaimedTokens(
        t.db,
        tokens.map((token) => ({
          token,
          to: 'uploading',
          changes: { imageCid: cidOf(token.tokenId) },
          attempt: token.attemptId
            ? { id: token.attemptId, outcome: recorder.outcome({ status: 'completed', details: {} }) }
            : undefined,
        })),
        { attempts: recorder, notify },
      );
    // b's lease expired and another worker claimed it.
    await t.sql`update tokens_s0 set lease_owner = 'worker-b' where id = ${b.id}`;
    assert.deepEqual([...(await finish([a, b], 'uploading'))], [a.id]);
    assert.deepEqual(await jobStatuses(), [
      [1, 'completed', 0],
      [2, 'running', 0],
      [3, 'running', 0],
    ]);
    // Nothing moves: no NOTIFY ('ready' would arrive before the next 'uploading').
    assert.deepEqual([...(await finish([b], 'ready'))], []);
    assert.deepEqual([...(await finish([c], 'uploading'))], [c.id]);
    await within(
      (async () => {
        while (notified.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5_000,
      'the NOTIFYs',
    );
    await listening.unlisten();
    assert.deepEqual(notified, ['uploading', 'uploading']);
    assert.deepEqual(await jobStatuses(), [
      [1, 'completed', 0],
      [2, 'running', 0],
      [3, 'completed', 0],
    ]);
  });

  it('a claim says when the next waiting token it did not take is due: 0 when one is due now', async () => {
    await insertTokens(t.db, author, [1, 2, 3, 4]);
    await t.sql`update tokens_s0 set next_attempt_at = now() + interval '30 seconds' where token_id in (3, 4)`;
    const options = { owner: 'worker-a', leaseSeconds: 60 };
    // Full with another one due now: 0 (the runner claims on at once).
    const full = await tokenClaims.claimTokens(t.db, STAGES.image, { ...options, limit: 1 });
    assert.deepEqual([full.tokens.map((token) => token.tokenId), full.nextDueSeconds], [[1], 0]);
    // Full and nothing more due now: the next due time (the runner sleeps instead of an empty claim).
    const fullLater = await tokenClaims.claimTokens(t.db, STAGES.image, { ...options, limit: 1 });
    assert.deepEqual(
      fullLater.tokens.map((token) => token.tokenId),
      [2],
    );
    assert.ok(
      fullLater.nextDueSeconds !== undefined && fullLater.nextDueSeconds > 25,
      `next due in ${fullLater.nextDueSeconds} s`,
    );
    await t.sql`delete from tokens_s0 where token_id = 4`;
    await t.sql`update tokens_s0 set status = 'detected', lease_owner = null, lease_expires_at = null where token_id = 2`;
    const short = await tokenClaims.claimTokens(t.db, STAGES.image, { ...options, limit: 5 });
    assert.deepEqual(
      short.tokens.map((token) => token.tokenId),
      [2],
    );
    assert.ok(
      short.nextDueSeconds !== undefined && short.nextDueSeconds > 25 && short.nextDueSeconds <= 30,
      `next due in ${short.nextDueSeconds} s`,
    );
    const none = await tokenClaims.claimTokens(t.db, STAGES.image, { ...options, limit: 5 });
    assert.equal(none.tokens.length, 0);
    assert.ok(none.nextDueSeconds !== undefined && none.nextDueSeconds > 25);
    await t.sql`delete from tokens_s0 where token_id = 3`;
    const empty = await tokenClaims.claimTokens(t.db, STAGES.image, { ...options, limit: 5 });
    assert.deepEqual([empty.tokens.length, empty.nextDueSeconds], [0, undefined]);
  });
});

describe('createFinishWriter', () => {
  it('writes the finishes that come together as one group, with one NOTIFY of the next status', async () => {
    const claimed = await claim(5);
    const notified: string[] = [];
    const listening = await t.sql.listen(TOKENS_CHANNEL, (payload) => notified.push(payload));
    const groups: number[] = [];
    const write = createFinishWriter<Token>({
      database: t.database,
      onGroup: (size) => groups.push(size),
      completeMany: async (db, completes) => {
        const moved = await finishClaimedTokens(
          db,
          completes.map((token) => ({ token, to: 'uploading', changes: { imageCid: cidOf(token.tokenId) } })),
          { notify: 'uploading' },
        );
        return completes.map((token) => moved.has(token.id));
      },
    });
    const applied = await Promise.all(claimed.map((token) => write({ complete: token })));
    assert.deepEqual(applied, [true, true, true, true, true]);
    assert.deepEqual(groups, [5], 'one group for the five');
    await within(
      (async () => {
        while (notified.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5_000,
      'the NOTIFY',
    );
    await listening.unlisten();
    assert.deepEqual(notified, ['uploading']);
  });

  it('retries a refused group write by write: only the bad write fails', async () => {
    const [a, b, c] = await claim(3);
    assert.ok(a && b && c);
    const write = createFinishWriter<Token>({
      database: t.database,
      completeMany: () => Promise.resolve([]),
    });
    const move = (token: Token, imageCid: string) => ({
      apply: async (tx: Executor) =>
        (await tokenQueue.completeClaim(tx, token, 'uploading', { imageCid })) !== undefined,
    });
    const results = await Promise.allSettled([
      write(move(a, cidOf(1))),
      // Refused by the image_cid CHECK: the whole group's transaction fails.
      write(move(b, 'not-a-cid')),
      write(move(c, cidOf(3))),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const rows = await t.sql<{ token_id: number; status: string }[]>`
      select token_id, status from tokens_s0 order by token_id`;
    assert.deepEqual(
      rows.map((r) => [r.token_id, r.status]),
      [
        [1, 'uploading'],
        [2, 'generating'],
        [3, 'uploading'],
      ],
    );
  });

  describe('gathering while other units work', () => {
    /** A writer whose "statement" only records the groups it was given; `more` says whether others still work. */
    function gatheringWriter(options: { size: number; holdMs: number; more: () => boolean }) {
      const groups: number[][] = [];
      const write = createFinishWriter<number>({
        database: t.database,
        gather: options,
        completeMany: (_db, completes) => {
          groups.push([...completes]);
          return Promise.resolve(completes.map(() => true));
        },
      });
      return { write, groups };
    }

    it('holds the finishes until a full group while others work, then writes them as one', async () => {
      const { write, groups } = gatheringWriter({ size: 3, holdMs: 60_000, more: () => true });
      const first = [write({ complete: 1 }), write({ complete: 2 })];
      // Several turns of the event loop: a writer without gathering would have written these two by now.
      for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(groups, [], 'two of three: held');
      const third = write({ complete: 3 });
      assert.deepEqual(await Promise.all([...first, third]), [true, true, true]);
      assert.deepEqual(groups, [[1, 2, 3]]);
    });

    it('writes at once when no other unit works: nothing more is coming', async () => {
      const { write, groups } = gatheringWriter({ size: 10, holdMs: 60_000, more: () => false });
      assert.equal(await within(write({ complete: 7 }), 5_000, 'the lone finish'), true);
      assert.deepEqual(groups, [[7]]);
    });

    it('writes a group that is not full once its oldest finish has waited holdMs', async () => {
      const { write, groups } = gatheringWriter({ size: 10, holdMs: 30, more: () => true });
      const written = await within(
        Promise.all([write({ complete: 1 }), write({ complete: 2 })]),
        5_000,
        'held group',
      );
      assert.deepEqual(written, [true, true]);
      assert.deepEqual(groups, [[1, 2]]);
    });

    it('holds the writes that arrive while a group is in flight too', async () => {
      let release: () => void = () => {};
      const groups: number[][] = [];
      const write = createFinishWriter<number>({
        database: t.database,
        gather: { size: 2, holdMs: 60_000, more: () => true },
        completeMany: async (_db, completes) => {
          groups.push([...completes]);
          if (groups.length === 1) await new Promise<void>((resolve) => (release = resolve));
          return completes.map(() => true);
        },
      });
      const firstGroup = [write({ complete: 1 }), write({ complete: 2 })];
      while (groups.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const late = write({ complete: 3 });
      release();
      await Promise.all(firstGroup);
      for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        groups,
        [[1, 2]],
        'the first group ended: the lone late write still waits for its group',
      );
      await Promise.all([late, write({ complete: 4 })]);
      assert.deepEqual(groups, [
        [1, 2],
        [3, 4],
      ]);
    });
  });
});

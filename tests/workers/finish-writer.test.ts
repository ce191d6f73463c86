// The stage runtime's grouped finishing writes: one statement for a group's successful finishes, each row its own
// compare-and-set; a group the database refuses is retried write by write; the NOTIFY goes with the commit.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { TOKENS_CHANNEL } from '../../src/db/channels.js';
import type { Executor } from '../../src/db/client.js';
import type { Author, Token } from '../../src/db/schema.js';
import { STAGES } from '../../src/domain/stages.js';
import { finishClaimedTokens } from '../../src/domain/token-state.js';
import { InvalidStateTransition } from '../../src/errors.js';
import * as tokenQueue from '../../src/repositories/token-queue.repository.js';
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
  return tokenQueue.claimTokens(t.db, STAGES.image, { owner, leaseSeconds: 60, limit: count });
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

describe('createFinishWriter', () => {
  it('commits the finishes that come together in one transaction, with one NOTIFY of the next status', async () => {
    const claimed = await claim(5);
    const notified: string[] = [];
    const listening = await t.sql.listen(TOKENS_CHANNEL, (payload) => notified.push(payload));
    const transactions = new Set<string>();
    const write = createFinishWriter<Token>({
      database: t.database,
      notify: 'uploading',
      completeMany: async (tx, completes) => {
        const [row] = await tx.execute<{ xid: string }>(sql`select txid_current()::text as xid`);
        transactions.add(row?.xid ?? '');
        const moved = await finishClaimedTokens(
          tx,
          completes.map((token) => ({ token, to: 'uploading', changes: { imageCid: cidOf(token.tokenId) } })),
        );
        return completes.map((token) => moved.has(token.id));
      },
    });
    const applied = await Promise.all(claimed.map((token) => write({ complete: token })));
    assert.deepEqual(applied, [true, true, true, true, true]);
    assert.equal(transactions.size, 1, 'one transaction for the five');
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
      notify: 'uploading',
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
});

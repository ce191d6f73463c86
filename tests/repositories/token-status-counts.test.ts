// token_status_counts: the triggers on tokens_s0 keep the per-status counts equal to a count of the rows through
// inserts, updates (one token, many at once, none changing status), deletes, truncates and concurrent writers;
// the fold leaves one row per status; the next-in-line age follows the claim order.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../../src/db/client.js';
import type { Author } from '../../src/db/schema.js';
import {
  foldStatusCounts,
  nextInLineAges,
  statusCounts,
} from '../../src/repositories/token-status-counts.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens } from '../helpers/db-fixtures.js';

let t: TestDatabase;
let author: Author;

before(async () => {
  t = await createTestDatabase();
});
after(() => t.drop());
beforeEach(async () => {
  await t.sql`truncate tokens_s0, authors cascade`;
  author = await insertAuthor(t.db, 1);
});

/** The counts a full scan gives, as the kept counts are shaped (absent statuses left out). */
async function scanned(): Promise<Map<string, number>> {
  const rows = await t.sql<{ status: string; count: number }[]>`
    select status, count(*)::int as count from tokens_s0 group by status`;
  return new Map(rows.map((r) => [r.status, r.count]));
}

async function assertCountsMatch(what: string): Promise<void> {
  const kept = await statusCounts(t.db);
  for (const [status, count] of kept) if (count === 0) kept.delete(status);
  assert.deepEqual(kept, await scanned(), what);
}

describe('token_status_counts', () => {
  it('follows inserts, status changes, updates that change no status, deletes and truncates', async () => {
    await insertTokens(t.db, author, [1, 2, 3, 4, 5]);
    await assertCountsMatch('after insert');
    assert.equal((await statusCounts(t.db)).get('detected'), 5);

    await t.sql`update tokens_s0 set status = 'generating' where token_id = 1`;
    await assertCountsMatch('after one move');
    await t.sql`update tokens_s0 set status = 'uploading', image_cid = ${cidOf(1)} where token_id in (2, 3)`;
    await assertCountsMatch('after a grouped move');
    const rowsBefore = await t.sql`select 1 from token_status_counts`;
    await t.sql`update tokens_s0 set next_attempt_at = now() + interval '1 minute'`;
    const rowsAfter = await t.sql`select 1 from token_status_counts`;
    assert.equal(rowsAfter.length, rowsBefore.length, 'a statement that moves no token adds no row');

    await t.sql`delete from tokens_s0 where token_id = 5`;
    await assertCountsMatch('after delete');
    assert.equal((await statusCounts(t.db)).get('detected'), 1);

    await t.sql`truncate tokens_s0 cascade`;
    assert.equal((await statusCounts(t.db)).size, 0, 'a truncate empties the counts');
  });

  it('folds the rows into one per status without changing the sums, dropping statuses left empty', async () => {
    await insertTokens(t.db, author, [1, 2, 3]);
    await insertTokens(t.db, author, [4]);
    await t.sql`update tokens_s0 set status = 'failed' where token_id = 4`;
    await t.sql`update tokens_s0 set status = 'generating' where token_id in (1, 2)`;
    const before = await statusCounts(t.db);
    assert.ok((await t.sql`select 1 from token_status_counts`).length > 3);
    assert.ok((await foldStatusCounts(t.db)) > 0);
    assert.deepEqual(await statusCounts(t.db), before);
    const rows = await t.sql<{ status: string }[]>`select status from token_status_counts order by status`;
    assert.deepEqual(
      rows.map((r) => r.status),
      ['detected', 'failed', 'generating'],
    );
    await t.sql`delete from tokens_s0 where status = 'failed'`;
    await foldStatusCounts(t.db);
    assert.equal((await statusCounts(t.db)).get('failed'), undefined);
  });

  it('stays exact with concurrent writers and folders', async () => {
    const pools = [1, 2, 3, 4].map(() => createDatabase(t.url, { max: 2 }));
    try {
      await insertTokens(
        t.db,
        author,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      await Promise.all(
        pools.map(async (pool, p) => {
          for (let i = 0; i < 10; i += 1) {
            const ids = Array.from({ length: 5 }, (_, k) => p * 50 + i * 5 + k + 1);
            await pool.db.transaction(async (tx) => {
              await tx.execute(sql`update tokens_s0 set status = 'generating'
                where token_id in (${sql.join(
                  ids.map((id) => sql`${id}`),
                  sql`, `,
                )})`);
              await foldStatusCounts(tx);
            });
            await foldStatusCounts(pool.db);
          }
        }),
      );
      await foldStatusCounts(t.db);
      await assertCountsMatch('after concurrent moves and folds');
      assert.equal((await statusCounts(t.db)).get('generating'), 200);
    } finally {
      await Promise.all(pools.map((pool) => pool.close(1)));
    }
  });

  it('ages the token next in line: due, under no live lease, in claim order', async () => {
    const [first, second] = await insertTokens(t.db, author, [1, 2]);
    await t.sql`update tokens_s0 set updated_at = now() - interval '100 seconds',
                                     next_attempt_at = now() - interval '50 seconds' where token_id = 1`;
    await t.sql`update tokens_s0 set updated_at = now() - interval '10 seconds',
                                     next_attempt_at = now() - interval '5 seconds' where token_id = 2`;
    const age = async () => (await nextInLineAges(t.db, ['detected', 'uploading'])).get('detected');
    assert.ok(first && second);
    const ageOfFirst = await age();
    assert.ok(ageOfFirst !== undefined && ageOfFirst >= 100 && ageOfFirst < 200, String(ageOfFirst));
    assert.equal((await nextInLineAges(t.db, ['uploading'])).size, 0, 'none waiting: absent');

    await t.sql`update tokens_s0 set lease_owner = 'w', lease_expires_at = now() + interval '1 minute',
                                     updated_at = now() - interval '100 seconds' where token_id = 1`;
    const ageOfSecond = await age();
    assert.ok(
      ageOfSecond !== undefined && ageOfSecond >= 10 && ageOfSecond < 100,
      'a leased token waits not',
    );
    await t.sql`update tokens_s0 set next_attempt_at = now() + interval '1 minute',
                                     updated_at = now() - interval '10 seconds' where token_id = 2`;
    assert.equal(await age(), undefined, 'a token in backoff is not due');
  });
});

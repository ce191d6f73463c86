// Tokens per status, from token_status_counts (kept by triggers on tokens_s0, see its comment in schema.ts) and
// the token next in line for each stage: reads that cost the same with 100 tokens or 10 million, for the metrics.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { LOCK_KEYS } from '../db/lock-keys.js';
import type { TokenStatus } from '../db/schema.js';

/**
 * Folds the appended rows into one per status (zero-count statuses dropped). One statement; a fold already
 * running elsewhere is not waited for (this one does nothing). Returns the rows removed.
 */
export async function foldStatusCounts(tx: Executor): Promise<number> {
  const rows = await tx.execute<{ removed: number }>(sql`
    with allowed as (select pg_try_advisory_xact_lock(${LOCK_KEYS.statusCountsFold}) as ok),
    removed as (
      delete from token_status_counts where (select ok from allowed) returning status, count
    ),
    kept as (
      insert into token_status_counts (status, count)
      select status, sum(count) from removed group by status having sum(count) <> 0
      returning 1
    )
    select (select count(*) from removed)::int - (select count(*) from kept)::int as removed`);
  return Number(rows[0]?.removed ?? 0);
}

/** Tokens per status (statuses without tokens are absent). */
export async function statusCounts(tx: Executor): Promise<Map<TokenStatus, number>> {
  const rows = await tx.execute<{ status: TokenStatus; count: string }>(sql`
    select status, sum(count)::bigint as count from token_status_counts group by status`);
  return new Map(rows.map((r) => [r.status, Number(r.count)]));
}

const CLAIM_STATUSES: readonly string[] = ['detected', 'generating', 'uploading', 'ready'];

export type NextInLine = {
  status: TokenStatus;
  tokenId: number;
  /** When it last moved (updated_at). */
  since: Date;
  /** Its age by the database clock, in seconds. */
  ageSeconds: number;
};

/**
 * Per status, the token next in line: the due token without a live lease that a claim of that status takes first
 * (next_attempt_at, token_id order), with how long it has been in the status (since its last move). Statuses with
 * none waiting are absent. One probe of the claim index per status, whatever the number of tokens.
 */
export async function nextInLine(
  tx: Executor,
  statuses: readonly ('detected' | 'generating' | 'uploading' | 'ready')[],
): Promise<NextInLine[]> {
  if (statuses.length === 0) return [];
  for (const status of statuses) {
    if (!CLAIM_STATUSES.includes(status)) throw new Error(`not a claim status: ${String(status)}`);
  }
  // The status is written as a literal (the values are the fixed claim statuses above, never input): a
  // parameter would keep the planner from proving the claim index's partial predicate.
  const probes = statuses.map(
    (status) => sql`
    select * from (
      select ${status}::text as status, token_id, updated_at,
        extract(epoch from now() - updated_at)::float8 as age
      from tokens_s0
      where status = ${sql.raw(`'${status}'`)} and next_attempt_at <= now()
        and (lease_expires_at is null or lease_expires_at <= now())
      order by next_attempt_at, token_id
      limit 1) as next`,
  );
  const rows = await tx.execute<{ status: TokenStatus; token_id: number; updated_at: string; age: number }>(
    sql.join(probes, sql` union all `),
  );
  return rows.map((r) => ({
    status: r.status,
    tokenId: Number(r.token_id),
    since: new Date(r.updated_at),
    ageSeconds: Math.max(0, Number(r.age)),
  }));
}

/** Per status, how long the token next in line has been in it (see nextInLine), in seconds. */
export async function nextInLineAges(
  tx: Executor,
  statuses: readonly ('detected' | 'generating' | 'uploading' | 'ready')[],
): Promise<Map<TokenStatus, number>> {
  return new Map((await nextInLine(tx, statuses)).map((n) => [n.status, n.ageSeconds]));
}

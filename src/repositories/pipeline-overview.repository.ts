// Read model of the operator dashboard: counts per status, the oldest token waiting for each stage, stage
// completions per minute over the last hour, recent failures, recent reveal transactions and the newest
// tokens. Each is one statement on an index (none reads every token: the dashboard and the operator's stats
// poll these every few seconds); nothing here writes.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import type { TokenStatus } from '../db/schema.js';
import { nextInLine, statusCounts } from './token-status-counts.repository.js';

export { nextInLine } from './token-status-counts.repository.js';

export type MinuteCount = { stage: 'image' | 'ipfs' | 'reveal'; minute: Date; count: number };

/**
 * Stage completions per minute since `since`: image = completed generation attempts, ipfs = completed
 * metadata uploads (the last step of the stage), reveal = tokens revealed.
 */
export async function completionsPerMinute(tx: Executor, since: Date): Promise<MinuteCount[]> {
  const rows = await tx.execute<{ stage: MinuteCount['stage']; minute: string; count: number }>(sql`
    select 'image' as stage, date_trunc('minute', completed_at) as minute, count(*)::int as count
      from image_generation_jobs
      where status = 'completed' and completed_at >= ${since.toISOString()}::timestamptz
      group by 2
    union all
    select 'ipfs', date_trunc('minute', completed_at), count(*)::int
      from ipfs_upload_records
      where status = 'completed' and record_type = 'metadata' and completed_at >= ${since.toISOString()}::timestamptz
      group by 2
    union all
    select 'reveal', date_trunc('minute', revealed_at), count(*)::int
      from tokens_s0 -- tokens_s0_revealed_at_idx
      where revealed_at >= ${since.toISOString()}::timestamptz
      group by 2`);
  return rows.map((r) => ({ stage: r.stage, minute: new Date(r.minute), count: Number(r.count) }));
}

export type RecentFailure = {
  tokenId: number;
  errorData: Record<string, unknown> | null;
  failedAt: Date;
};

export async function recentFailures(tx: Executor, limit: number): Promise<RecentFailure[]> {
  const rows = await tx.execute<{
    token_id: number;
    error_data: Record<string, unknown> | null;
    updated_at: string;
  }>(sql`
    select token_id, error_data, updated_at from tokens_s0 -- tokens_s0_failed_updated_idx, backwards
    where status = 'failed'
    order by updated_at desc, token_id desc
    limit ${limit}`);
  return rows.map((r) => ({
    tokenId: Number(r.token_id),
    errorData: r.error_data,
    failedAt: new Date(r.updated_at),
  }));
}

export type RecentReveal = {
  id: string;
  status: string;
  txHash: string | null;
  tokenCount: number;
  gasUsed: number | null;
  gasPriceGwei: string | null;
  blockNumber: number | null;
  createdAt: Date;
  confirmedAt: Date | null;
};

export async function recentReveals(tx: Executor, limit: number): Promise<RecentReveal[]> {
  const rows = await tx.execute<{
    id: string;
    status: string;
    tx_hash: string | null;
    token_count: number;
    gas_used: string | null;
    gas_price_gwei: string | null;
    block_number: string | null;
    created_at: string;
    confirmed_at: string | null;
  }>(sql`
    select id, status, tx_hash, cardinality(token_ids) as token_count, gas_used, gas_price_gwei, block_number,
           created_at, confirmed_at
    from reveal_transactions
    order by created_at desc, id
    limit ${limit}`);
  return rows.map((r) => ({
    id: r.id,
    status: r.status,
    txHash: r.tx_hash,
    tokenCount: Number(r.token_count),
    gasUsed: r.gas_used === null ? null : Number(r.gas_used),
    gasPriceGwei: r.gas_price_gwei,
    blockNumber: r.block_number === null ? null : Number(r.block_number),
    createdAt: new Date(r.created_at),
    confirmedAt: r.confirmed_at === null ? null : new Date(r.confirmed_at),
  }));
}

export type GalleryToken = { tokenId: number; status: TokenStatus; imageCid: string };

/** The newest tokens that have an image. */
export async function newestWithImage(tx: Executor, limit: number): Promise<GalleryToken[]> {
  const rows = await tx.execute<{ token_id: number; status: TokenStatus; image_cid: string }>(sql`
    select token_id, status, image_cid from tokens_s0
    where image_cid is not null
    order by token_id desc
    limit ${limit}`);
  return rows.map((r) => ({ tokenId: Number(r.token_id), status: r.status, imageCid: r.image_cid }));
}

export type StatusStats = {
  status: TokenStatus;
  count: number;
  /**
   * How long the token that waits longest in the status has: for a status a stage claims, the token next in line
   * (due, under no live lease; since its last move), as glisk_stage_oldest_waiting_age_seconds; for failed, the
   * oldest failure. Null when none waits (and for revealed).
   */
  oldestWaitingSeconds: number | null;
  /** Tokens in the status under a live lease (a worker has them). */
  leasesHeld: number;
};

const CLAIM_STATUSES = ['detected', 'generating', 'uploading', 'ready'] as const;

/**
 * Per status present: the count (token_status_counts, as the metrics read it: GET /api/pipeline/stats and the
 * dashboard's funnel show the same numbers), the longest wait, the live leases. Reads no more rows than there
 * are statuses, leased tokens and failed-token index entries, whatever the number of tokens.
 */
export async function statusStats(tx: Executor): Promise<StatusStats[]> {
  const counts = await statusCounts(tx);
  const next = await nextInLine(tx, CLAIM_STATUSES);
  // Leases: tokens_s0_leased_idx holds the leased tokens only. The oldest failure: one probe of
  // tokens_s0_failed_updated_idx.
  const rows = await tx.execute<{ status: TokenStatus; leases: number; oldest: number | null }>(sql`
    select status, count(*)::int as leases, null::float8 as oldest from tokens_s0
      where lease_owner is not null and lease_expires_at > now()
      group by status
    union all
    select 'failed', 0, (select extract(epoch from now() - updated_at)::float8 from tokens_s0
                           where status = 'failed' order by updated_at limit 1)`);
  const statuses = new Set<TokenStatus>([
    ...counts.keys(),
    ...rows.filter((r) => r.leases > 0).map((r) => r.status),
  ]);
  const failedOldest = rows.find((r) => r.status === 'failed' && r.oldest !== null)?.oldest;
  return [...statuses].map((status) => ({
    status,
    count: counts.get(status) ?? 0,
    oldestWaitingSeconds:
      status === 'failed'
        ? failedOldest === undefined || failedOldest === null
          ? null
          : Math.max(0, Number(failedOldest))
        : (next.find((n) => n.status === status)?.ageSeconds ?? null),
    leasesHeld: rows.filter((r) => r.status === status).reduce((sum, r) => sum + Number(r.leases), 0),
  }));
}

export type AttemptCount = {
  stage: 'image' | 'ipfs' | 'reveal';
  /** completed, failed, or running (not finished yet). */
  outcome: 'completed' | 'failed' | 'running';
  /** error_data.class of a failed attempt (transient, permanent), 'unknown' when it names none. */
  errorClass: string | null;
  code: string | null;
  count: number;
};

/**
 * Attempts started since `since`, by stage, outcome and, for failures, error class and code: image = one
 * image_generation_jobs row; ipfs = one token's try (its image and metadata records share retry_count); reveal
 * = one reveal transaction (a batch), whatever its number of tokens.
 */
export async function attemptsSince(tx: Executor, since: Date): Promise<AttemptCount[]> {
  const from = since.toISOString();
  const rows = await tx.execute<{
    stage: AttemptCount['stage'];
    outcome: AttemptCount['outcome'];
    error_class: string | null;
    code: string | null;
    count: number;
  }>(sql`
    with attempts as (
      select 'image' as stage, status, error_data from image_generation_jobs
        where created_at >= ${from}::timestamptz
      union all
      select 'ipfs', case when bool_or(status = 'failed') then 'failed'
                          when bool_and(status = 'completed') then 'completed' else 'running' end,
             (array_agg(error_data) filter (where status = 'failed'))[1]
        from ipfs_upload_records
        where created_at >= ${from}::timestamptz
        group by token_id, retry_count
      union all
      select 'reveal', case status when 'confirmed' then 'completed' when 'failed' then 'failed'
                                   else 'running' end, error_data
        from reveal_transactions
        where created_at >= ${from}::timestamptz
    )
    select stage,
      case when status in ('completed', 'failed') then status else 'running' end as outcome,
      case when status = 'failed' then coalesce(error_data->>'class', 'unknown') end as error_class,
      case when status = 'failed' then coalesce(error_data->>'code', 'unknown') end as code,
      count(*)::int as count
    from attempts
    group by 1, 2, 3, 4`);
  return rows.map((r) => ({
    stage: r.stage,
    outcome: r.outcome,
    errorClass: r.error_class,
    code: r.code,
    count: Number(r.count),
  }));
}

export type RevealKeeperActivity = {
  keeperAddress: string;
  /** The lowest nonce of a batch still pending or sent; undefined when none is in flight. */
  pendingNonce: number | undefined;
  batchesInFlight: number;
  lastTransactionHash: string | undefined;
  /** When the keeper's last transaction (first send or replacement) was broadcast, else signed. */
  lastTransactionAt: Date | undefined;
  /** Its age by the database clock. */
  lastTransactionAgeSeconds: number | undefined;
};

/** Per keeper: the nonce in flight and the last transaction it sent, from reveal_transactions/reveal_attempts. */
export async function revealKeeperActivity(tx: Executor): Promise<RevealKeeperActivity[]> {
  const rows = await tx.execute<{
    keeper_address: string;
    pending_nonce: string | null;
    in_flight: number | null;
    tx_hash: string | null;
    at: string | null;
    age_seconds: string | null;
  }>(sql`
    with in_flight as (
      select keeper_address, min(nonce) as pending_nonce, count(*)::int as in_flight
      from reveal_transactions
      where status in ('pending', 'sent') and keeper_address is not null
      group by keeper_address
    ), last_attempt as (
      select distinct on (t.keeper_address) t.keeper_address, a.tx_hash,
        coalesce(a.broadcast_at, a.created_at) as at
      from reveal_attempts a join reveal_transactions t on t.id = a.reveal_transaction_id
      where t.keeper_address is not null
      order by t.keeper_address, coalesce(a.broadcast_at, a.created_at) desc, a.bump desc
    )
    select coalesce(f.keeper_address, l.keeper_address) as keeper_address, f.pending_nonce, f.in_flight,
      l.tx_hash, l.at, extract(epoch from now() - l.at) as age_seconds
    from in_flight f full join last_attempt l on l.keeper_address = f.keeper_address
    order by 1`);
  return rows.map((r) => ({
    keeperAddress: r.keeper_address,
    pendingNonce: r.pending_nonce === null ? undefined : Number(r.pending_nonce),
    batchesInFlight: r.in_flight ?? 0,
    lastTransactionHash: r.tx_hash ?? undefined,
    lastTransactionAt: r.at === null ? undefined : new Date(r.at),
    lastTransactionAgeSeconds: r.age_seconds === null ? undefined : Math.max(0, Number(r.age_seconds)),
  }));
}

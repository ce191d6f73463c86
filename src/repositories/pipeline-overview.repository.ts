// Read model of the operator dashboard: counts per status, the oldest token waiting for each stage, stage
// completions per minute over the last hour, recent failures, recent reveal transactions and the newest
// tokens. Each is one statement on an index the workers already use; nothing here writes.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import type { TokenStatus } from '../db/schema.js';

export type StatusCount = { status: TokenStatus; count: number };

export async function countByStatus(tx: Executor): Promise<StatusCount[]> {
  const rows = await tx.execute<{ status: TokenStatus; count: number }>(
    sql`select status, count(*)::int as count from tokens_s0 group by status`,
  );
  return rows.map((r) => ({ status: r.status, count: Number(r.count) }));
}

export type OldestWaiting = { status: TokenStatus; tokenId: number; since: Date };

/** Per status, the token that has been in it longest (by updated_at, the time of its last move). */
export async function oldestPerStatus(
  tx: Executor,
  statuses: readonly TokenStatus[],
): Promise<OldestWaiting[]> {
  if (statuses.length === 0) return [];
  const rows = await tx.execute<{ status: TokenStatus; token_id: number; since: string }>(sql`
    select distinct on (status) status, token_id, updated_at as since
    from tokens_s0
    where status in (${sql.join(
      statuses.map((s) => sql`${s}`),
      sql`, `,
    )})
    order by status, updated_at asc, token_id asc`);
  return rows.map((r) => ({ status: r.status, tokenId: Number(r.token_id), since: new Date(r.since) }));
}

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
      from tokens_s0
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
    select token_id, error_data, updated_at from tokens_s0
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

import { and, asc, desc, eq, getTableColumns, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Executor } from '../db/client.js';
import {
  authors,
  revealTransactions,
  tokens,
  type ErrorData,
  type NewToken,
  type Token,
  type TokenStatus,
} from '../db/schema.js';
import type { Page } from './index.js';

/** A token with its author's wallet, as the read API shows it. */
export type TokenWithAuthor = Token & { authorWallet: string };

/** Columns a status change may write besides the status (the lease is always cleared). */
export type TokenChanges = Partial<
  Pick<
    NewToken,
    | 'imageCid'
    | 'metadataCid'
    | 'errorData'
    | 'revealTxHash'
    | 'readyAt'
    | 'revealedAt'
    | 'generationAttempts'
    | 'uploadAttempts'
    | 'revealAttempts'
    | 'nextAttemptAt'
  >
>;

export type ClaimOptions = {
  /** Who holds the lease (worker name + process), compared on every later write. */
  owner: string;
  /** How long the claim stays valid; past it another worker may take the token over. */
  leaseSeconds: number;
  limit: number;
};

/**
 * A claimed token (the row a claim returned will do) for a compare-and-set write: the write applies only while
 * the lease is still ours. A row without a lease owner matches nothing.
 */
export type ClaimRef = Pick<Token, 'id' | 'leaseOwner' | 'status'>;

const tokenColumns = getTableColumns(tokens);
const withAuthor = { ...tokenColumns, authorWallet: authors.walletAddress };

export async function getById(tx: Executor, id: string): Promise<Token | undefined> {
  const [row] = await tx.select().from(tokens).where(eq(tokens.id, id));
  return row;
}

export async function getByTokenId(tx: Executor, tokenId: number): Promise<Token | undefined> {
  const [row] = await tx.select().from(tokens).where(eq(tokens.tokenId, tokenId));
  return row;
}

export async function getWithAuthorByTokenId(
  tx: Executor,
  tokenId: number,
): Promise<TokenWithAuthor | undefined> {
  const [row] = await tx
    .select(withAuthor)
    .from(tokens)
    .innerJoin(authors, eq(authors.id, tokens.authorId))
    .where(eq(tokens.tokenId, tokenId));
  return row;
}

export async function add(tx: Executor, token: NewToken): Promise<Token> {
  const [row] = await tx.insert(tokens).values(token).returning();
  if (!row) throw new Error('INSERT INTO tokens_s0 returned no row');
  return row;
}

/**
 * Inserts every token whose token_id does not exist yet, in one statement, and returns only those inserted:
 * a batch that partly exists still creates its missing ids, and concurrent deliveries create each id once.
 */
export async function addMany(tx: Executor, rows: readonly NewToken[]): Promise<Token[]> {
  if (rows.length === 0) return [];
  return tx
    .insert(tokens)
    .values([...rows])
    .onConflictDoNothing({ target: tokens.tokenId })
    .returning();
}

/** What the mint ingest writes for a newly seen token; every other column takes its default. */
export type DetectedToken = {
  tokenId: number;
  authorId: string;
  minterAddress: string;
  mintTimestamp: Date;
  /** `revealed` only for a token the gap scan found already revealed on chain. */
  status: 'detected' | 'revealed';
  metadataCid: string | null;
};

/**
 * The mint ingest's bulk insert: addMany's semantics (every token whose token_id does not exist yet, concurrent
 * deliveries create each id once) in ONE statement whatever the count, returning only the inserted ids. The rows
 * travel as a single jsonb parameter, so neither PostgreSQL's 65,535-parameter limit nor drizzle's per-column
 * query building (most of the webhook's CPU time in bench:ingest) applies. Inserted in token_id order, so
 * concurrent overlapping batches wait on each other in one order and cannot deadlock.
 */
export async function addManyDetected(tx: Executor, rows: readonly DetectedToken[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const records = rows.map((row) => ({
    token_id: row.tokenId,
    author_id: row.authorId,
    minter_address: row.minterAddress,
    status: row.status,
    mint_timestamp: row.mintTimestamp.toISOString(),
    metadata_cid: row.metadataCid,
  }));
  const inserted = await tx.execute<{ token_id: number }>(sql`
    INSERT INTO ${tokens} (token_id, author_id, minter_address, status, mint_timestamp, metadata_cid)
    SELECT r.token_id, r.author_id, r.minter_address, r.status, r.mint_timestamp, r.metadata_cid
    FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(
      token_id integer, author_id uuid, minter_address varchar(42), status text, mint_timestamp timestamptz,
      metadata_cid text)
    ORDER BY r.token_id
    ON CONFLICT (token_id) DO NOTHING
    RETURNING token_id`);
  return inserted.map((row) => Number(row.token_id)).sort((a, b) => a - b);
}

/** Which of the given on-chain ids exist, ascending. */
export async function listTokenIdsIn(tx: Executor, tokenIds: readonly number[]): Promise<number[]> {
  if (tokenIds.length === 0) return [];
  const rows = await tx
    .select({ tokenId: tokens.tokenId })
    .from(tokens)
    .where(inArray(tokens.tokenId, [...tokenIds]))
    .orderBy(asc(tokens.tokenId));
  return rows.map((row) => row.tokenId);
}

/**
 * On-chain ids in 1..maxTokenId that have no row, ascending, at most `limit` (the gap scan's work list). The
 * anti-join probes tokens_s0_token_id_uq once per id.
 */
export async function listMissingTokenIds(
  tx: Executor,
  maxTokenId: number,
  limit: number,
): Promise<number[]> {
  if (maxTokenId < 1 || limit < 1) return [];
  const rows = await tx.execute<{ token_id: number }>(
    sql`SELECT g.id AS token_id FROM generate_series(1, ${maxTokenId}::integer) AS g(id)
        WHERE NOT EXISTS (SELECT 1 FROM ${tokens} t WHERE t.token_id = g.id)
        ORDER BY g.id LIMIT ${limit}`,
  );
  return rows.map((row) => Number(row.token_id));
}

export async function listByAuthor(tx: Executor, authorId: string, page: Page): Promise<Token[]> {
  return tx
    .select()
    .from(tokens)
    .where(eq(tokens.authorId, authorId))
    .orderBy(asc(tokens.tokenId))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

/** Oldest first, served by tokens_s0_status_created_idx. */
export async function listByStatus(tx: Executor, status: TokenStatus, page: Page): Promise<Token[]> {
  return tx
    .select()
    .from(tokens)
    .where(eq(tokens.status, status))
    .orderBy(asc(tokens.createdAt), asc(tokens.tokenId))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

export type TokenPageQuery = {
  limit: number;
  /** Cursor: only tokens with a smaller token_id (the last token_id of the previous page). */
  beforeTokenId?: number;
  status?: TokenStatus;
  /** Compared case-insensitively. */
  authorWallet?: string;
};

/** Newest first (token_id descending), keyset-paginated so that pages stay stable while tokens are added. */
export async function listPage(tx: Executor, query: TokenPageQuery): Promise<TokenWithAuthor[]> {
  const filters: SQL[] = [];
  if (query.beforeTokenId !== undefined) filters.push(lt(tokens.tokenId, query.beforeTokenId));
  if (query.status !== undefined) filters.push(eq(tokens.status, query.status));
  if (query.authorWallet !== undefined) {
    filters.push(sql`lower(${authors.walletAddress}) = lower(${query.authorWallet})`);
  }
  return tx
    .select(withAuthor)
    .from(tokens)
    .innerJoin(authors, eq(authors.id, tokens.authorId))
    .where(and(...filters))
    .orderBy(desc(tokens.tokenId))
    .limit(query.limit);
}

// A lease that is absent, or whose holder did not finish or renew it in time (the worker died).
const leaseFree = sql`(${tokens.leaseExpiresAt} IS NULL OR ${tokens.leaseExpiresAt} < now())`;
const due = sql`${tokens.nextAttemptAt} <= now()`;

/**
 * The one claim statement of every stage. Safe with any number of workers in any number of processes: the inner
 * SELECT locks the rows it picks FOR UPDATE and SKIPs rows another transaction has locked, so two claimers never
 * pick the same row, and the outer UPDATE stamps the lease in the same statement, so once the claim commits
 * the row is no longer claimable (or claimable again only when its lease expires). A claimer that dies before
 * committing rolls back: the lock goes with it and the row is claimable as before. Given the database rather than
 * a transaction, the statement commits on its own, which is what a worker wants before its slow I/O.
 * Oldest due first. For one status (upload, reveal) tokens_s0_claim_idx (status, next_attempt_at, token_id)
 * serves both the filter and the order; the image stage has its own index (see claimForImage).
 */
async function claim(
  tx: Executor,
  options: ClaimOptions,
  claimable: SQL,
  working: TokenStatus,
  attempts: 'generationAttempts' | 'uploadAttempts' | 'revealAttempts',
): Promise<Token[]> {
  const picked = tx
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(claimable, due))
    .orderBy(asc(tokens.nextAttemptAt), asc(tokens.tokenId))
    .limit(options.limit)
    .for('update', { skipLocked: true })
    .as('c');
  return tx
    .update(tokens)
    .set({
      leaseOwner: options.owner,
      leaseExpiresAt: sql`now() + make_interval(secs => ${options.leaseSeconds})`,
      status: working,
      [attempts]: sql`${tokens[attempts]} + 1`,
      updatedAt: sql`now()`,
    })
    .from(picked)
    .where(eq(tokens.id, picked.id))
    .returning(tokenColumns);
}

/**
 * Image stage: newly detected tokens, and tokens left in `generating` by a worker that died (lease expired) or
 * that released them to retry later (no lease). The claimed tokens are `generating`.
 * Two statuses cannot come out of tokens_s0_claim_idx in next_attempt_at order; tokens_s0_image_claim_idx
 * (next_attempt_at, token_id) WHERE status IN ('detected', 'generating') serves it as an ordered index scan
 * (about 1 ms at 19k due tokens, against about 50 ms for the sort without it).
 */
export async function claimForImage(tx: Executor, options: ClaimOptions): Promise<Token[]> {
  const claimable = sql`(${tokens.status} = 'detected' OR (${tokens.status} = 'generating' AND ${leaseFree}))`;
  return claim(tx, options, claimable, 'generating', 'generationAttempts');
}

/** Upload stage: tokens whose image is generated (`uploading`) and that no live worker holds. */
export async function claimForUpload(tx: Executor, options: ClaimOptions): Promise<Token[]> {
  const claimable = sql`(${tokens.status} = 'uploading' AND ${leaseFree})`;
  return claim(tx, options, claimable, 'uploading', 'uploadAttempts');
}

/**
 * Reveal stage: `ready` tokens that no live worker holds and that no unfinished reveal transaction names. A
 * worker that died after sending leaves its transaction `pending`/`sent`: it may still be mined, so its tokens
 * stay out of every new batch until the transaction is settled (confirmed or failed), and are never sent twice.
 */
export async function claimForReveal(tx: Executor, options: ClaimOptions): Promise<Token[]> {
  const claimable = sql`(${tokens.status} = 'ready' AND ${leaseFree} AND NOT EXISTS (
    SELECT 1 FROM ${revealTransactions}
    WHERE ${revealTransactions.status} IN ('pending', 'sent') AND ${revealTransactions.tokenIds} @> ARRAY[${tokens.id}]
  ))`;
  return claim(tx, options, claimable, 'ready', 'revealAttempts');
}

// Every write on a claimed token is a compare-and-set on (id, lease_owner, status): if the lease expired and
// another worker took the token over, or an operator moved it, the write touches nothing and returns undefined,
// so a slow worker can never overwrite the newer owner's progress.
const ownedBy = (ref: ClaimRef) =>
  and(
    eq(tokens.id, ref.id),
    ref.leaseOwner === null ? sql`false` : eq(tokens.leaseOwner, ref.leaseOwner),
    eq(tokens.status, ref.status),
  );

/** The one compare-and-set write on a claimed token: `changes` land only while `ref` still owns it. */
async function updateOwned(
  tx: Executor,
  ref: ClaimRef,
  changes: PgUpdateSetSource<typeof tokens>,
): Promise<Token | undefined> {
  const [row] = await tx
    .update(tokens)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(ownedBy(ref))
    .returning();
  return row;
}

// Ending a claim, whichever way, gives the lease up.
const noLease = { leaseOwner: null, leaseExpiresAt: null } as const;

/** Keeps a claim alive during long work. */
export function extendLease(tx: Executor, ref: ClaimRef, leaseSeconds: number): Promise<Token | undefined> {
  return updateOwned(tx, ref, { leaseExpiresAt: sql`now() + make_interval(secs => ${leaseSeconds})` });
}

/** Gives a claimed token back untouched, claimable again at once. */
export function releaseLease(tx: Executor, ref: ClaimRef): Promise<Token | undefined> {
  return updateOwned(tx, ref, noLease);
}

/** Ends a claim by moving the token to its next status with the stage's results. */
export function completeClaim(
  tx: Executor,
  ref: ClaimRef,
  to: TokenStatus,
  changes: TokenChanges = {},
): Promise<Token | undefined> {
  return updateOwned(tx, ref, { ...changes, status: to, ...noLease });
}

/** Ends a claim that failed transiently: same status, claimable again after the delay, the error kept. */
export function scheduleRetry(
  tx: Executor,
  ref: ClaimRef,
  retryInSeconds: number,
  errorData: ErrorData,
): Promise<Token | undefined> {
  return updateOwned(tx, ref, {
    nextAttemptAt: sql`now() + make_interval(secs => ${retryInSeconds})`,
    errorData,
    ...noLease,
  });
}

/**
 * Moves a token from `from` to `to` only if its status is still `from` (whoever holds a lease loses it).
 * Undefined when the token does not exist or its status changed meanwhile; the state machine tells the two apart.
 */
export async function setStatusIf(
  tx: Executor,
  id: string,
  from: TokenStatus,
  to: TokenStatus,
  changes: TokenChanges = {},
): Promise<Token | undefined> {
  const [row] = await tx
    .update(tokens)
    .set({ ...changes, status: to, ...noLease, updatedAt: sql`now()` })
    .where(and(eq(tokens.id, id), eq(tokens.status, from)))
    .returning();
  return row;
}

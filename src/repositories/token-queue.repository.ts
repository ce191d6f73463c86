// The token queue: leases, and the compare-and-set writes that end a claim (the claim statement itself is in
// token-claims.repository.ts, the grouped finishes in token-completions.repository.ts). Statuses come from the stage table (src/domain/stages.ts), passed in by the caller; this module holds
// only the SQL. Every write on a claimed token checks status and lease owner, so a worker whose lease expired and
// was taken over can never overwrite the newer owner's progress.
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { TOKENS_CHANNEL } from '../db/channels.js';
import type { Executor } from '../db/client.js';
import { tokens, type ErrorData, type NewToken, type Token, type TokenStatus } from '../db/schema.js';

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

/** The columns of tokens_s0 that count a stage's attempts (TypeScript names). */
export type AttemptsColumn = 'generationAttempts' | 'uploadAttempts' | 'revealAttempts';
/** What the claim statement needs of a stage: its row of the stage table (src/domain/stages.ts StageDefinition). */
export type ClaimableStage = Readonly<{
  start: TokenStatus;
  working: TokenStatus;
  attempts: AttemptsColumn;
  skipTokensInFlightOnChain: boolean;
}>;

/**
 * A claimed token (the row a claim returned will do) for a compare-and-set write: the write applies only while
 * the lease is still ours. A row without a lease owner matches nothing.
 */
export type ClaimRef = Pick<Token, 'id' | 'leaseOwner' | 'status'>;

// Every write on a claimed token is a compare-and-set on (id, lease_owner, status): if the lease expired and
// another worker took the token over, or an operator moved it, the write touches nothing and returns undefined.
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

/**
 * Renews every lease `owner` still holds among `ids` (in `status`) in one statement, and returns the ids renewed:
 * an id missing from the answer was lost (expired and taken over, or moved by an operator).
 */
export async function extendLeases(
  tx: Executor,
  input: { ids: readonly string[]; owner: string; status: TokenStatus; leaseSeconds: number },
): Promise<string[]> {
  if (input.ids.length === 0) return [];
  const rows = await tx
    .update(tokens)
    .set({ leaseExpiresAt: sql`now() + make_interval(secs => ${input.leaseSeconds})` })
    .where(
      and(
        inArray(tokens.id, [...input.ids]),
        eq(tokens.leaseOwner, input.owner),
        eq(tokens.status, input.status),
      ),
    )
    .returning({ id: tokens.id });
  return rows.map((row) => row.id);
}

/** Gives a claimed token back untouched, claimable again at once (in its working status, without a lease). */
export function releaseLease(tx: Executor, ref: ClaimRef): Promise<Token | undefined> {
  return updateOwned(tx, ref, noLease);
}

/**
 * Gives a claimed token back to the start of its stage, claimable at once. `refundAttempt`: the claim did no
 * work (a worker stopping before it started), so it does not count as an attempt.
 */
export function releaseClaim(
  tx: Executor,
  ref: ClaimRef,
  stage: ClaimableStage,
  options: { refundAttempt: boolean },
): Promise<Token | undefined> {
  const attempts = tokens[stage.attempts];
  return updateOwned(tx, ref, {
    status: stage.start,
    nextAttemptAt: sql`now()`,
    ...(options.refundAttempt ? { [stage.attempts]: sql`greatest(${attempts} - 1, 0)` } : {}),
    ...noLease,
  });
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

/**
 * Ends a claim that failed transiently: back to `to` (the stage's start), claimable again after the delay, the
 * error kept.
 */
export function scheduleRetry(
  tx: Executor,
  ref: ClaimRef,
  to: TokenStatus,
  retryInSeconds: number,
  errorData: ErrorData,
): Promise<Token | undefined> {
  return updateOwned(tx, ref, {
    status: to,
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

/**
 * Wakes the workers waiting for tokens in `status`. PostgreSQL delivers a NOTIFY only when the transaction that
 * sent it commits (and drops it on rollback), so calling this inside the writing transaction is "notify after
 * commit"; duplicates within one transaction are folded into one.
 */
export async function notifyStatus(tx: Executor, status: TokenStatus): Promise<void> {
  await tx.execute(sql`SELECT pg_notify(${TOKENS_CHANNEL}, ${status})`);
}

// The reveal stage's writes. A reveal batch settles its tokens by the reveal_transactions row that names them,
// not by a lease: after a restart the row, not any lease, is what keeps its tokens out of every other batch.
// Each write applies only to tokens still `ready`, so an operator's move in between is never overwritten.

/** Batch tokens -> `revealed`, with the hash that revealed them (null: found revealed on chain, synced). */
export async function markRevealed(
  tx: Executor,
  tokenRowIds: readonly string[],
  revealTxHash: string | null,
): Promise<number[]> {
  if (tokenRowIds.length === 0) return [];
  const rows = await tx
    .update(tokens)
    .set({
      status: 'revealed',
      revealTxHash,
      revealedAt: sql`now()`,
      errorData: null,
      ...noLease,
      updatedAt: sql`now()`,
    })
    .where(and(inArray(tokens.id, [...tokenRowIds]), eq(tokens.status, 'ready')))
    .returning({ tokenId: tokens.tokenId });
  return rows.map((row) => row.tokenId).sort((a, b) => a - b);
}

export type RevealRetry = {
  errorData: ErrorData;
  /** Tokens whose reveal_attempts reached this go to `failed`; undefined: none does (no attempt is blamed). */
  maxAttempts?: number;
  /** Backoff of the others: base x 2^(attempts - 1), capped; 0 makes them claimable at once. */
  backoffBaseSeconds: number;
  backoffCapSeconds: number;
};

/**
 * Batch tokens back to `ready` (claimable after their backoff), or `failed` once their reveal attempts reached
 * the maximum, in one statement. Returns each token's new status.
 */
export async function releaseForReveal(
  tx: Executor,
  tokenRowIds: readonly string[],
  retry: RevealRetry,
): Promise<{ tokenId: number; status: TokenStatus }[]> {
  if (tokenRowIds.length === 0) return [];
  const exhausted =
    retry.maxAttempts === undefined ? sql`false` : sql`${tokens.revealAttempts} >= ${retry.maxAttempts}`;
  const delay = sql`least(${retry.backoffCapSeconds}::float8, ${retry.backoffBaseSeconds}::float8 * power(2, greatest(${tokens.revealAttempts} - 1, 0)))`;
  const rows = await tx
    .update(tokens)
    .set({
      status: sql`CASE WHEN ${exhausted} THEN 'failed' ELSE 'ready' END`,
      nextAttemptAt: sql`now() + make_interval(secs => ${delay})`,
      errorData: retry.errorData,
      ...noLease,
      updatedAt: sql`now()`,
    })
    .where(and(inArray(tokens.id, [...tokenRowIds]), eq(tokens.status, 'ready')))
    .returning({ tokenId: tokens.tokenId, status: tokens.status });
  return rows.sort((a, b) => a.tokenId - b.tokenId);
}

// SQL of reveal_attempts: the signed transactions of a reveal batch, written before they are broadcast.
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import {
  revealAttempts,
  revealTransactions,
  type ErrorData,
  type NewRevealAttempt,
  type RevealAttempt,
} from '../db/schema.js';

export async function add(tx: Executor, attempt: NewRevealAttempt): Promise<RevealAttempt> {
  const [row] = await tx.insert(revealAttempts).values(attempt).returning();
  if (!row) throw new Error('INSERT INTO reveal_attempts returned no row');
  return row;
}

/** The attempts of one batch, first send first. */
export async function listByTransaction(tx: Executor, revealTransactionId: string): Promise<RevealAttempt[]> {
  return tx
    .select()
    .from(revealAttempts)
    .where(eq(revealAttempts.revealTransactionId, revealTransactionId))
    .orderBy(asc(revealAttempts.bump));
}

/** The attempts of several batches (the listing API), grouped by batch, first send first. */
export async function listByTransactions(
  tx: Executor,
  revealTransactionIds: readonly string[],
): Promise<RevealAttempt[]> {
  if (revealTransactionIds.length === 0) return [];
  return tx
    .select()
    .from(revealAttempts)
    .where(inArray(revealAttempts.revealTransactionId, [...revealTransactionIds]))
    .orderBy(asc(revealAttempts.revealTransactionId), asc(revealAttempts.bump));
}

/**
 * The highest nonce the keeper has signed a transaction at that may still land or has landed (attempts a node
 * refused for good cannot use their nonce). Undefined when there is none.
 */
export async function maxLiveNonce(tx: Executor, keeperAddress: string): Promise<number | undefined> {
  const [row] = await tx
    .select({ nonce: revealAttempts.nonce })
    .from(revealAttempts)
    .innerJoin(revealTransactions, eq(revealTransactions.id, revealAttempts.revealTransactionId))
    .where(
      and(eq(revealTransactions.keeperAddress, keeperAddress), sql`${revealAttempts.status} <> 'rejected'`),
    )
    .orderBy(desc(revealAttempts.nonce))
    .limit(1);
  return row?.nonce;
}

/** A node accepted the bytes (or already had them). */
export async function markBroadcast(
  tx: Executor,
  id: string,
  note?: ErrorData,
): Promise<RevealAttempt | undefined> {
  const [row] = await tx
    .update(revealAttempts)
    .set({
      status: sql`CASE WHEN ${revealAttempts.status} = 'rejected' THEN 'rejected' ELSE 'broadcast' END`,
      broadcastAt: sql`coalesce(${revealAttempts.broadcastAt}, now())`,
      broadcastError: note ?? null,
      updatedAt: sql`now()`,
    })
    .where(eq(revealAttempts.id, id))
    .returning();
  return row;
}

/** A node refused the bytes; `rejected` when they can never be accepted, else the status stays as it was. */
export async function recordBroadcastError(
  tx: Executor,
  id: string,
  error: ErrorData,
  rejected: boolean,
): Promise<RevealAttempt | undefined> {
  const [row] = await tx
    .update(revealAttempts)
    .set({
      broadcastError: error,
      ...(rejected ? { status: 'rejected' as const } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(revealAttempts.id, id))
    .returning();
  return row;
}

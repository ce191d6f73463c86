import { asc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import {
  revealTransactions,
  type NewRevealTransaction,
  type RevealTransaction,
  type RevealTxStatus,
} from '../db/schema.js';
import type { Page } from './index.js';

export type RevealTransactionChanges = Partial<
  Pick<
    NewRevealTransaction,
    | 'txHash'
    | 'nonce'
    | 'blockNumber'
    | 'gasPriceGwei'
    | 'gasUsed'
    | 'status'
    | 'errorData'
    | 'sentAt'
    | 'confirmedAt'
  >
>;

export async function add(tx: Executor, reveal: NewRevealTransaction): Promise<RevealTransaction> {
  const [row] = await tx.insert(revealTransactions).values(reveal).returning();
  if (!row) throw new Error('INSERT INTO reveal_transactions returned no row');
  return row;
}

export async function getById(tx: Executor, id: string): Promise<RevealTransaction | undefined> {
  const [row] = await tx.select().from(revealTransactions).where(eq(revealTransactions.id, id));
  return row;
}

export async function getByHash(tx: Executor, txHash: string): Promise<RevealTransaction | undefined> {
  const [row] = await tx.select().from(revealTransactions).where(eq(revealTransactions.txHash, txHash));
  return row;
}

/** Oldest first, served by reveal_transactions_status_created_idx. */
export async function listByStatus(
  tx: Executor,
  status: RevealTxStatus,
  page: Page,
): Promise<RevealTransaction[]> {
  return tx
    .select()
    .from(revealTransactions)
    .where(eq(revealTransactions.status, status))
    .orderBy(asc(revealTransactions.createdAt), asc(revealTransactions.id))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

/**
 * Every transaction that may still land: written but not sent (`pending`, possibly broadcast just before a
 * crash) or sent and not yet confirmed (`sent`). Oldest first.
 */
export async function listPending(tx: Executor): Promise<RevealTransaction[]> {
  return tx
    .select()
    .from(revealTransactions)
    .where(sql`${revealTransactions.status} IN ('pending', 'sent')`)
    .orderBy(asc(revealTransactions.createdAt), asc(revealTransactions.id));
}

export async function update(
  tx: Executor,
  id: string,
  changes: RevealTransactionChanges,
): Promise<RevealTransaction | undefined> {
  const [row] = await tx
    .update(revealTransactions)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(eq(revealTransactions.id, id))
    .returning();
  return row;
}

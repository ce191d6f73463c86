import { and, asc, desc, eq, getTableColumns, isNull, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import {
  revealTransactions,
  tokens,
  type NewRevealTransaction,
  type RevealTransaction,
  type RevealTxStatus,
} from '../db/schema.js';
import type { Page } from './page.js';

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
    | 'keeperAddress'
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

/** The batches of a keeper that may still land (`pending` or `sent`), oldest first; at most one by constraint. */
export async function listInFlightForKeeper(
  tx: Executor,
  keeperAddress: string,
): Promise<RevealTransaction[]> {
  return tx
    .select()
    .from(revealTransactions)
    .where(
      and(
        eq(revealTransactions.keeperAddress, keeperAddress),
        sql`${revealTransactions.status} IN ('pending', 'sent')`,
      ),
    )
    .orderBy(asc(revealTransactions.createdAt), asc(revealTransactions.id));
}

/** Fixes the batch's one nonce; a no-op (undefined) once it is set, so a batch can never move to a second one. */
export async function setNonce(
  tx: Executor,
  id: string,
  nonce: number,
): Promise<RevealTransaction | undefined> {
  const [row] = await tx
    .update(revealTransactions)
    .set({ nonce, updatedAt: sql`now()` })
    .where(and(eq(revealTransactions.id, id), isNull(revealTransactions.nonce)))
    .returning();
  return row;
}

/**
 * Narrows a batch still in flight to the tokens of the transaction that landed (a split batch): the others are
 * no longer named by it, so they can be claimed again. Undefined when the batch is settled already.
 */
export async function narrowTokens(
  tx: Executor,
  id: string,
  tokenRowIds: readonly string[],
): Promise<RevealTransaction | undefined> {
  const [row] = await tx
    .update(revealTransactions)
    .set({ tokenRowIds: [...tokenRowIds], updatedAt: sql`now()` })
    .where(and(eq(revealTransactions.id, id), sql`${revealTransactions.status} IN ('pending', 'sent')`))
    .returning();
  return row;
}

/**
 * Finishes a batch that may still land (`pending`/`sent`) as `confirmed` or `failed`. Compare-and-set on the
 * status: a batch settled by another sender is left alone (undefined).
 */
export async function settle(
  tx: Executor,
  id: string,
  changes: RevealTransactionChanges & { status: 'confirmed' | 'failed' },
): Promise<RevealTransaction | undefined> {
  const [row] = await tx
    .update(revealTransactions)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(and(eq(revealTransactions.id, id), sql`${revealTransactions.status} IN ('pending', 'sent')`))
    .returning();
  return row;
}

export type RevealTransactionPageQuery = {
  limit: number;
  status?: RevealTxStatus;
  /** Cursor: only rows older than this one (by created_at, then id); an unknown id gives an empty page. */
  beforeId?: string;
};

/** A batch with the on-chain ids of its tokens, ascending. */
export type RevealTransactionWithTokens = RevealTransaction & { onChainTokenIds: number[] };

/**
 * Newest first, keyset-paginated on (created_at, id) read from the cursor row itself (timestamps keep their
 * microseconds), with the on-chain ids of each batch's tokens in the same statement.
 */
export async function listPageWithTokens(
  tx: Executor,
  query: RevealTransactionPageQuery,
): Promise<RevealTransactionWithTokens[]> {
  const filters: SQL[] = [];
  if (query.status !== undefined) filters.push(eq(revealTransactions.status, query.status));
  if (query.beforeId !== undefined) {
    filters.push(
      sql`(${revealTransactions.createdAt}, ${revealTransactions.id}) < (SELECT c.created_at, c.id FROM ${revealTransactions} c WHERE c.id = ${query.beforeId}::uuid)`,
    );
  }
  return tx
    .select({
      ...getTableColumns(revealTransactions),
      onChainTokenIds: sql<
        number[]
      >`ARRAY(SELECT t.token_id FROM ${tokens} t WHERE t.id = ANY(${revealTransactions.tokenRowIds}) ORDER BY t.token_id)`,
    })
    .from(revealTransactions)
    .where(and(...filters))
    .orderBy(desc(revealTransactions.createdAt), desc(revealTransactions.id))
    .limit(query.limit);
}

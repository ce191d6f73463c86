import { and, asc, eq, gte, lte, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { mintEvents, type MintEvent, type NewMintEvent } from '../db/schema.js';

export async function add(tx: Executor, event: NewMintEvent): Promise<MintEvent> {
  const [row] = await tx.insert(mintEvents).values(event).returning();
  if (!row) throw new Error('INSERT INTO mint_events returned no row');
  return row;
}

/**
 * Inserts every event not recorded yet, in one statement, and returns only those inserted: a replayed or
 * concurrently delivered event is skipped by the (tx_hash, log_index) unique key, never by a prior SELECT.
 */
export async function addMany(tx: Executor, events: readonly NewMintEvent[]): Promise<MintEvent[]> {
  if (events.length === 0) return [];
  return tx
    .insert(mintEvents)
    .values([...events])
    .onConflictDoNothing({ target: [mintEvents.txHash, mintEvents.logIndex] })
    .returning();
}

export async function exists(tx: Executor, txHash: string, logIndex: number): Promise<boolean> {
  const [row] = await tx
    .select({ found: sql<number>`1` })
    .from(mintEvents)
    .where(and(eq(mintEvents.txHash, txHash), eq(mintEvents.logIndex, logIndex)))
    .limit(1);
  return row !== undefined;
}

export async function getByTxHashAndLogIndex(
  tx: Executor,
  txHash: string,
  logIndex: number,
): Promise<MintEvent | undefined> {
  const [row] = await tx
    .select()
    .from(mintEvents)
    .where(and(eq(mintEvents.txHash, txHash), eq(mintEvents.logIndex, logIndex)));
  return row;
}

/** Events of blocks fromBlock..toBlock (both included), in chain order. */
export async function listByBlockRange(
  tx: Executor,
  range: { fromBlock: number; toBlock: number; limit?: number },
): Promise<MintEvent[]> {
  const query = tx
    .select()
    .from(mintEvents)
    .where(and(gte(mintEvents.blockNumber, range.fromBlock), lte(mintEvents.blockNumber, range.toBlock)))
    .orderBy(asc(mintEvents.blockNumber), asc(mintEvents.logIndex))
    .$dynamic();
  return range.limit === undefined ? query : query.limit(range.limit);
}

/** The recorded events with these (tx_hash, log_index) keys (lower-case hashes), in no particular order. */
export async function getManyByKeys(
  tx: Executor,
  keys: ReadonlyArray<{ txHash: string; logIndex: number }>,
): Promise<MintEvent[]> {
  if (keys.length === 0) return [];
  const pairs = sql.join(
    keys.map((key) => sql`(${key.txHash}, ${key.logIndex})`),
    sql`, `,
  );
  return tx
    .select()
    .from(mintEvents)
    .where(sql`(${mintEvents.txHash}, ${mintEvents.logIndex}) in (${pairs})`);
}

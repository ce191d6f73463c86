import { asc, eq, like, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { systemState, type SystemStateRow } from '../db/schema.js';

export async function get(tx: Executor, key: string): Promise<SystemStateRow | undefined> {
  const [row] = await tx.select().from(systemState).where(eq(systemState.key, key));
  return row;
}

/** Inserts or replaces the value of a key in one statement; updated_at moves on every write. */
export async function set(tx: Executor, key: string, value: unknown): Promise<SystemStateRow> {
  const [row] = await tx
    .insert(systemState)
    .values({ key, stateValue: value })
    .onConflictDoUpdate({
      target: systemState.key,
      set: { stateValue: sql`excluded.state_value`, updatedAt: sql`now()` },
    })
    .returning();
  if (!row) throw new Error('UPSERT INTO system_state returned no row');
  return row;
}

/** The deleted row, or undefined when the key did not exist. */
export async function remove(tx: Executor, key: string): Promise<SystemStateRow | undefined> {
  const [row] = await tx.delete(systemState).where(eq(systemState.key, key)).returning();
  return row;
}

/** Every row whose key starts with `prefix` (letters, digits and `_` only, as keys are), by key. */
export async function listByPrefix(tx: Executor, prefix: string): Promise<SystemStateRow[]> {
  if (!/^[A-Za-z0-9_]+$/.test(prefix)) throw new Error(`not a system_state key prefix: ${prefix}`);
  // `_` is a LIKE wildcard: escaped, so that `reveal_status_` does not match `revealXstatus...`.
  const pattern = `${prefix.replace(/_/g, '\\_')}%`;
  return tx.select().from(systemState).where(like(systemState.key, pattern)).orderBy(asc(systemState.key));
}

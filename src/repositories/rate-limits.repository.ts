import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { rateLimits } from '../db/schema.js';

/**
 * Reserves the next request slot of the limit `key`, slots `intervalMs` apart, and answers how long the caller
 * must wait for it (0 when it is free now). One upsert under the row lock: concurrent callers in any process
 * are serialised by PostgreSQL and each gets its own slot. Both ends of the wait are read from the database
 * clock (clock_timestamp(), not the transaction's now()), so the hosts' clocks do not matter.
 */
export async function reserveSlot(tx: Executor, key: string, intervalMs: number): Promise<number> {
  const interval = sql`make_interval(secs => ${intervalMs / 1000})`;
  const rows = await tx
    .insert(rateLimits)
    .values({ key, nextSlotAt: sql`clock_timestamp() + ${interval}` })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        nextSlotAt: sql`greatest(${rateLimits.nextSlotAt}, clock_timestamp()) + ${interval}`,
        updatedAt: sql`now()`,
      },
    })
    .returning({
      waitMs: sql<string>`greatest(0, extract(epoch from (${rateLimits.nextSlotAt} - ${interval} - clock_timestamp())) * 1000)`,
    });
  const wait = rows[0]?.waitMs;
  if (wait === undefined) throw new Error('UPSERT INTO rate_limits returned no row');
  return Number(wait);
}

/** Moves the next slot of `key` to at least `delayMs` from now (a 429's Retry-After applies to every caller). */
export async function pushBack(tx: Executor, key: string, delayMs: number): Promise<void> {
  const until = sql`clock_timestamp() + make_interval(secs => ${delayMs / 1000})`;
  await tx
    .insert(rateLimits)
    .values({ key, nextSlotAt: until })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: { nextSlotAt: sql`greatest(${rateLimits.nextSlotAt}, ${until})`, updatedAt: sql`now()` },
    });
}

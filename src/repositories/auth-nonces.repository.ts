import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { authNonces, type AuthNonce } from '../db/schema.js';

/** Stores a fresh nonce that expires ttlSeconds from now (database clock). */
export async function add(tx: Executor, nonce: string, ttlSeconds: number): Promise<AuthNonce> {
  const [row] = await tx
    .insert(authNonces)
    .values({ nonce, expiresAt: sql`now() + ${ttlSeconds}::int * interval '1 second'` })
    .returning();
  if (!row) throw new Error('INSERT INTO auth_nonces returned no row');
  return row;
}

export async function get(tx: Executor, nonce: string): Promise<AuthNonce | undefined> {
  const [row] = await tx.select().from(authNonces).where(eq(authNonces.nonce, nonce));
  return row;
}

/**
 * Marks the nonce used if it is known, unused and unexpired; undefined otherwise. Single use even under
 * concurrency: a second transaction consuming the same nonce blocks on the first one's row lock, and once that
 * commits, PostgreSQL re-checks `consumed_at IS NULL` on the new row version and updates nothing.
 */
export async function consume(tx: Executor, nonce: string): Promise<AuthNonce | undefined> {
  const [row] = await tx
    .update(authNonces)
    .set({ consumedAt: sql`now()` })
    .where(
      and(eq(authNonces.nonce, nonce), isNull(authNonces.consumedAt), sql`${authNonces.expiresAt} > now()`),
    )
    .returning();
  return row;
}

/**
 * Deletes up to `limit` nonces that expired more than `graceSeconds` ago (kept that long so that a late replay
 * is told "used" or "expired" rather than "unknown"). Bounded so that one issuance never pays for a backlog.
 */
export async function purgeExpired(tx: Executor, graceSeconds: number, limit: number): Promise<number> {
  const rows = await tx.execute<{ nonce: string }>(sql`
    DELETE FROM auth_nonces WHERE nonce IN (
      SELECT nonce FROM auth_nonces
      WHERE expires_at < now() - ${graceSeconds}::int * interval '1 second'
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) RETURNING nonce`);
  return rows.length;
}

import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { oauthStates, type NewOAuthState, type OAuthState } from '../db/schema.js';

/** Stores a started authorization that expires ttlSeconds from now (database clock). */
export async function add(
  tx: Executor,
  input: Omit<NewOAuthState, 'expiresAt' | 'createdAt' | 'consumedAt'>,
  ttlSeconds: number,
): Promise<OAuthState> {
  const [row] = await tx
    .insert(oauthStates)
    .values({ ...input, expiresAt: sql`now() + ${ttlSeconds}::int * interval '1 second'` })
    .returning();
  if (!row) throw new Error('INSERT INTO oauth_states returned no row');
  return row;
}

export async function get(tx: Executor, state: string): Promise<OAuthState | undefined> {
  const [row] = await tx.select().from(oauthStates).where(eq(oauthStates.state, state));
  return row;
}

/** The state with whether it is still within its lifetime by the database clock (the clock consume uses). */
export async function getLive(
  tx: Executor,
  state: string,
): Promise<(OAuthState & { live: boolean }) | undefined> {
  const [row] = await tx
    .select({ row: oauthStates, live: sql<boolean>`${oauthStates.expiresAt} > now()` })
    .from(oauthStates)
    .where(eq(oauthStates.state, state));
  return row === undefined ? undefined : { ...row.row, live: row.live };
}

/**
 * Marks the state used if it is known, unused and unexpired; undefined otherwise. As with nonces, of two
 * concurrent callbacks with one state only the first can match `consumed_at IS NULL`.
 */
export async function consume(tx: Executor, state: string): Promise<OAuthState | undefined> {
  const [row] = await tx
    .update(oauthStates)
    .set({ consumedAt: sql`now()` })
    .where(
      and(
        eq(oauthStates.state, state),
        isNull(oauthStates.consumedAt),
        sql`${oauthStates.expiresAt} > now()`,
      ),
    )
    .returning();
  return row;
}

/** Deletes up to `limit` states that expired more than `graceSeconds` ago. */
export async function purgeExpired(tx: Executor, graceSeconds: number, limit: number): Promise<number> {
  const rows = await tx.execute<{ state: string }>(sql`
    DELETE FROM oauth_states WHERE state IN (
      SELECT state FROM oauth_states
      WHERE expires_at < now() - ${graceSeconds}::int * interval '1 second'
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) RETURNING state`);
  return rows.length;
}

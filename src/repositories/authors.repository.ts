import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import {
  authors,
  tokens,
  TOKEN_STATUSES,
  type Author,
  type NewAuthor,
  type TokenStatus,
} from '../db/schema.js';
import type { ClaimableStage } from './token-queue.repository.js';
import type { Page } from './page.js';

// Wallets compare by lower(wallet_address) so that every lookup is served by authors_wallet_address_lower_uq.
const walletKey = sql`lower(${authors.walletAddress})`;

export async function getById(tx: Executor, id: string): Promise<Author | undefined> {
  const [row] = await tx.select().from(authors).where(eq(authors.id, id));
  return row;
}

export async function getByWallet(tx: Executor, wallet: string): Promise<Author | undefined> {
  const [row] = await tx
    .select()
    .from(authors)
    .where(sql`${walletKey} = lower(${wallet})`);
  return row;
}

export async function add(tx: Executor, author: NewAuthor): Promise<Author> {
  const [row] = await tx.insert(authors).values(author).returning();
  if (!row) throw new Error('INSERT INTO authors returned no row');
  return row;
}

export async function list(tx: Executor, page: Page): Promise<Author[]> {
  return tx
    .select()
    .from(authors)
    .orderBy(asc(authors.createdAt), asc(authors.id))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

/**
 * The author row of every given wallet, creating the missing ones (no prompt; the wallet is stored as given, the
 * caller checksums it). Two statements on purpose: a single `WITH ins AS (INSERT ...) SELECT` would miss an
 * author that a concurrent transaction committed after this statement's snapshot (our insert then waits for it
 * and does nothing, but the snapshot cannot see it). The SELECT runs with a fresh snapshot and sees it.
 * Returned in no particular order; at most one row per wallet, compared case-insensitively.
 */
export async function ensureByWallets(tx: Executor, wallets: readonly string[]): Promise<Author[]> {
  const unique = new Map<string, string>();
  for (const wallet of wallets)
    if (!unique.has(wallet.toLowerCase())) unique.set(wallet.toLowerCase(), wallet);
  if (unique.size === 0) return [];
  const given = [...unique.values()];
  // drizzle's onConflictDoNothing only names columns; the conflict target here is the lower() expression index.
  await tx.execute(
    sql`INSERT INTO authors (wallet_address) VALUES ${sql.join(
      given.map((wallet) => sql`(${wallet})`),
      sql`, `,
    )} ON CONFLICT (lower(wallet_address)) DO NOTHING`,
  );
  return tx
    .select()
    .from(authors)
    .where(inArray(walletKey, [...unique.keys()]));
}

/**
 * Sets the prompt of the wallet's author, creating the author if absent (one statement: the conflict target is
 * the lower() index, so a concurrent mint creating the same author cannot make it fail). The stored wallet
 * becomes the given (checksummed) spelling.
 */
export async function upsertPrompt(tx: Executor, wallet: string, prompt: string): Promise<Author> {
  const rows = await tx.execute<{ id: string }>(sql`
    INSERT INTO authors (wallet_address, prompt_text) VALUES (${wallet}, ${prompt})
    ON CONFLICT (lower(wallet_address)) DO UPDATE
      SET prompt_text = excluded.prompt_text, wallet_address = excluded.wallet_address, updated_at = now()
    RETURNING id`);
  const id = rows[0]?.id;
  const row = id === undefined ? undefined : await getById(tx, id);
  if (!row) throw new Error('UPSERT INTO authors returned no row');
  return row;
}

/** Sets one handle of an existing author; undefined when the author does not exist. */
export async function setHandle(
  tx: Executor,
  id: string,
  handle: { twitterHandle: string } | { farcasterHandle: string },
): Promise<Author | undefined> {
  const [row] = await tx
    .update(authors)
    .set({ ...handle, updatedAt: sql`now()` })
    .where(eq(authors.id, id))
    .returning();
  return row;
}

export type AuthorTokenStats = {
  byStatus: Record<TokenStatus, number>;
  total: number;
  firstMintAt: Date | null;
};

/** Token counts of one author per status, and the time of its first mint (null without tokens). */
export async function tokenStats(tx: Executor, authorId: string): Promise<AuthorTokenStats> {
  const rows = await tx
    .select({
      status: tokens.status,
      count: sql<number>`count(*)::int`,
      firstMintAt: sql<Date | null>`min(${tokens.mintTimestamp})`.mapWith(tokens.mintTimestamp),
    })
    .from(tokens)
    .where(eq(tokens.authorId, authorId))
    .groupBy(tokens.status);
  const byStatus = Object.fromEntries(TOKEN_STATUSES.map((s) => [s, 0])) as Record<TokenStatus, number>;
  let total = 0;
  let firstMintAt: Date | null = null;
  for (const row of rows) {
    byStatus[row.status] = row.count;
    total += row.count;
    if (row.firstMintAt !== null && (firstMintAt === null || row.firstMintAt < firstMintAt)) {
      firstMintAt = row.firstMintAt;
    }
  }
  return { byStatus, total, firstMintAt };
}

/**
 * Tokens of the author waiting for `stage`, or left in its working status without a live lease (claimable
 * again): the stage will still read the author as it is now. A token under a live lease is being worked on.
 */
export async function countAwaitingStage(
  tx: Executor,
  authorId: string,
  stage: Pick<ClaimableStage, 'start' | 'working'>,
): Promise<number> {
  const [row] = await tx
    .select({ count: sql<number>`count(*)::int` })
    .from(tokens)
    .where(
      sql`${tokens.authorId} = ${authorId} AND (${tokens.status} = ${stage.start} OR (${tokens.status} = ${stage.working} AND (${tokens.leaseExpiresAt} IS NULL OR ${tokens.leaseExpiresAt} < now())))`,
    );
  return row?.count ?? 0;
}

export type LeaderboardRow = {
  walletAddress: string;
  twitterHandle: string | null;
  farcasterHandle: string | null;
  tokenCount: number;
  firstMintAt: Date;
};

/** Authors with at least one token, by token count; ties by first mint, then by wallet (case-insensitive). */
export async function leaderboard(tx: Executor, limit: number): Promise<LeaderboardRow[]> {
  const tokenCount = sql<number>`count(*)::int`;
  const firstMintAt = sql<Date>`min(${tokens.mintTimestamp})`.mapWith(tokens.mintTimestamp);
  return tx
    .select({
      walletAddress: authors.walletAddress,
      twitterHandle: authors.twitterHandle,
      farcasterHandle: authors.farcasterHandle,
      tokenCount,
      firstMintAt,
    })
    .from(authors)
    .innerJoin(tokens, eq(tokens.authorId, authors.id))
    .groupBy(authors.id)
    .orderBy(sql`count(*) DESC`, sql`min(${tokens.mintTimestamp}) ASC`, asc(walletKey))
    .limit(limit);
}

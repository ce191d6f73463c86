import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { authors, type Author, type NewAuthor } from '../db/schema.js';
import type { Page } from './index.js';

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

// Token reads and the mint ingest's inserts. Claims, leases and status writes live in token-queue.repository.ts.
import { and, asc, desc, eq, getTableColumns, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { sqlOf, type Executor } from '../db/client.js';
import { authors, tokens, type NewToken, type Token, type TokenStatus } from '../db/schema.js';
import type { Page } from './page.js';

/** A token with its author's wallet, as the read API shows it. */
export type TokenWithAuthor = Token & { authorWallet: string };

const tokenColumns = getTableColumns(tokens);
const withAuthor = { ...tokenColumns, authorWallet: authors.walletAddress };

export async function getById(tx: Executor, id: string): Promise<Token | undefined> {
  const [row] = await tx.select().from(tokens).where(eq(tokens.id, id));
  return row;
}

/** The on-chain id of each of these rows (by row id); rows that do not exist are absent. */
export async function tokenIdsByRowId(
  tx: Executor,
  tokenRowIds: readonly string[],
): Promise<Map<string, number>> {
  if (tokenRowIds.length === 0) return new Map();
  const rows = await tx
    .select({ id: tokens.id, tokenId: tokens.tokenId })
    .from(tokens)
    .where(inArray(tokens.id, [...tokenRowIds]));
  return new Map(rows.map((r) => [r.id, r.tokenId]));
}

export async function getByTokenId(tx: Executor, tokenId: number): Promise<Token | undefined> {
  const [row] = await tx.select().from(tokens).where(eq(tokens.tokenId, tokenId));
  return row;
}

export async function getWithAuthorByTokenId(
  tx: Executor,
  tokenId: number,
): Promise<TokenWithAuthor | undefined> {
  const [row] = await tx
    .select(withAuthor)
    .from(tokens)
    .innerJoin(authors, eq(authors.id, tokens.authorId))
    .where(eq(tokens.tokenId, tokenId));
  return row;
}

export async function add(tx: Executor, token: NewToken): Promise<Token> {
  const [row] = await tx.insert(tokens).values(token).returning();
  if (!row) throw new Error('INSERT INTO tokens_s0 returned no row');
  return row;
}

/**
 * Inserts every token whose token_id does not exist yet, in one statement, and returns only those inserted:
 * a batch that partly exists still creates its missing ids, and concurrent deliveries create each id once.
 */
export async function addMany(tx: Executor, rows: readonly NewToken[]): Promise<Token[]> {
  if (rows.length === 0) return [];
  return tx
    .insert(tokens)
    .values([...rows])
    .onConflictDoNothing({ target: tokens.tokenId })
    .returning();
}

/** What the mint ingest writes for a newly seen token; every other column takes its default. */
export type DetectedToken = {
  tokenId: number;
  authorId: string;
  minterAddress: string;
  mintTimestamp: Date;
  /** `revealed` only for a token the gap scan found already revealed on chain. */
  status: 'detected' | 'revealed';
  metadataCid: string | null;
};

/**
 * The mint ingest's bulk insert: addMany's semantics (every token whose token_id does not exist yet, concurrent
 * deliveries create each id once) in ONE statement whatever the count, returning only the inserted ids. The rows
 * travel as a single jsonb parameter, so neither PostgreSQL's 65,535-parameter limit nor drizzle's per-column
 * query building (most of the webhook's CPU time in bench:ingest) applies. Inserted in token_id order, so
 * concurrent overlapping batches wait on each other in one order and cannot deadlock.
 */
export async function addManyDetected(tx: Executor, rows: readonly DetectedToken[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const records = rows.map((row) => ({
    token_id: row.tokenId,
    author_id: row.authorId,
    minter_address: row.minterAddress,
    status: row.status,
    mint_timestamp: row.mintTimestamp.toISOString(),
    metadata_cid: row.metadataCid,
  }));
  const inserted = await tx.execute<{ token_id: number }>(sql`
    INSERT INTO ${tokens} (token_id, author_id, minter_address, status, mint_timestamp, metadata_cid)
    SELECT r.token_id, r.author_id, r.minter_address, r.status, r.mint_timestamp, r.metadata_cid
    FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(
      token_id integer, author_id uuid, minter_address varchar(42), status text, mint_timestamp timestamptz,
      metadata_cid text)
    ORDER BY r.token_id
    ON CONFLICT (token_id) DO NOTHING
    RETURNING token_id`);
  return inserted.map((row) => Number(row.token_id)).sort((a, b) => a - b);
}

/** Which of the given on-chain ids exist, ascending. */
export async function listTokenIdsIn(tx: Executor, tokenIds: readonly number[]): Promise<number[]> {
  if (tokenIds.length === 0) return [];
  const rows = await tx
    .select({ tokenId: tokens.tokenId })
    .from(tokens)
    .where(inArray(tokens.tokenId, [...tokenIds]))
    .orderBy(asc(tokens.tokenId));
  return rows.map((row) => row.tokenId);
}

/**
 * On-chain ids in 1..maxTokenId that have no row, ascending, at most `limit` (the gap scan's work list). The
 * anti-join probes tokens_s0_token_id_uq once per id.
 */
export async function listMissingTokenIds(
  tx: Executor,
  maxTokenId: number,
  limit: number,
): Promise<number[]> {
  if (maxTokenId < 1 || limit < 1) return [];
  const rows = await tx.execute<{ token_id: number }>(
    sql`SELECT g.id AS token_id FROM generate_series(1, ${maxTokenId}::integer) AS g(id)
        WHERE NOT EXISTS (SELECT 1 FROM ${tokens} t WHERE t.token_id = g.id)
        ORDER BY g.id LIMIT ${limit}`,
  );
  return rows.map((row) => Number(row.token_id));
}

export async function listByAuthor(tx: Executor, authorId: string, page: Page): Promise<Token[]> {
  return tx
    .select()
    .from(tokens)
    .where(eq(tokens.authorId, authorId))
    .orderBy(asc(tokens.tokenId))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

/** Oldest first, served by tokens_s0_status_created_idx. */
export async function listByStatus(tx: Executor, status: TokenStatus, page: Page): Promise<Token[]> {
  return tx
    .select()
    .from(tokens)
    .where(eq(tokens.status, status))
    .orderBy(asc(tokens.createdAt), asc(tokens.tokenId))
    .limit(page.limit)
    .offset(page.offset ?? 0);
}

export type TokenPageQuery = {
  limit: number;
  /** Cursor: only tokens with a smaller token_id (the last token_id of the previous page). */
  beforeTokenId?: number;
  status?: TokenStatus;
  /** Compared case-insensitively. */
  authorWallet?: string;
};

/** Newest first (token_id descending), keyset-paginated so that pages stay stable while tokens are added. */
export async function listPage(tx: Executor, query: TokenPageQuery): Promise<TokenWithAuthor[]> {
  const filters: SQL[] = [];
  if (query.beforeTokenId !== undefined) filters.push(lt(tokens.tokenId, query.beforeTokenId));
  if (query.status !== undefined) filters.push(eq(tokens.status, query.status));
  if (query.authorWallet !== undefined) {
    filters.push(sql`lower(${authors.walletAddress}) = lower(${query.authorWallet})`);
  }
  return tx
    .select(withAuthor)
    .from(tokens)
    .innerJoin(authors, eq(authors.id, tokens.authorId))
    .where(and(...filters))
    .orderBy(desc(tokens.tokenId))
    .limit(query.limit);
}

/**
 * The prompt of a token's author: the text, null while the author has written none, undefined when the token
 * does not exist.
 */
export async function getAuthorPrompt(tx: Executor, tokenRowId: string): Promise<string | null | undefined> {
  // A prepared statement: run once per generated image, where drizzle's cost shows.
  const [row] = await sqlOf(tx)<{ prompt_text: string | null }[]>`
    SELECT a.prompt_text FROM tokens_s0 t JOIN authors a ON a.id = t.author_id WHERE t.id = ${tokenRowId}`;
  return row === undefined ? undefined : row.prompt_text;
}

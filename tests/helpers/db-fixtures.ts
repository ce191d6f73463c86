// Valid rows for database tests: deterministic addresses, hashes and CIDs that pass the schema's CHECKs.
import type { Executor } from '../../src/db/client.js';
import type { Author, NewToken, Token } from '../../src/db/schema.js';
import * as authorsRepository from '../../src/repositories/authors.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';

/** A lower-case address derived from n (0x + 40 hex). */
export function walletOf(n: number): string {
  return `0x${n.toString(16).padStart(40, '0')}`;
}

/** A transaction hash derived from n (0x + 64 lower-case hex). */
export function txHashOf(n: number): string {
  return `0x${n.toString(16).padStart(64, '0')}`;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A CIDv1-shaped base32 string derived from n ("bafy" + 55 base32 characters). */
export function cidOf(n: number): string {
  let digits = '';
  let rest = n;
  do {
    digits = BASE32.charAt(rest % 32) + digits;
    rest = Math.floor(rest / 32);
  } while (rest > 0);
  return `bafy${digits.padStart(55, 'a')}`;
}

export async function insertAuthor(tx: Executor, n: number): Promise<Author> {
  return authorsRepository.add(tx, { walletAddress: walletOf(n) });
}

/** Tokens with the given on-chain ids for one author, status detected unless overridden. */
export async function insertTokens(
  tx: Executor,
  author: Pick<Author, 'id' | 'walletAddress'>,
  tokenIds: readonly number[],
  overrides: Partial<NewToken> = {},
): Promise<Token[]> {
  const rows = tokenIds.map((tokenId) => ({
    tokenId,
    authorId: author.id,
    minterAddress: author.walletAddress,
    mintTimestamp: new Date('2026-01-01T00:00:00Z'),
    ...overrides,
  }));
  const inserted = await tokensRepository.addMany(tx, rows);
  if (inserted.length !== rows.length)
    throw new Error(`only ${inserted.length} of ${rows.length} tokens were new`);
  return inserted.sort((a, b) => a.tokenId - b.tokenId);
}

/** The PostgreSQL error under drizzle's DrizzleQueryError wrapper (postgres.js PostgresError fields). */
export function postgresErrorOf(error: unknown): { code?: string; constraint_name?: string } | undefined {
  let current: unknown = error;
  while (current instanceof Error) {
    if ('constraint_name' in current || ('code' in current && 'severity' in current)) {
      return current as { code?: string; constraint_name?: string };
    }
    current = current.cause;
  }
  return undefined;
}

// The one write that every detection path (webhook, log follower, gap scan) converges on. Idempotent: a mint
// seen twice, concurrently or partly, creates each mint event, author and token exactly once.
import { getAddress, type Address, type Hex } from 'viem';
import type { Executor } from '../../db/client.js';
import type { NewMintEvent } from '../../db/schema.js';
import * as authorsRepository from '../../repositories/authors.repository.js';
import * as mintEventsRepository from '../../repositories/mint-events.repository.js';
import * as tokenQueue from '../../repositories/token-queue.repository.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import type { DetectedToken } from '../../repositories/tokens.repository.js';

/** One BatchMinted event: ids startTokenId .. startTokenId + quantity - 1 minted by `minter` for `author`. */
export type DecodedMint = {
  txHash: Hex;
  logIndex: number;
  blockNumber: number;
  blockTimestamp: Date;
  minter: Address;
  author: Address;
  startTokenId: number;
  quantity: number;
  /** msg.value of the mint, in wei. */
  totalPaid: bigint;
};

export type IngestOptions = {
  /**
   * Token ids already revealed on chain, with their metadata CID (the gap scan reads them): they are created as
   * `revealed` rather than `detected`, so the pipeline never generates or reveals them again.
   */
  revealed?: ReadonlyMap<number, string>;
  /** Create only these ids of the mints' batches (the gap scan writes the ids it was asked to recover). */
  onlyTokenIds?: ReadonlySet<number>;
};

export type IngestResult = {
  /** Token ids inserted by this call, ascending. */
  created: number[];
  /** Token ids of the given mints that already existed, ascending. */
  skipped: number[];
  mintEventsCreated: number;
  /**
   * Mints whose (tx_hash, log_index) is already recorded (or named twice in this call) with other content: a
   * forged or corrupt delivery. Nothing is created from them; the caller logs them.
   */
  conflicts: MintConflict[];
};

export type MintConflict = { txHash: string; logIndex: number; reason: string };

// PostgreSQL takes at most 65,535 parameters per statement; an event row binds 9. (Tokens go as one jsonb.)
const EVENT_ROWS_PER_STATEMENT = 5_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Splits a delivery's mints into chunks of about `tokensPerChunk` tokens for one transaction each, in key order
 * (tx hash, log index). Mints with the same key stay in one chunk, so that a duplicate that contradicts another is
 * judged exactly as in one call. Each chunk is ingested idempotently, so a delivery cut between chunks (a crash)
 * is finished by its redelivery: the committed chunks are skipped, the rest created.
 */
export function chunkMints(mints: readonly DecodedMint[], tokensPerChunk: number): DecodedMint[][] {
  const key = (mint: DecodedMint): string =>
    `${mint.txHash.toLowerCase()}#${String(mint.logIndex).padStart(10, '0')}`;
  const ordered = [...mints].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const out: DecodedMint[][] = [];
  let current: DecodedMint[] = [];
  let tokens = 0;
  for (const [i, mint] of ordered.entries()) {
    current.push(mint);
    tokens += mint.quantity;
    const next = ordered[i + 1];
    if (tokens >= tokensPerChunk && (next === undefined || key(next) !== key(mint))) {
      out.push(current);
      current = [];
      tokens = 0;
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

export function tokenIdsOf(mint: Pick<DecodedMint, 'startTokenId' | 'quantity'>): number[] {
  return Array.from({ length: mint.quantity }, (_, i) => mint.startTokenId + i);
}

/**
 * Records `mints` in the caller's transaction: mint events ON CONFLICT (tx_hash, log_index) DO NOTHING, the
 * missing authors (checksummed, no prompt), and every token id ON CONFLICT (token_id) DO NOTHING, so a batch that
 * partly exists still creates its missing ids. A handful of multi-row statements, whatever the number of tokens.
 *
 * Rows are written in key order (events by tx hash and log index, authors by lower-case wallet, tokens by id) so
 * that concurrent deliveries of overlapping payloads wait on each other in one order and never deadlock; the
 * later one finds the rows committed and skips them.
 */
export async function ingestMints(
  tx: Executor,
  mints: readonly DecodedMint[],
  options: IngestOptions = {},
): Promise<IngestResult> {
  if (mints.length === 0) return { created: [], skipped: [], mintEventsCreated: 0, conflicts: [] };

  const events = new Map<string, NewMintEvent>();
  const conflicts = new Map<string, MintConflict>();
  for (const mint of mints) {
    const key = `${mint.txHash.toLowerCase()}#${mint.logIndex}`;
    const known = events.get(key);
    if (known !== undefined) {
      const reason = differingContent(known, mint);
      if (reason !== undefined) conflicts.set(key, { txHash: known.txHash, logIndex: mint.logIndex, reason });
      continue;
    }
    events.set(key, {
      txHash: mint.txHash.toLowerCase(),
      logIndex: mint.logIndex,
      blockNumber: mint.blockNumber,
      blockTimestamp: mint.blockTimestamp,
      startTokenId: mint.startTokenId,
      quantity: mint.quantity,
      minterAddress: getAddress(mint.minter),
      authorWallet: getAddress(mint.author),
      totalPaidWei: mint.totalPaid.toString(),
    });
  }
  const eventRows = [...events.values()].sort((a, b) =>
    a.txHash === b.txHash ? a.logIndex - b.logIndex : a.txHash < b.txHash ? -1 : 1,
  );
  let mintEventsCreated = 0;
  const inserted = new Set<string>();
  for (const chunk of chunks(eventRows, EVENT_ROWS_PER_STATEMENT)) {
    for (const row of await mintEventsRepository.addMany(tx, chunk)) {
      inserted.add(`${row.txHash}#${row.logIndex}`);
      mintEventsCreated += 1;
    }
  }
  // An event that was already recorded must say the same thing; one that does not is a conflict, and no token
  // is created from it (a token is always covered by the event that minted it). The unique key made a
  // concurrent insert of the same key wait for its commit, so the row read here is the committed one.
  const existingKeys = eventRows.filter((row) => !inserted.has(`${row.txHash}#${row.logIndex}`));
  for (const chunk of chunks(existingKeys, EVENT_ROWS_PER_STATEMENT)) {
    for (const stored of await mintEventsRepository.getManyByKeys(tx, chunk)) {
      const key = `${stored.txHash}#${stored.logIndex}`;
      const given = events.get(key);
      const reason = given === undefined ? undefined : differingContent(stored, given);
      if (reason !== undefined)
        conflicts.set(key, { txHash: stored.txHash, logIndex: stored.logIndex, reason });
    }
  }
  const accepted =
    conflicts.size === 0
      ? mints
      : mints.filter((mint) => !conflicts.has(`${mint.txHash.toLowerCase()}#${mint.logIndex}`));

  const wallets = [...new Set(accepted.map((mint) => getAddress(mint.author)))].sort((a, b) =>
    a.toLowerCase() < b.toLowerCase() ? -1 : 1,
  );
  const authorRows = await authorsRepository.ensureByWallets(tx, wallets);
  const authorIds = new Map(authorRows.map((row) => [row.walletAddress.toLowerCase(), row.id]));

  // On chain an id belongs to one batch; if a payload says otherwise, the first mint naming it wins.
  const tokenRows = new Map<number, DetectedToken>();
  for (const mint of accepted) {
    const authorId = authorIds.get(mint.author.toLowerCase());
    if (authorId === undefined) throw new Error(`author ${mint.author} was neither found nor created`);
    const minterAddress = getAddress(mint.minter);
    for (const tokenId of tokenIdsOf(mint)) {
      if (tokenRows.has(tokenId) || options.onlyTokenIds?.has(tokenId) === false) continue;
      const metadataCid = options.revealed?.get(tokenId) ?? null;
      tokenRows.set(tokenId, {
        tokenId,
        authorId,
        minterAddress,
        mintTimestamp: mint.blockTimestamp,
        status: metadataCid === null ? 'detected' : 'revealed',
        metadataCid,
      });
    }
  }
  const ordered = [...tokenRows.values()].sort((a, b) => a.tokenId - b.tokenId);
  const createdSet = new Set(await tokensRepository.addManyDetected(tx, ordered));
  // Idle image workers claim the new tokens as soon as this transaction commits (NOTIFY is delivered at commit).
  if (ordered.some((row) => row.status === 'detected' && createdSet.has(row.tokenId))) {
    await tokenQueue.notifyStatus(tx, 'detected');
  }
  const created: number[] = [];
  const skipped: number[] = [];
  for (const row of ordered) (createdSet.has(row.tokenId) ? created : skipped).push(row.tokenId);
  return { created, skipped, mintEventsCreated, conflicts: [...conflicts.values()] };
}

/** What differs between a recorded (or first seen) event and a mint with the same key; undefined if nothing. */
function differingContent(
  stored: Pick<
    NewMintEvent,
    'startTokenId' | 'quantity' | 'blockNumber' | 'minterAddress' | 'authorWallet' | 'totalPaidWei'
  >,
  mint:
    | Pick<DecodedMint, 'startTokenId' | 'quantity' | 'blockNumber' | 'minter' | 'author' | 'totalPaid'>
    | NewMintEvent,
): string | undefined {
  const given =
    'minter' in mint
      ? {
          startTokenId: mint.startTokenId,
          quantity: mint.quantity,
          blockNumber: mint.blockNumber,
          minterAddress: mint.minter,
          authorWallet: mint.author,
          totalPaidWei: mint.totalPaid.toString(),
        }
      : mint;
  const differences: string[] = [];
  if (stored.startTokenId !== given.startTokenId || stored.quantity !== given.quantity) {
    differences.push(
      `token ids ${stored.startTokenId}+${stored.quantity} recorded, ${given.startTokenId}+${given.quantity} given`,
    );
  }
  if (stored.blockNumber !== given.blockNumber) differences.push('block number');
  if (stored.minterAddress.toLowerCase() !== given.minterAddress.toLowerCase()) differences.push('minter');
  if (stored.authorWallet.toLowerCase() !== given.authorWallet.toLowerCase()) differences.push('author');
  if (String(stored.totalPaidWei ?? '0') !== String(given.totalPaidWei ?? '0'))
    differences.push('total paid');
  return differences.length === 0 ? undefined : differences.join(', ');
}

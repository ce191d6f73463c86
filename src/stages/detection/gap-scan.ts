// The on-chain gap scan: every id below nextTokenId() that has no row is recovered from the contract itself, so a
// mint missed by every other path (webhook down, follower off, a bug) is never lost. Reads are pinned to one block
// (head - CONFIRMATIONS) so that they describe one consistent, final state.
//
// Where minter and mint time come from: the contract stores neither per token, so each missing id is traced to its
// BatchMinted log. The block that minted id N is the first block where nextTokenId() > N (a binary search over
// historical eth_calls, ~log2(head) calls, needing an archive node as hosted RPCs are); that block's BatchMinted
// log gives the batch, its minter, its mint event and the block time. One search serves the whole batch. An id
// that cannot be traced (a pruned node, a log that does not cover it) is reported as failed, never invented.
import { BaseError, ContractFunctionZeroDataError, zeroAddress, type Address, type PublicClient } from 'viem';
import { gliskS0Abi } from '../../providers/chain/glisk-s0.abi.js';
import type { Executor } from '../../db/client.js';
import { ingestMints, type DecodedMint } from './mint-ingest.js';
import type { Logger } from '../../logger.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import { batchMintedEvent, mintsFromRpcLogs } from './batch-minted.js';
import { mapSettled } from '../../lib/bounded-concurrency.js';

// CIDv1 base32 or CIDv0, as tokens_s0.metadata_cid accepts them.
const IPFS_URI_RE = /^ipfs:\/\/(?:ipfs\/)?(b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/;

export type GapScanOptions = {
  /** The database (not a transaction): each recovered batch is written in its own transaction. */
  db: Executor;
  client: PublicClient;
  contractAddress: Address;
  confirmations: number;
  /** Concurrent eth_calls. */
  concurrency?: number;
  /** Examine at most this many missing ids (lowest first). */
  limit?: number;
  /** Read and report, write nothing. */
  dryRun?: boolean;
  logger: Logger;
  /** Once, as soon as the missing ids are known (before any of them is read). */
  onMissing?: (found: { atBlock: bigint; nextTokenId: number; missing: number }) => void;
  /** Progress of each phase; a dry run has no write phase. */
  onProgress?: (progress: GapScanProgress) => void;
  /** Stops between batches when aborted (the service is shutting down); what is written stays written. */
  signal?: AbortSignal;
};

export type GapScanProgress = {
  phase: 'read' | 'trace' | 'write';
  done: number;
  total: number;
  failed: number;
};

export type GapFailure = { tokenId: number; error: string };

export type GapScanReport = {
  /** The block every read was made at. */
  atBlock: bigint;
  /** nextTokenId() at that block: ids 1..nextTokenId-1 exist on chain. */
  nextTokenId: number;
  /** Ids without a row when the scan started (at most `limit`). */
  missing: number[];
  /** Ids read and traced: what was (or, in a dry run, would be) written. */
  recovered: number[];
  /** Ids this scan inserted (empty in a dry run); `revealed` ones were inserted as revealed. */
  created: number[];
  revealed: number[];
  /** Ids that another path created while the scan ran. */
  skipped: number[];
  failed: GapFailure[];
  dryRun: boolean;
};

type TokenReading = { tokenId: number; author: Address; metadataCid: string | undefined };

function errorText(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  // viem's shortMessage is generic ("Missing or invalid parameters"); details carries what the node said.
  if (error instanceof BaseError) {
    const details = error.details.trim();
    text =
      details === '' || error.shortMessage.includes(details)
        ? error.shortMessage
        : `${error.shortMessage} (${details})`;
  }
  // One line per failure in logs and in the recover summary.
  return text.replace(/\s+/g, ' ').trim();
}

export async function scanGaps(options: GapScanOptions): Promise<GapScanReport> {
  const { db, client, contractAddress: address, logger } = options;
  const concurrency = options.concurrency ?? 8;
  const dryRun = options.dryRun ?? false;
  const progress = (phase: GapScanProgress['phase'], done: number, total: number, failed: number) =>
    options.onProgress?.({ phase, done, total, failed });

  const head = await client.getBlockNumber({ cacheTime: 0 });
  const atBlock = head > BigInt(options.confirmations) ? head - BigInt(options.confirmations) : 0n;
  const next = Number(await readNextTokenId(client, address, atBlock));
  const missing = await tokensRepository.listMissingTokenIds(db, next - 1, options.limit ?? 2 ** 31 - 1);
  const report: GapScanReport = {
    atBlock,
    nextTokenId: next,
    missing,
    recovered: [],
    created: [],
    revealed: [],
    skipped: [],
    failed: [],
    dryRun,
  };
  options.onMissing?.({ atBlock, nextTokenId: next, missing: missing.length });
  if (missing.length === 0) return report;
  logger.info('gap_scan.started', { atBlock: Number(atBlock), nextTokenId: next, missing: missing.length });

  // 1. What the contract says about each id, concurrently and bounded.
  let done = 0;
  const readings = await mapSettled(missing, concurrency, async (tokenId) => {
    try {
      return await readToken(client, address, tokenId, atBlock);
    } finally {
      done += 1;
      progress('read', done, missing.length, 0);
    }
  });
  const read: TokenReading[] = [];
  readings.forEach((outcome, i) => {
    const tokenId = missing[i] ?? 0;
    if (outcome.status === 'fulfilled') read.push(outcome.value);
    else report.failed.push({ tokenId, error: errorText(outcome.reason) });
  });

  // 2. The mint of each id. Ascending, so a batch found once serves its later ids and bounds the next search.
  const batches = new Map<string, { mint: DecodedMint; readings: TokenReading[] }>();
  let located: DecodedMint | undefined;
  let searchFrom = 0n;
  done = 0;
  for (const reading of read) {
    if (options.signal?.aborted === true) break;
    try {
      if (located === undefined || !covers(located, reading.tokenId)) {
        located = await traceMint(client, address, reading.tokenId, searchFrom, atBlock);
        searchFrom = BigInt(located.blockNumber);
      }
      if (located.author.toLowerCase() !== reading.author.toLowerCase()) {
        throw new Error(
          `tokenPromptAuthor ${reading.author} differs from the BatchMinted author ${located.author}`,
        );
      }
      const key = `${located.txHash}#${located.logIndex}`;
      const batch = batches.get(key) ?? { mint: located, readings: [] };
      batch.readings.push(reading);
      batches.set(key, batch);
    } catch (error) {
      report.failed.push({ tokenId: reading.tokenId, error: errorText(error) });
    }
    done += 1;
    progress('trace', done, read.length, report.failed.length);
  }

  // 3. One transaction per batch: a batch that fails to write loses only its own ids.
  done = 0;
  for (const { mint, readings: batchReadings } of batches.values()) {
    if (options.signal?.aborted === true) break;
    const ids = batchReadings.map((r) => r.tokenId);
    report.recovered.push(...ids);
    if (!dryRun) {
      const revealed = new Map<number, string>();
      for (const r of batchReadings) if (r.metadataCid !== undefined) revealed.set(r.tokenId, r.metadataCid);
      try {
        const result = await db.transaction((tx) =>
          ingestMints(tx, [mint], { revealed, onlyTokenIds: new Set(ids) }),
        );
        report.created.push(...result.created);
        report.skipped.push(...result.skipped);
        report.revealed.push(...result.created.filter((id) => revealed.has(id)));
      } catch (error) {
        for (const tokenId of ids) report.failed.push({ tokenId, error: errorText(error) });
      }
    }
    done += 1;
    if (!dryRun) progress('write', done, batches.size, report.failed.length);
  }
  report.failed.sort((a, b) => a.tokenId - b.tokenId);
  report.recovered.sort((a, b) => a - b);
  report.created.sort((a, b) => a - b);
  logger.log(report.failed.length > 0 ? 'warn' : 'info', 'gap_scan.finished', {
    atBlock: Number(atBlock),
    missing: missing.length,
    recovered: report.recovered.length,
    created: report.created.length,
    revealed: report.revealed.length,
    failed: report.failed.length,
    firstFailure: report.failed[0],
    dryRun,
  });
  return report;
}

function covers(mint: DecodedMint, tokenId: number): boolean {
  return tokenId >= mint.startTokenId && tokenId < mint.startTokenId + mint.quantity;
}

async function readNextTokenId(client: PublicClient, address: Address, blockNumber: bigint): Promise<bigint> {
  try {
    return await client.readContract({ address, abi: gliskS0Abi, functionName: 'nextTokenId', blockNumber });
  } catch (error) {
    // No code at that block (before the deployment): nothing was minted yet. Any other error (a pruned node)
    // must not be mistaken for "0" or the search would land on a wrong block.
    if (error instanceof BaseError && error.walk((e) => e instanceof ContractFunctionZeroDataError))
      return 0n;
    throw error;
  }
}

async function readToken(
  client: PublicClient,
  address: Address,
  tokenId: number,
  blockNumber: bigint,
): Promise<TokenReading> {
  const id = BigInt(tokenId);
  const [author, isRevealed] = await Promise.all([
    client.readContract({
      address,
      abi: gliskS0Abi,
      functionName: 'tokenPromptAuthor',
      args: [id],
      blockNumber,
    }),
    client.readContract({ address, abi: gliskS0Abi, functionName: 'isRevealed', args: [id], blockNumber }),
  ]);
  if (author === zeroAddress) throw new Error(`token ${tokenId} has no prompt author on chain (not minted?)`);
  if (!isRevealed) return { tokenId, author, metadataCid: undefined };
  const uri = await client.readContract({
    address,
    abi: gliskS0Abi,
    functionName: 'tokenURI',
    args: [id],
    blockNumber,
  });
  const cid = IPFS_URI_RE.exec(uri)?.[1];
  if (cid === undefined)
    throw new Error(`token ${tokenId} is revealed with a URI that is not ipfs://<cid>: ${uri}`);
  return { tokenId, author, metadataCid: cid };
}

/** The BatchMinted that minted `tokenId`: the first block in [from, to] where nextTokenId() > tokenId holds it. */
async function traceMint(
  client: PublicClient,
  address: Address,
  tokenId: number,
  from: bigint,
  to: bigint,
): Promise<DecodedMint> {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = lo + (hi - lo) / 2n;
    if ((await readNextTokenId(client, address, mid)) > BigInt(tokenId)) hi = mid;
    else lo = mid + 1n;
  }
  const logs = await client.getLogs({ address, event: batchMintedEvent, fromBlock: lo, toBlock: lo });
  const mint = mintsFromRpcLogs(logs, address).find((m) =>
    covers({ ...m, blockTimestamp: new Date(0) }, tokenId),
  );
  if (mint === undefined) throw new Error(`no BatchMinted covering token ${tokenId} in block ${lo}`);
  const block = await client.getBlock({ blockNumber: lo, includeTransactions: false });
  return { ...mint, blockTimestamp: new Date(Number(block.timestamp) * 1000) };
}

// Mint detection without Alchemy: reads BatchMinted logs with eth_getLogs from the checkpoint
// (system_state.last_processed_block) up to head - CONFIRMATIONS, and ingests them and advances the checkpoint in
// the same transaction, so a crash anywhere re-reads at most the chunk it was in (and the ingest is idempotent).
import { sql } from 'drizzle-orm';
import { HttpRequestError, RpcRequestError, type Address, type BaseError, type PublicClient } from 'viem';
import type { Executor } from '../../db/client.js';
import { LOCK_KEYS } from '../../db/lock-keys.js';
import { ingestMints, type DecodedMint } from './mint-ingest.js';
import type { Logger } from '../../logger.js';
import * as systemStateRepository from '../../repositories/system-state.repository.js';
import { batchMintedEvent, mintsFromRpcLogs, type RpcLog } from './batch-minted.js';
import { mapAll } from '../../lib/bounded-concurrency.js';
import { followerLagBlocks } from '../../metrics/registry.js';

export const LAST_PROCESSED_BLOCK_KEY = 'last_processed_block';

// Transaction scoped: a follower that dies mid-chunk loses the lock with its connection, and the chunk rolls back.
const FOLLOWER_LOCK_KEY = LOCK_KEYS.logFollower;

// After this many chunks in a row without a refusal, try a range twice as wide again (up to the maximum): a
// provider's limit may have been a momentary one (response size rather than block count).
const GROW_AFTER_SUCCESSES = 20;

export type LogFollowerOptions = {
  /** The database (not a transaction): each chunk opens its own. */
  db: Executor;
  client: PublicClient;
  contractAddress: Address;
  /** Blocks below the head that count as final; nothing above head - confirmations is read. */
  confirmations: number;
  /** First block to read when there is no checkpoint; without it the follower starts at the safe head. */
  startBlock?: bigint | undefined;
  /** Widest eth_getLogs range asked for; halved whenever the RPC refuses a range. */
  maxBlockRange: number;
  logger: Logger;
  /** Concurrent eth_getBlockByNumber calls for block timestamps. */
  blockReadConcurrency?: number;
};

export type FollowStep =
  | { kind: 'locked' }
  | { kind: 'caught_up'; safeBlock: bigint; checkpoint: bigint | undefined }
  | {
      kind: 'ingested';
      fromBlock: bigint;
      toBlock: bigint;
      safeBlock: bigint;
      mints: number;
      created: number[];
      skipped: number[];
    };

export type CatchUpResult = {
  /** Chunks ingested by this call. */
  chunks: number;
  created: number;
  skipped: number;
  /** Why it stopped: nothing left below the safe head, or another process is following. */
  stoppedBecause: 'caught_up' | 'locked';
  checkpoint: bigint | undefined;
};

/** A refused range: a JSON-RPC error answer (or HTTP 400/413) rather than a connection or server failure. */
export function isRangeRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('walk' in error)) return false;
  const found = (error as BaseError).walk(
    (e) =>
      e instanceof RpcRequestError || (e instanceof HttpRequestError && [400, 413].includes(e.status ?? 0)),
  );
  return found !== null && found !== undefined;
}

export class LogFollower {
  private range: bigint;
  private successes = 0;

  constructor(private readonly options: LogFollowerOptions) {
    if (options.maxBlockRange < 1) throw new Error('maxBlockRange must be at least 1');
    this.range = BigInt(options.maxBlockRange);
  }

  /** The block range currently asked for (shrinks on refusals). */
  get currentRange(): number {
    return Number(this.range);
  }

  /** Reads and ingests chunks until nothing is left below the safe head, or another process holds the lock. */
  async catchUp(options: { maxChunks?: number; signal?: AbortSignal } = {}): Promise<CatchUpResult> {
    const maxChunks = options.maxChunks ?? Number.POSITIVE_INFINITY;
    let chunks = 0;
    let created = 0;
    let skipped = 0;
    let checkpoint: bigint | undefined;
    for (;;) {
      // Between chunks only: a chunk in flight commits or rolls back whole.
      if (options.signal?.aborted === true) {
        return { chunks, created, skipped, stoppedBecause: 'caught_up', checkpoint };
      }
      const step = await this.step();
      if (step.kind === 'locked') {
        return { chunks, created, skipped, stoppedBecause: 'locked', checkpoint: undefined };
      }
      if (step.kind === 'caught_up') {
        return { chunks, created, skipped, stoppedBecause: 'caught_up', checkpoint: step.checkpoint };
      }
      chunks += 1;
      checkpoint = step.toBlock;
      created += step.created.length;
      skipped += step.skipped.length;
      if (chunks >= maxChunks) {
        return { chunks, created, skipped, stoppedBecause: 'caught_up', checkpoint };
      }
    }
  }

  /**
   * One chunk in one transaction: lock, read checkpoint, read logs, ingest, advance checkpoint, commit. After the
   * commit, glisk_follower_lag_blocks says how far the checkpoint is below the safe head.
   */
  async step(): Promise<FollowStep> {
    const step = await this.readChunk();
    if (step.kind === 'ingested') followerLagBlocks.set(Number(step.safeBlock - step.toBlock));
    else if (step.kind === 'caught_up' && step.checkpoint !== undefined) {
      followerLagBlocks.set(Math.max(0, Number(step.safeBlock - step.checkpoint)));
    }
    return step;
  }

  private async readChunk(): Promise<FollowStep> {
    const { db, client, confirmations, logger } = this.options;
    return db.transaction(async (tx) => {
      const [lock] = await tx.execute<{ locked: boolean }>(
        sql`SELECT pg_try_advisory_xact_lock(${FOLLOWER_LOCK_KEY}) AS locked`,
      );
      if (lock?.locked !== true) return { kind: 'locked' } as const;

      const checkpoint = await readCheckpoint(tx);
      const head = await client.getBlockNumber({ cacheTime: 0 });
      const safeBlock = head - BigInt(confirmations);
      if (safeBlock < 0n) return { kind: 'caught_up', safeBlock, checkpoint } as const;
      const fromBlock = checkpoint !== undefined ? checkpoint + 1n : (this.options.startBlock ?? safeBlock);
      if (fromBlock > safeBlock) return { kind: 'caught_up', safeBlock, checkpoint } as const;

      const { logs, toBlock } = await this.readLogs(fromBlock, safeBlock);
      const rpcMints = mintsFromRpcLogs(logs, this.options.contractAddress);
      const timestamps = await this.blockTimestamps([...new Set(rpcMints.map((m) => m.blockNumber))]);
      const mints: DecodedMint[] = rpcMints.map((mint) => {
        const blockTimestamp = timestamps.get(mint.blockNumber);
        if (blockTimestamp === undefined) throw new Error(`no timestamp read for block ${mint.blockNumber}`);
        return { ...mint, blockTimestamp };
      });
      const result = await ingestMints(tx, mints);
      await systemStateRepository.set(tx, LAST_PROCESSED_BLOCK_KEY, Number(toBlock));
      if (mints.length > 0) {
        logger.info('mint.followed', {
          fromBlock: Number(fromBlock),
          toBlock: Number(toBlock),
          mints: mints.length,
          created: result.created.length,
          skipped: result.skipped.length,
        });
      }
      return {
        kind: 'ingested',
        fromBlock,
        toBlock,
        safeBlock,
        mints: mints.length,
        created: result.created,
        skipped: result.skipped,
      } as const;
    });
  }

  /** eth_getLogs for BatchMinted from `fromBlock`, as wide as the RPC accepts (halving on each refusal). */
  private async readLogs(fromBlock: bigint, safeBlock: bigint): Promise<{ logs: RpcLog[]; toBlock: bigint }> {
    for (;;) {
      const toBlock = minBigint(safeBlock, fromBlock + this.range - 1n);
      try {
        const logs = await this.options.client.getLogs({
          address: this.options.contractAddress,
          event: batchMintedEvent,
          fromBlock,
          toBlock,
        });
        this.successes += 1;
        if (this.successes >= GROW_AFTER_SUCCESSES && this.range < BigInt(this.options.maxBlockRange)) {
          this.range = minBigint(this.range * 2n, BigInt(this.options.maxBlockRange));
          this.successes = 0;
        }
        return { logs, toBlock };
      } catch (error) {
        const span = toBlock - fromBlock + 1n;
        if (span <= 1n || !isRangeRefusal(error)) throw error;
        this.range = span / 2n;
        this.successes = 0;
        this.options.logger.warn('follower.range_refused', {
          fromBlock: Number(fromBlock),
          toBlock: Number(toBlock),
          nextRange: Number(this.range),
          error: (error as Error).message.split('\n')[0],
        });
      }
    }
  }

  private async blockTimestamps(blockNumbers: number[]): Promise<Map<number, Date>> {
    const { client } = this.options;
    const seconds = await mapAll(
      blockNumbers,
      this.options.blockReadConcurrency ?? 8,
      async (blockNumber) => {
        const block = await client.getBlock({ blockNumber: BigInt(blockNumber), includeTransactions: false });
        return block.timestamp;
      },
    );
    return new Map(blockNumbers.map((blockNumber, i) => [blockNumber, new Date(Number(seconds[i]) * 1000)]));
  }
}

async function readCheckpoint(tx: Executor): Promise<bigint | undefined> {
  const row = await systemStateRepository.get(tx, LAST_PROCESSED_BLOCK_KEY);
  if (row === undefined) return undefined;
  const value = row.stateValue;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(
      `system_state.${LAST_PROCESSED_BLOCK_KEY} is not a block number: ${JSON.stringify(value)}`,
    );
  }
  return BigInt(value);
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

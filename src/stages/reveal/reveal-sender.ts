// The reveal sender: turns a claimed batch of `ready` tokens into one revealTokens transaction that lands exactly
// once, through restarts, stuck transactions, lying or lagging RPC nodes. The rules it keeps (issue 15):
// - every signed attempt (nonce, raw bytes, hash, fees) is stored BEFORE it is broadcast; after a restart the
//   stored bytes are broadcast again, never re-signed at another nonce while theirs can still land;
// - one batch in flight per keeper (advisory lock + a unique index), nonces never race;
// - a batch is settled by what the chain says about ALL its stored hashes (receipts) and its tokens (isRevealed),
//   never by a node's word that something was dropped.
// Its parts, each a class this one extends: sender-state.ts (state, status), transaction-broadcaster.ts (sign,
// store, broadcast, replace), batch-settler.ts (receipts, confirm, revert, release); types in reveal-types.ts.
import { BatchSettler } from './batch-settler.js';
import {
  MAX_TRANSACTION_GAS,
  callFor,
  emptyResult,
  revertErrorData,
  type BatchResult,
  type BatchToken,
} from './reveal-types.js';
import type { Hex } from 'viem';
import type { RevealTransaction } from '../../db/schema.js';
import { decodeRevealCall } from '../../providers/chain/reveal-chain.js';
import { decodeContractRevert } from '../../providers/chain/contract-error.js';
import * as revealAttempts from '../../repositories/reveal-attempts.repository.js';
import * as revealTransactions from '../../repositories/reveal-transactions.repository.js';
import * as tokenQueue from '../../repositories/token-queue.repository.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import { bufferedGasLimit } from './fees.js';
import { tryKeeperLock, type KeeperLock } from './keeper-lock.js';
import { revealMetrics } from '../../metrics/reveal-metrics.js';

export {
  MAX_TRANSACTION_GAS,
  type BatchResult,
  type BatchToken,
  type RevealSenderDeps,
  type RevealSettings,
} from './reveal-types.js';
export { type RevealStatus } from './reveal-status.js';

export class RevealSender extends BatchSettler {
  /**
   * Reveals a claimed batch: first settles whatever this keeper still has in flight (a crash, another process),
   * then checks the batch against the chain, sends it and waits until it is settled. Resolves early (tokens
   * `inFlight`) when `signal` aborts; the stored attempts let any later sender finish the job.
   */
  async revealBatch(tokens: readonly BatchToken[], signal: AbortSignal): Promise<BatchResult> {
    const lock = await tryKeeperLock(this.deps.database, this.deps.chain.keeperAddress);
    if (lock === undefined) return { ...emptyResult(), keeperBusy: true };
    try {
      const resumed = await this.settleInFlight(lock, signal);
      if (!resumed) return { ...emptyResult(), inFlight: tokens.map((t) => t.tokenId) };
      return await this.sendBatch(tokens, lock, signal);
    } finally {
      await this.setStatus('idle');
      await lock.release();
    }
  }

  /** One read of the chain (its head): throws when the node does not answer. */
  async probeChain(): Promise<void> {
    await this.deps.chain.blockNumber();
  }

  /** Settles this keeper's in-flight batches (at start, before anything new). False when stopped first. */
  async resume(signal: AbortSignal): Promise<boolean | 'busy'> {
    const lock = await tryKeeperLock(this.deps.database, this.deps.chain.keeperAddress);
    if (lock === undefined) return 'busy';
    try {
      return await this.settleInFlight(lock, signal);
    } finally {
      await this.setStatus('idle');
      await lock.release();
    }
  }

  protected async settleInFlight(lock: KeeperLock, signal: AbortSignal): Promise<boolean> {
    for (const row of await revealTransactions.listInFlightForKeeper(this.db, this.keeper)) {
      if (signal.aborted) return false;
      const attempts = await revealAttempts.listByTransaction(this.db, row.id);
      const first = attempts[0];
      if (first === undefined) {
        // Nothing was ever signed for it (the process stopped before): nothing can land. Its tokens go back.
        await this.release(row, { code: 'ABANDONED', message: 'no transaction was signed for this batch' });
        continue;
      }
      const call = decodeRevealCall(first.rawTransaction as Hex);
      if (call === undefined)
        throw new Error(`reveal batch ${row.id}: its stored bytes are not a revealTokens call`);
      this.log.info('reveal.resumed', {
        revealTransactionId: row.id,
        nonce: row.nonce,
        attempts: attempts.length,
      });
      const outcome = await this.settle({ row, call }, lock, signal, true);
      if (outcome === undefined) return false;
    }
    return true;
  }

  protected async sendBatch(
    tokens: readonly BatchToken[],
    lock: KeeperLock,
    signal: AbortSignal,
  ): Promise<BatchResult> {
    const result = emptyResult();
    const { chain } = this.deps;
    const candidates = [...tokens].sort((a, b) => a.tokenId - b.tokenId);
    if (candidates.length === 0) return result;

    // One round of reads: the last minted id and every candidate's isRevealed.
    const ids = candidates.map((t) => BigInt(t.tokenId));
    const [nextTokenId, revealed] = await Promise.all([chain.nextTokenId(), chain.areRevealed(ids)]);
    const notMinted = candidates.filter((t) => BigInt(t.tokenId) >= nextTokenId);
    const already = candidates.filter((t, i) => revealed[i] === true && BigInt(t.tokenId) < nextTokenId);
    let batch = candidates.filter((t, i) => revealed[i] !== true && BigInt(t.tokenId) < nextTokenId);
    const missingCid = batch.filter((t) => t.metadataCid === null);
    batch = batch.filter((t) => t.metadataCid !== null);

    if (already.length > 0) {
      result.synced = await tokenQueue.markRevealed(
        this.db,
        already.map((t) => t.id),
        null,
      );
      revealMetrics.synced(result.synced.length);
      this.log.info('reveal.synced', { tokenIds: result.synced, reason: 'already revealed on chain' });
    }
    if (notMinted.length > 0 || missingCid.length > 0) {
      const deferred = [...notMinted, ...missingCid];
      await tokenQueue.releaseForReveal(
        this.db,
        deferred.map((t) => t.id),
        {
          errorData: {
            code: notMinted.length > 0 ? 'NOT_MINTED' : 'NO_METADATA_CID',
            message: `token ids not minted on chain yet (nextTokenId ${nextTokenId}) or without a metadata CID`,
            transient: true,
          },
          backoffBaseSeconds: this.deps.settings.retryBaseSeconds,
          backoffCapSeconds: this.deps.settings.retryCapSeconds,
        },
      );
      result.deferred.push(...deferred.map((t) => t.tokenId));
      this.log.warn('reveal.deferred', {
        tokenIds: deferred.map((t) => t.tokenId),
        nextTokenId: nextTokenId.toString(),
        reason: 'not minted on chain, or no metadata CID',
      });
    }
    if (batch.length === 0) return result;

    let call = callFor(batch);
    let gas: bigint;
    try {
      gas = await chain.estimateRevealGas(call);
      // A batch over the per-transaction gas limit is cut to what fits; the rest goes back to ready at once.
      const limit = this.deps.settings.maxTransactionGas ?? MAX_TRANSACTION_GAS;
      while (bufferedGasLimit(gas, this.deps.settings.gasBuffer) > limit && batch.length > 1) {
        const keep = Math.max(
          1,
          Math.floor(
            (batch.length * Number(limit)) / Number(bufferedGasLimit(gas, this.deps.settings.gasBuffer)),
          ) - 1,
        );
        const cut = batch.slice(keep);
        batch = batch.slice(0, keep);
        await tokenQueue.releaseForReveal(
          this.db,
          cut.map((t) => t.id),
          {
            errorData: {
              code: 'BATCH_SPLIT',
              message: 'left out of a batch above the gas limit per transaction',
            },
            backoffBaseSeconds: 0,
            backoffCapSeconds: 0,
          },
        );
        result.deferred.push(...cut.map((t) => t.tokenId));
        call = callFor(batch);
        gas = await chain.estimateRevealGas(call);
      }
    } catch (error) {
      const revert = decodeContractRevert(error);
      if (revert === undefined) throw error;
      // The call reverts before anything is sent: record the batch as failed, send nothing, spend nothing.
      const row = await this.insertBatch(batch);
      if (row === undefined) return result;
      const errorData = revertErrorData(revert, 'the reveal reverts in gas estimation; nothing was sent');
      const outcome = await this.revertTokens(row, errorData);
      result.reverted.push(...outcome.reverted);
      result.failed.push(...outcome.failed);
      return result;
    }

    const row = await this.insertBatch(batch);
    if (row === undefined) return result;
    // A token whose lease another claimer took is left out of the transaction too, not only out of the row.
    if (row.tokenRowIds.length < batch.length) {
      batch = batch.filter((t) => row.tokenRowIds.includes(t.id));
      call = callFor(batch);
    }
    const ready = await this.signFirst({ row, call }, gas, lock, signal);
    if (ready === undefined) {
      result.inFlight.push(...batch.map((t) => t.tokenId));
      return result;
    }
    const outcome = await this.settle(ready, lock, signal, false);
    if (outcome === undefined) {
      result.inFlight.push(...batch.map((t) => t.tokenId));
      return result;
    }
    result.revealed.push(...outcome.revealed);
    result.synced.push(...outcome.synced);
    result.deferred.push(...outcome.deferred);
    result.reverted.push(...outcome.reverted);
    result.failed.push(...outcome.failed);
    if (outcome.txHash !== undefined) result.txHash = outcome.txHash;
    if (outcome.gasUsed !== undefined) result.gasUsed = outcome.gasUsed;
    return result;
  }

  /** The batch row, naming only the tokens still `ready` and leased as claimed (compare-and-set). */
  protected async insertBatch(batch: readonly BatchToken[]): Promise<RevealTransaction | undefined> {
    return this.deps.database.db.transaction(async (tx) => {
      const owned: BatchToken[] = [];
      for (const token of batch) {
        const row = await tokensRepository.getById(tx, token.id);
        if (row?.status === 'ready' && row.leaseOwner !== null && row.leaseOwner === token.leaseOwner)
          owned.push(token);
      }
      if (owned.length < batch.length) {
        this.log.warn('reveal.lease_lost', {
          tokenIds: batch.filter((t) => !owned.includes(t)).map((t) => t.tokenId),
        });
      }
      if (owned.length === 0) return undefined;
      return revealTransactions.add(tx, {
        tokenRowIds: owned.map((t) => t.id),
        keeperAddress: this.keeper,
        status: 'pending',
      });
    });
  }
}

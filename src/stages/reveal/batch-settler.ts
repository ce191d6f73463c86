// Settling a sent reveal batch from what the chain says about all its stored hashes (receipts) and its tokens
// (isRevealed): confirmed with its tokens revealed in one transaction, reverted (tokens back to ready or failed),
// or released when its nonce was used by a transaction that is not ours (two reads).
import { TransactionBroadcaster } from './transaction-broadcaster.js';
import {
  attemptCall,
  emptyResult,
  revertErrorData,
  type BatchResult,
  type LandedReceipt,
  type LoadedBatch,
} from './reveal-types.js';
import type { Hex } from 'viem';
import type { ErrorData, RevealAttempt, RevealTransaction } from '../../db/schema.js';
import { type RevealCall } from '../../providers/chain/reveal-chain.js';
import * as revealAttempts from '../../repositories/reveal-attempts.repository.js';
import * as revealTransactions from '../../repositories/reveal-transactions.repository.js';
import * as tokenQueue from '../../repositories/token-queue.repository.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import { weiToGwei } from './fees.js';
import { type KeeperLock } from './keeper-lock.js';
import { sleep } from '../../lib/sleep.js';
import { revealMetrics } from '../../metrics/reveal-metrics.js';

export abstract class BatchSettler extends TransactionBroadcaster {
  /**
   * Polls until the batch is settled: a receipt for one of its hashes (confirmed or reverted), or its nonce used
   * by a transaction that is not ours (released). Replaces the latest attempt when it has waited too long.
   * `resumed`: the latest stored bytes are broadcast again first (a restart may have lost them in between).
   * Undefined when stopped first.
   */
  protected async settle(
    batch: LoadedBatch,
    lock: KeeperLock,
    signal: AbortSignal,
    resumed: boolean,
  ): Promise<BatchResult | undefined> {
    const { chain, settings } = this.deps;
    let rebroadcast = resumed;
    let stuckLogged = false;
    while (!signal.aborted) {
      const row = (await revealTransactions.getById(this.db, batch.row.id)) ?? batch.row;
      if (row.status === 'confirmed' || row.status === 'failed') return emptyResult();
      const attempts = await revealAttempts.listByTransaction(this.db, row.id);
      const live = attempts.filter((a) => a.status !== 'rejected');
      const landed = await this.findReceipt(live);
      if (landed !== undefined) return this.finishLanded(row, landed);
      if (live.length === 0) {
        // Every attempt was refused for good: none can land, the nonce was never used.
        const reason = attempts.at(-1)?.broadcastError ?? {
          code: 'REJECTED',
          message: 'every attempt was refused',
        };
        return this.revertTokens(row, {
          ...reason,
          code: 'REJECTED',
          message: `the node refused the transaction: ${reason.message}`,
        });
      }
      const nonce = row.nonce ?? live[0]?.nonce ?? 0;
      const latest = await chain.transactionCount('latest');
      if (latest > nonce) {
        const resolution = await this.resolveUsedNonce(row, batch.call, live, signal);
        if (resolution !== 'wait') return resolution;
        await sleep(settings.pollIntervalMs, signal);
        continue;
      }
      const last = attempts.at(-1);
      if (last === undefined) throw new Error(`reveal batch ${row.id} has no attempt`);
      const age = Date.now() - (last.broadcastAt ?? last.createdAt).getTime();
      if (rebroadcast || last.status === 'signed') {
        rebroadcast = false;
        await this.broadcast(row, last);
      } else if (age >= settings.transactionTimeoutMs) {
        if (last.bump < settings.maxFeeBumps) {
          await this.replace({ row, call: batch.call }, last, lock);
        } else if (attemptCall(last).tokenIds.length > 1) {
          // Not included after every fee bump: half the batch replaces it at the same nonce, again at each
          // timeout, down to one token.
          await this.replace({ row, call: batch.call }, last, lock, true);
        } else if (!stuckLogged) {
          stuckLogged = true;
          await this.waitFor(
            'TRANSACTION_STUCK',
            `nonce ${nonce} not mined after ${settings.maxFeeBumps} fee bumps; waiting`,
          );
          await this.broadcast(row, last);
        }
      } else {
        await this.setStatus('sending');
      }
      await sleep(settings.pollIntervalMs, signal);
    }
    return undefined;
  }

  protected async findReceipt(attempts: readonly RevealAttempt[]): Promise<LandedReceipt | undefined> {
    const receipts = await Promise.all(attempts.map((a) => this.deps.chain.receipt(a.txHash as Hex)));
    for (const [i, receipt] of receipts.entries()) {
      const attempt = attempts[i];
      if (receipt !== undefined && attempt !== undefined) return { receipt, attempt };
    }
    return undefined;
  }

  /**
   * The chain's nonce has passed ours. Either one of our hashes landed (its receipt is missing for now: a
   * load-balanced node behind) or another transaction used the nonce. Decided from two reads, a poll apart, of
   * every stored hash's receipt and of isRevealed: all revealed -> ours landed, wait for its receipt; no receipt
   * and not all revealed (twice) -> ours can never land (its nonce is gone), the tokens go back to `ready`.
   */
  protected async resolveUsedNonce(
    row: RevealTransaction,
    call: RevealCall,
    live: readonly RevealAttempt[],
    signal: AbortSignal,
  ): Promise<BatchResult | 'wait'> {
    let allRevealedReads = 0;
    for (let read = 0; read < 2; read += 1) {
      if (read > 0) await sleep(this.deps.settings.pollIntervalMs, signal);
      if (signal.aborted) return 'wait';
      const landed = await this.findReceipt(live);
      if (landed !== undefined) return this.finishLanded(row, landed);
      // Every attempt reveals the first attempt's tokens or a part of them (a split): one of ours landed when all
      // the tokens of one attempt are revealed.
      const revealed = await this.deps.chain.areRevealed(call.tokenIds);
      const revealedIds = new Set(call.tokenIds.filter((_, i) => revealed[i] === true));
      if (live.some((a) => attemptCall(a).tokenIds.every((id) => revealedIds.has(id)))) allRevealedReads += 1;
    }
    if (allRevealedReads > 0) {
      await this.waitFor(
        'RECEIPT_MISSING',
        `nonce ${row.nonce} is used and the tokens are revealed; waiting for the receipt`,
      );
      return 'wait';
    }
    return this.release(row, {
      code: 'NONCE_USED_ELSEWHERE',
      message: `nonce ${row.nonce} was used by a transaction that is not ours: none of our ${live.length} hashes has a receipt and the tokens are not revealed (read twice)`,
    });
  }

  protected async finishLanded(batchRow: RevealTransaction, landed: LandedReceipt): Promise<BatchResult> {
    const { receipt } = landed;
    const call = attemptCall(landed.attempt);
    const { row, released } = await this.narrowToLanded(batchRow, call, receipt.txHash);
    const result = { ...emptyResult(), deferred: released };
    const mined = { gasUsed: receipt.gasUsed, effectiveGasPrice: receipt.effectiveGasPrice };
    const tokens = row.tokenRowIds.length;
    if (receipt.status === 'success') {
      const settledHere = await this.deps.database.db.transaction(async (tx) => {
        const settled = await revealTransactions.settle(tx, row.id, {
          status: 'confirmed',
          txHash: receipt.txHash,
          blockNumber: Number(receipt.blockNumber),
          gasUsed: Number(receipt.gasUsed),
          gasPriceGwei: weiToGwei(receipt.effectiveGasPrice),
          confirmedAt: new Date(),
          errorData: null,
        });
        if (settled === undefined) return false;
        result.revealed = await tokenQueue.markRevealed(tx, row.tokenRowIds, receipt.txHash);
        return true;
      });
      if (settledHere) {
        revealMetrics.mined({ outcome: 'confirmed', ...mined, tokens, revealed: result.revealed.length });
      }
      result.txHash = receipt.txHash;
      result.gasUsed = receipt.gasUsed;
      this.log.info('reveal.confirmed', {
        revealTransactionId: row.id,
        txHash: receipt.txHash,
        blockNumber: Number(receipt.blockNumber),
        gasUsed: Number(receipt.gasUsed),
        tokens: result.revealed.length,
        gasPerToken:
          result.revealed.length > 0
            ? Math.round(Number(receipt.gasUsed) / result.revealed.length)
            : undefined,
      });
      return result;
    }
    const revert = await this.deps.chain.revertReason(call, receipt.blockNumber);
    const errorData: ErrorData = {
      ...revertErrorData(revert, `reverted in block ${receipt.blockNumber}`),
      txHash: receipt.txHash,
      blockNumber: Number(receipt.blockNumber),
      gasUsed: Number(receipt.gasUsed),
    };
    const outcome = await this.revertTokens(row, errorData, {
      txHash: receipt.txHash,
      blockNumber: Number(receipt.blockNumber),
      gasUsed: Number(receipt.gasUsed),
      gasPriceGwei: weiToGwei(receipt.effectiveGasPrice),
    });
    if (outcome.reverted.length + outcome.failed.length > 0) {
      revealMetrics.mined({ outcome: 'reverted', ...mined, tokens, revealed: 0 });
    }
    return {
      ...outcome,
      deferred: [...released, ...outcome.deferred],
      txHash: receipt.txHash,
      gasUsed: receipt.gasUsed,
    };
  }

  /**
   * A split batch whose smaller transaction landed: the batch row keeps the tokens that transaction names, the
   * others go back to `ready` at once with no attempt counted (their batch was too big, not their fault). The
   * landed nonce means no other attempt of the batch can land, so none of them can be revealed twice.
   */
  private async narrowToLanded(
    row: RevealTransaction,
    call: RevealCall,
    txHash: string,
  ): Promise<{ row: RevealTransaction; released: number[] }> {
    const onChain = await tokensRepository.tokenIdsByRowId(this.db, row.tokenRowIds);
    const landedIds = new Set(call.tokenIds.map(Number));
    const keep = row.tokenRowIds.filter((id) => landedIds.has(onChain.get(id) ?? -1));
    if (keep.length === row.tokenRowIds.length || keep.length === 0) return { row, released: [] };
    const leftOut = row.tokenRowIds.filter((id) => !keep.includes(id));
    return this.deps.database.db.transaction(async (tx) => {
      const narrowed = await revealTransactions.narrowTokens(tx, row.id, keep);
      if (narrowed === undefined) return { row, released: [] };
      const moved = await tokenQueue.releaseForReveal(tx, leftOut, {
        errorData: {
          code: 'BATCH_SPLIT',
          message: `left out of a split batch: ${txHash} revealed ${keep.length} of its ${row.tokenRowIds.length} tokens`,
          stage: 'reveal',
          transient: true,
        },
        backoffBaseSeconds: 0,
        backoffCapSeconds: 0,
      });
      const released = moved.map((m) => m.tokenId);
      this.log.info('reveal.split_settled', {
        revealTransactionId: row.id,
        txHash,
        tokens: keep.length,
        backToReady: released,
      });
      return { row: narrowed, released };
    });
  }

  /** The batch failed (reverted, or could not be sent): its tokens back to ready with a backoff, or failed. */
  protected async revertTokens(
    row: RevealTransaction,
    errorData: ErrorData,
    mined:
      { txHash: string; blockNumber: number; gasUsed: number; gasPriceGwei: string } | undefined = undefined,
  ): Promise<BatchResult> {
    const result = emptyResult();
    await this.deps.database.db.transaction(async (tx) => {
      const settled = await revealTransactions.settle(tx, row.id, {
        status: 'failed',
        errorData,
        ...(mined ?? {}),
      });
      if (settled === undefined) return;
      const moved = await tokenQueue.releaseForReveal(tx, row.tokenRowIds, {
        errorData: { ...errorData, stage: 'reveal' },
        maxAttempts: this.deps.settings.maxAttempts,
        backoffBaseSeconds: this.deps.settings.retryBaseSeconds,
        backoffCapSeconds: this.deps.settings.retryCapSeconds,
      });
      result.reverted = moved.filter((m) => m.status === 'ready').map((m) => m.tokenId);
      result.failed = moved.filter((m) => m.status === 'failed').map((m) => m.tokenId);
    });
    this.log.warn('reveal.failed', {
      revealTransactionId: row.id,
      code: errorData.code,
      detail: errorData.message,
      backToReady: result.reverted,
      failed: result.failed,
    });
    return result;
  }

  /** Nothing of the batch landed and nothing can: row failed, tokens claimable again at once, no attempt blamed. */
  protected async release(row: RevealTransaction, errorData: ErrorData): Promise<BatchResult> {
    const result = emptyResult();
    await this.deps.database.db.transaction(async (tx) => {
      const settled = await revealTransactions.settle(tx, row.id, { status: 'failed', errorData });
      if (settled === undefined) return;
      const moved = await tokenQueue.releaseForReveal(tx, row.tokenRowIds, {
        errorData: { ...errorData, stage: 'reveal', transient: true },
        backoffBaseSeconds: 0,
        backoffCapSeconds: 0,
      });
      result.deferred = moved.map((m) => m.tokenId);
    });
    this.log.warn('reveal.released', {
      revealTransactionId: row.id,
      code: errorData.code,
      detail: errorData.message,
      tokenIds: result.deferred,
    });
    return result;
  }
}

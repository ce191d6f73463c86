// Signing and broadcasting a reveal batch: the first transaction at the next nonce (waiting while fees are above
// the cap or the keeper cannot pay), every attempt stored before it is broadcast, the node's answer classified,
// and same-nonce replacements with bumped fees.
import { SenderState } from './sender-state.js';
import { attemptCall, firstHalf, type LoadedBatch } from './reveal-types.js';
import type { Hex } from 'viem';
import type { ErrorData, RevealAttempt, RevealTransaction } from '../../db/schema.js';
import { type RevealCall } from '../../providers/chain/reveal-chain.js';
import * as revealAttempts from '../../repositories/reveal-attempts.repository.js';
import * as revealTransactions from '../../repositories/reveal-transactions.repository.js';
import { bufferedGasLimit, initialFees, replacementFees, weiToGwei, type Fees } from './fees.js';
import { type KeeperLock } from './keeper-lock.js';
import { classifySendError } from './send-errors.js';
import { sleep } from '../../lib/sleep.js';
import { revealMetrics } from '../../metrics/reveal-metrics.js';

export abstract class TransactionBroadcaster extends SenderState {
  /**
   * Signs the batch's first transaction at the next nonce, stores it, then broadcasts it. Waits (and says why)
   * while fees are above the cap or the keeper cannot pay. Undefined when stopped while waiting.
   */
  protected async signFirst(
    batch: LoadedBatch,
    gasEstimate: bigint,
    lock: KeeperLock,
    signal: AbortSignal,
  ): Promise<LoadedBatch | undefined> {
    const { chain, settings } = this.deps;
    const gas = bufferedGasLimit(gasEstimate, settings.gasBuffer);
    while (!signal.aborted) {
      const estimate = await chain.estimateFees();
      const decision = initialFees(estimate, settings.maxGasPriceWei);
      if (!decision.ok) {
        await this.waitFor('GAS_PRICE_ABOVE_CAP', decision.reason);
        await sleep(settings.pollIntervalMs, signal);
        continue;
      }
      const [latest, lastNonce] = await Promise.all([
        chain.transactionCount('latest'),
        revealAttempts.maxLiveNonce(this.db, this.keeper),
      ]);
      const nonce = Math.max(lastNonce === undefined ? 0 : lastNonce + 1, latest);
      if (!(await this.canPay(batch.call, nonce, gas, decision.fees))) {
        await sleep(settings.pollIntervalMs, signal);
        continue;
      }
      await this.setStatus('sending');
      await lock.assertHeld();
      const attempt = await this.storeAttempt(batch, nonce, 0, gas, decision.fees);
      const row = { ...batch.row, nonce };
      await this.broadcast(row, attempt);
      return { row, call: batch.call };
    }
    return undefined;
  }

  /** Whether the keeper's balance covers the L2 fee (gas limit x max fee) plus the L1 data fee; says so if not. */
  protected async canPay(call: RevealCall, nonce: number, gas: bigint, fees: Fees): Promise<boolean> {
    const { chain } = this.deps;
    const [balance, l1Fee] = await Promise.all([
      chain.balance(),
      chain.estimateL1Fee(call, { nonce, gas, ...fees }),
    ]);
    await this.noteBalance(balance);
    revealMetrics.keeperBalance(balance);
    const cost = gas * fees.maxFeePerGas + l1Fee;
    if (balance >= cost) return true;
    await this.waitFor(
      'KEEPER_BALANCE_LOW',
      `keeper balance ${balance} wei is below the batch's cost ${cost} wei (L2 ${gas * fees.maxFeePerGas} + L1 ${l1Fee})`,
    );
    return false;
  }

  protected async storeAttempt(
    batch: LoadedBatch,
    nonce: number,
    bump: number,
    gas: bigint,
    fees: Fees,
  ): Promise<RevealAttempt> {
    const signed = await this.deps.chain.sign(batch.call, { nonce, gas, ...fees });
    const attempt = await this.deps.database.db.transaction(async (tx) => {
      if (bump === 0) {
        const fixed = await revealTransactions.setNonce(tx, batch.row.id, nonce);
        if (fixed === undefined) throw new Error(`reveal batch ${batch.row.id} already has a nonce`);
      }
      return revealAttempts.add(tx, {
        revealTransactionId: batch.row.id,
        bump,
        nonce,
        rawTransaction: signed.rawTransaction,
        txHash: signed.txHash.toLowerCase(),
        maxFeePerGasWei: fees.maxFeePerGas.toString(),
        maxPriorityFeePerGasWei: fees.maxPriorityFeePerGas.toString(),
        gasLimit: Number(gas),
      });
    });
    this.log.info('reveal.signed', {
      revealTransactionId: batch.row.id,
      txHash: attempt.txHash,
      nonce,
      bump,
      tokens: batch.call.tokenIds.length,
      gasLimit: gas.toString(),
      maxFeePerGasGwei: weiToGwei(fees.maxFeePerGas),
      maxPriorityFeePerGasGwei: weiToGwei(fees.maxPriorityFeePerGas),
    });
    return attempt;
  }

  /** Sends stored bytes; the node's answer decides what the attempt is now. Never throws for a refusal. */
  protected async broadcast(row: RevealTransaction, attempt: RevealAttempt): Promise<void> {
    try {
      await this.deps.chain.broadcast(attempt.rawTransaction as Hex);
      await this.markSent(row, attempt);
      this.log.info('reveal.sent', {
        revealTransactionId: row.id,
        txHash: attempt.txHash,
        nonce: attempt.nonce,
        bump: attempt.bump,
      });
      return;
    } catch (error) {
      const classified = classifySendError(error);
      const errorData: ErrorData = {
        code: classified.code,
        message: classified.message,
        transient: classified.kind !== 'rejected',
        at: new Date().toISOString(),
      };
      if (classified.kind === 'pending') {
        // Ours is pending already (identical bytes, or an earlier attempt at this nonce with higher fees).
        await this.markSent(row, attempt, errorData);
        this.log.info('reveal.already_pending', {
          revealTransactionId: row.id,
          txHash: attempt.txHash,
          code: classified.code,
        });
        return;
      }
      await revealAttempts.recordBroadcastError(
        this.db,
        attempt.id,
        errorData,
        classified.kind === 'rejected',
      );
      this.log.warn('reveal.send_refused', {
        revealTransactionId: row.id,
        txHash: attempt.txHash,
        kind: classified.kind,
        code: classified.code,
        detail: classified.message,
      });
      if (classified.kind === 'transient') await this.waitFor(classified.code, classified.message);
    }
  }

  protected async markSent(row: RevealTransaction, attempt: RevealAttempt, note?: ErrorData): Promise<void> {
    await this.deps.database.db.transaction(async (tx) => {
      await revealAttempts.markBroadcast(tx, attempt.id, note);
      await revealTransactions.update(tx, row.id, {
        status: 'sent',
        txHash: attempt.txHash,
        sentAt: row.sentAt ?? new Date(),
      });
    });
  }

  /**
   * A same-nonce replacement with both fees >= 1.15x the previous (+1 wei) and >= a fresh estimate, revealing what
   * the last attempt reveals; `split`: only its first half (a batch that keeps failing to be included). Exactly
   * one transaction lands at the nonce either way, so no token is ever sent twice; the tokens left out are named by
   * the batch until it settles, then given back to `ready`.
   */
  protected async replace(
    batch: LoadedBatch,
    last: RevealAttempt,
    lock: KeeperLock,
    split = false,
  ): Promise<void> {
    const { chain, settings } = this.deps;
    const previous: Fees = {
      maxFeePerGas: BigInt(last.maxFeePerGasWei),
      maxPriorityFeePerGas: BigInt(last.maxPriorityFeePerGasWei),
    };
    const decision = replacementFees(previous, await chain.estimateFees(), settings.maxGasPriceWei);
    if (!decision.ok) {
      await this.waitFor('GAS_PRICE_ABOVE_CAP', decision.reason);
      return;
    }
    const sent = attemptCall(last);
    const call = split ? firstHalf(sent) : sent;
    const gas = split ? await this.gasLimitOr(call, BigInt(last.gasLimit)) : BigInt(last.gasLimit);
    if (!(await this.canPay(call, last.nonce, gas, decision.fees))) return;
    await lock.assertHeld();
    const attempt = await this.storeAttempt(
      { row: batch.row, call },
      last.nonce,
      last.bump + 1,
      gas,
      decision.fees,
    );
    revealMetrics.replaced();
    this.log.warn(split ? 'reveal.split' : 'reveal.replaced', {
      revealTransactionId: batch.row.id,
      nonce: last.nonce,
      replacedTxHash: last.txHash,
      txHash: attempt.txHash,
      bump: attempt.bump,
      ...(split
        ? {
            tokens: call.tokenIds.length,
            leftOut: sent.tokenIds.slice(call.tokenIds.length).map(Number),
            detail: `not included after ${settings.maxFeeBumps} fee bumps: half the batch at the same nonce`,
          }
        : {}),
    });
    await this.broadcast(batch.row, attempt);
  }

  /** The buffered gas estimate of `call`, or `fallback` when it cannot be estimated now. */
  private async gasLimitOr(call: RevealCall, fallback: bigint): Promise<bigint> {
    try {
      return bufferedGasLimit(await this.deps.chain.estimateRevealGas(call), this.deps.settings.gasBuffer);
    } catch {
      return fallback;
    }
  }
}

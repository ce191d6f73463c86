// The reveal sender: turns a claimed batch of `ready` tokens into one revealTokens transaction that lands exactly
// once, through restarts, stuck transactions, lying or lagging RPC nodes. The rules it keeps (issue 15):
// - every signed attempt (nonce, raw bytes, hash, fees) is stored BEFORE it is broadcast; after a restart the
//   stored bytes are broadcast again, never re-signed at another nonce while theirs can still land;
// - one batch in flight per keeper (advisory lock + a unique index), nonces never race;
// - a batch is settled by what the chain says about ALL its stored hashes (receipts) and its tokens (isRevealed),
//   never by a node's word that something was dropped.
import type { Hex } from 'viem';
import type { Database, Executor } from '../../db/client.js';
import type { ErrorData, RevealAttempt, RevealTransaction } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import {
  decodeRevealCall,
  type RevealCall,
  type RevealChain,
  type RevealReceipt,
} from '../../providers/chain/reveal-chain.js';
import { decodeContractRevert } from '../../providers/chain/contract-error.js';
import * as revealAttempts from '../../repositories/reveal-attempts.repository.js';
import * as revealTransactions from '../../repositories/reveal-transactions.repository.js';
import * as tokenQueue from '../../repositories/token-queue.repository.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import { toCidV0 } from '../../lib/cid.js';
import { bufferedGasLimit, initialFees, replacementFees, weiToGwei, type Fees } from './fees.js';
import { tryKeeperLock, type KeeperLock } from './keeper-lock.js';
import { classifySendError } from './send-errors.js';
import { sleep } from '../../lib/sleep.js';
import { revealMetrics } from '../../metrics/reveal-metrics.js';

/** Base's per-transaction gas limit (2^24, EIP-7825): a batch estimated above it is split. */
export const MAX_TRANSACTION_GAS = 16_777_216n;

export type RevealSettings = {
  /** Gas limit = estimate x this (REVEAL_GAS_BUFFER). */
  gasBuffer: number;
  /** REVEAL_MAX_GAS_PRICE_GWEI in wei; undefined: no cap. */
  maxGasPriceWei: bigint | undefined;
  /** TRANSACTION_TIMEOUT_SECONDS: an attempt not mined after this is replaced with bumped fees. */
  transactionTimeoutMs: number;
  /** REVEAL_MAX_FEE_BUMPS: replacements per batch at most. */
  maxFeeBumps: number;
  /** MAX_ATTEMPTS_REVEAL: a token whose reveal reverted this many times is `failed`. */
  maxAttempts: number;
  /** How often receipts are polled and waits (fees, balance) are re-checked. */
  pollIntervalMs: number;
  /** Backoff of tokens sent back to `ready` after a revert: base x 2^(attempts-1), capped. */
  retryBaseSeconds: number;
  retryCapSeconds: number;
  maxTransactionGas?: bigint;
};

/** A claimed `ready` token as the sender needs it (a claimed tokens_s0 row will do). */
export type BatchToken = {
  id: string;
  tokenId: number;
  metadataCid: string | null;
  leaseOwner: string | null;
};

export type BatchResult = {
  /** Revealed by our transaction. */
  revealed: number[];
  /** Found revealed on chain already: synced to `revealed` without a transaction. */
  synced: number[];
  /** Given back to `ready` (not minted yet, left out of a split batch, or our nonce used by another transaction). */
  deferred: number[];
  /** Reverted: back to `ready` with a backoff, or `failed` at MAX_ATTEMPTS_REVEAL. */
  reverted: number[];
  failed: number[];
  /** Still in flight when the sender was stopped: resumed by the next sender of this keeper. */
  inFlight: number[];
  /** Another sender holds the keeper: nothing was done. */
  keeperBusy: boolean;
  txHash?: Hex;
  gasUsed?: bigint;
};

/** What an operator sees of the reveal stage (GET /api/pipeline/stats). */
export type RevealStatus = {
  state: 'idle' | 'sending' | 'waiting';
  /** Why the stage waits (fees above the cap, keeper balance, chain unreachable, stuck transaction). */
  reason: string | undefined;
  since: Date;
  keeperAddress: string;
  keeperBalanceWei: string | undefined;
  /** Nonce of the batch in flight. */
  pendingNonce: number | undefined;
  lastTransactionHash: string | undefined;
  lastTransactionAt: Date | undefined;
};

type LoadedBatch = { row: RevealTransaction; call: RevealCall };

type LandedReceipt = { receipt: RevealReceipt; attempt: RevealAttempt };

const emptyResult = (): BatchResult => ({
  revealed: [],
  synced: [],
  deferred: [],
  reverted: [],
  failed: [],
  inFlight: [],
  keeperBusy: false,
});

export type RevealSenderDeps = {
  database: Database;
  chain: RevealChain;
  settings: RevealSettings;
  logger: Logger;
};

export class RevealSender {
  private readonly db: Executor;
  private readonly keeper: string;
  private readonly log: Logger;
  private readonly currentStatus: RevealStatus;

  constructor(private readonly deps: RevealSenderDeps) {
    this.db = deps.database.db;
    // Stored lower-case (reveal_transactions_keeper_address_format).
    this.keeper = deps.chain.keeperAddress.toLowerCase();
    this.log = deps.logger.child({ stage: 'reveal' });
    this.currentStatus = {
      state: 'idle',
      reason: undefined,
      since: new Date(),
      keeperAddress: deps.chain.keeperAddress,
      keeperBalanceWei: undefined,
      pendingNonce: undefined,
      lastTransactionHash: undefined,
      lastTransactionAt: undefined,
    };
  }

  /** The keeper's address, checksummed. */
  get keeperAddress(): string {
    return this.deps.chain.keeperAddress;
  }

  status(): RevealStatus {
    return { ...this.currentStatus };
  }

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
      this.setStatus('idle', undefined);
      await lock.release();
    }
  }

  /** Settles this keeper's in-flight batches (at start, before anything new). False when stopped first. */
  async resume(signal: AbortSignal): Promise<boolean | 'busy'> {
    const lock = await tryKeeperLock(this.deps.database, this.deps.chain.keeperAddress);
    if (lock === undefined) return 'busy';
    try {
      return await this.settleInFlight(lock, signal);
    } finally {
      this.setStatus('idle', undefined);
      await lock.release();
    }
  }

  private async settleInFlight(lock: KeeperLock, signal: AbortSignal): Promise<boolean> {
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

  private async sendBatch(
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
  private async insertBatch(batch: readonly BatchToken[]): Promise<RevealTransaction | undefined> {
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

  /**
   * Signs the batch's first transaction at the next nonce, stores it, then broadcasts it. Waits (and says why)
   * while fees are above the cap or the keeper cannot pay. Undefined when stopped while waiting.
   */
  private async signFirst(
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
        this.waitFor('GAS_PRICE_ABOVE_CAP', decision.reason);
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
      await lock.assertHeld();
      const attempt = await this.storeAttempt(batch, nonce, 0, gas, decision.fees);
      const row = { ...batch.row, nonce };
      await this.broadcast(row, attempt);
      return { row, call: batch.call };
    }
    return undefined;
  }

  /** Whether the keeper's balance covers the L2 fee (gas limit x max fee) plus the L1 data fee; says so if not. */
  private async canPay(call: RevealCall, nonce: number, gas: bigint, fees: Fees): Promise<boolean> {
    const { chain } = this.deps;
    const [balance, l1Fee] = await Promise.all([
      chain.balance(),
      chain.estimateL1Fee(call, { nonce, gas, ...fees }),
    ]);
    this.currentStatus.keeperBalanceWei = balance.toString();
    revealMetrics.keeperBalance(balance);
    const cost = gas * fees.maxFeePerGas + l1Fee;
    if (balance >= cost) return true;
    this.waitFor(
      'KEEPER_BALANCE_LOW',
      `keeper balance ${balance} wei is below the batch's cost ${cost} wei (L2 ${gas * fees.maxFeePerGas} + L1 ${l1Fee})`,
    );
    return false;
  }

  private async storeAttempt(
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
    this.currentStatus.pendingNonce = nonce;
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
  private async broadcast(row: RevealTransaction, attempt: RevealAttempt): Promise<void> {
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
      if (classified.kind === 'transient') this.waitFor(classified.code, classified.message);
    }
  }

  private async markSent(row: RevealTransaction, attempt: RevealAttempt, note?: ErrorData): Promise<void> {
    await this.deps.database.db.transaction(async (tx) => {
      await revealAttempts.markBroadcast(tx, attempt.id, note);
      await revealTransactions.update(tx, row.id, {
        status: 'sent',
        txHash: attempt.txHash,
        sentAt: row.sentAt ?? new Date(),
      });
    });
    this.currentStatus.lastTransactionHash = attempt.txHash;
    this.currentStatus.lastTransactionAt = attempt.createdAt;
  }

  /**
   * Polls until the batch is settled: a receipt for one of its hashes (confirmed or reverted), or its nonce used
   * by a transaction that is not ours (released). Replaces the latest attempt when it has waited too long.
   * `resumed`: the latest stored bytes are broadcast again first (a restart may have lost them in between).
   * Undefined when stopped first.
   */
  private async settle(
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
      if (landed !== undefined) return this.finishLanded(row, batch.call, landed);
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
      this.currentStatus.pendingNonce = nonce;
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
        } else if (!stuckLogged) {
          stuckLogged = true;
          this.waitFor(
            'TRANSACTION_STUCK',
            `nonce ${nonce} not mined after ${settings.maxFeeBumps} fee bumps; waiting`,
          );
          await this.broadcast(row, last);
        }
      } else {
        this.setStatus('sending', undefined);
      }
      await sleep(settings.pollIntervalMs, signal);
    }
    return undefined;
  }

  /** A same-nonce replacement with both fees >= 1.15x the previous (+1 wei) and >= a fresh estimate. */
  private async replace(batch: LoadedBatch, last: RevealAttempt, lock: KeeperLock): Promise<void> {
    const { chain, settings } = this.deps;
    const previous: Fees = {
      maxFeePerGas: BigInt(last.maxFeePerGasWei),
      maxPriorityFeePerGas: BigInt(last.maxPriorityFeePerGasWei),
    };
    const decision = replacementFees(previous, await chain.estimateFees(), settings.maxGasPriceWei);
    if (!decision.ok) {
      this.waitFor('GAS_PRICE_ABOVE_CAP', decision.reason);
      return;
    }
    const gas = BigInt(last.gasLimit);
    if (!(await this.canPay(batch.call, last.nonce, gas, decision.fees))) return;
    await lock.assertHeld();
    const attempt = await this.storeAttempt(batch, last.nonce, last.bump + 1, gas, decision.fees);
    revealMetrics.replaced();
    this.log.warn('reveal.replaced', {
      revealTransactionId: batch.row.id,
      nonce: last.nonce,
      replacedTxHash: last.txHash,
      txHash: attempt.txHash,
      bump: attempt.bump,
    });
    await this.broadcast(batch.row, attempt);
  }

  private async findReceipt(attempts: readonly RevealAttempt[]): Promise<LandedReceipt | undefined> {
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
  private async resolveUsedNonce(
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
      if (landed !== undefined) return this.finishLanded(row, call, landed);
      const revealed = await this.deps.chain.areRevealed(call.tokenIds);
      if (revealed.every(Boolean)) allRevealedReads += 1;
    }
    if (allRevealedReads > 0) {
      this.waitFor(
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

  private async finishLanded(
    row: RevealTransaction,
    call: RevealCall,
    landed: LandedReceipt,
  ): Promise<BatchResult> {
    const { receipt } = landed;
    const result = emptyResult();
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
      this.currentStatus.pendingNonce = undefined;
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
    return { ...outcome, txHash: receipt.txHash, gasUsed: receipt.gasUsed };
  }

  /** The batch failed (reverted, or could not be sent): its tokens back to ready with a backoff, or failed. */
  private async revertTokens(
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
    this.currentStatus.pendingNonce = undefined;
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
  private async release(row: RevealTransaction, errorData: ErrorData): Promise<BatchResult> {
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
    this.currentStatus.pendingNonce = undefined;
    this.log.warn('reveal.released', {
      revealTransactionId: row.id,
      code: errorData.code,
      detail: errorData.message,
      tokenIds: result.deferred,
    });
    return result;
  }

  private waitFor(code: string, reason: string): void {
    const changed = this.currentStatus.state !== 'waiting' || this.currentStatus.reason !== reason;
    this.setStatus('waiting', `${code}: ${reason}`);
    if (changed) this.log.warn('reveal.waiting', { code, reason });
  }

  private setStatus(state: RevealStatus['state'], reason: string | undefined): void {
    if (this.currentStatus.state !== state || this.currentStatus.reason !== reason) {
      this.currentStatus.state = state;
      this.currentStatus.reason = reason;
      this.currentStatus.since = new Date();
    }
  }
}

function callFor(batch: readonly BatchToken[]): RevealCall {
  return {
    tokenIds: batch.map((t) => BigInt(t.tokenId)),
    uris: batch.map((t) => `ipfs://${toCidV0(t.metadataCid ?? '')}`),
  };
}

function revertErrorData(
  revert: { name: string; args: readonly unknown[]; reason: string | undefined } | undefined,
  context: string,
): ErrorData {
  if (revert === undefined)
    return { code: 'REVERTED', message: `${context} (no revert reason could be decoded)` };
  const args = revert.args.map((a) => String(a));
  return {
    code: 'REVERTED',
    message: `${revert.name}(${args.join(', ')})${revert.reason ? `: ${revert.reason}` : ''}; ${context}`,
    revert: revert.name,
    revertArgs: args,
  };
}

// The reveal sender's types and small pure helpers, shared by its parts (reveal-sender.ts and the classes it
// extends: sender-state.ts, transaction-broadcaster.ts, batch-settler.ts).
import type { Hex } from 'viem';
import type { Database } from '../../db/client.js';
import type { ErrorData, RevealAttempt, RevealTransaction } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import {
  decodeRevealCall,
  type RevealCall,
  type RevealChain,
  type RevealReceipt,
} from '../../providers/chain/reveal-chain.js';
import { toCidV0 } from '../../lib/cid.js';
import type { RevealStatusStore } from './reveal-status.js';

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

export type LoadedBatch = { row: RevealTransaction; call: RevealCall };

export type LandedReceipt = { receipt: RevealReceipt; attempt: RevealAttempt };

export const emptyResult = (): BatchResult => ({
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
  /** Where the status an operator sees is kept; one of its own when omitted. */
  status?: RevealStatusStore;
};

export function callFor(batch: readonly BatchToken[]): RevealCall {
  return {
    tokenIds: batch.map((t) => BigInt(t.tokenId)),
    uris: batch.map((t) => `ipfs://${toCidV0(t.metadataCid ?? '')}`),
  };
}

/** What a stored attempt reveals, read from its signed bytes (a split batch's attempts reveal fewer tokens). */
export function attemptCall(attempt: RevealAttempt): RevealCall {
  const call = decodeRevealCall(attempt.rawTransaction as Hex);
  if (call === undefined)
    throw new Error(`reveal attempt ${attempt.txHash}: its stored bytes are not a revealTokens call`);
  return call;
}

/** The first half of a call (rounded up): what a split batch still tries to reveal at its nonce. */
export function firstHalf(call: RevealCall): RevealCall {
  const keep = Math.ceil(call.tokenIds.length / 2);
  return { tokenIds: call.tokenIds.slice(0, keep), uris: call.uris.slice(0, keep) };
}

export function revertErrorData(
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

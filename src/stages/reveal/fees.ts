// EIP-1559 fee arithmetic of the reveal sender: pure functions, unit tested.

import type { FeeEstimate, Fees } from '../../providers/chain/reveal-chain.js';

export type { FeeEstimate, Fees };

const GWEI = 1_000_000_000n;

/** A gwei amount from configuration (may have decimals) in wei. */
export function gweiToWei(gwei: number): bigint {
  // Through a fixed 9-decimal string: 0.1 as a float is not exact, its rounding to 9 decimals is.
  const [whole = '0', fraction = ''] = gwei.toFixed(9).split('.');
  return BigInt(whole) * GWEI + BigInt(fraction.padEnd(9, '0'));
}

export function weiToGwei(wei: bigint): string {
  const whole = wei / GWEI;
  const fraction = (wei % GWEI).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}

/** ceil(value x 1.15) + 1: op-geth wants at least +10% on both fees; 15% and one wei leave room for rounding. */
export function bumpedMinimum(value: bigint): bigint {
  return (value * 115n + 99n) / 100n + 1n;
}

export type FeeDecision = { ok: true; fees: Fees } | { ok: false; reason: string };

/**
 * The fees of the first send: the node's estimate, the max fee capped at `capWei` (when set). When the price a
 * transaction would pay right now (base fee + priority fee) is above the cap, the answer is to wait.
 */
export function initialFees(estimate: FeeEstimate, capWei: bigint | undefined): FeeDecision {
  const payNow = estimate.baseFeePerGas + estimate.maxPriorityFeePerGas;
  if (capWei !== undefined && payNow > capWei) {
    return {
      ok: false,
      reason: `gas price ${weiToGwei(payNow)} gwei (base ${weiToGwei(estimate.baseFeePerGas)} + tip ${weiToGwei(
        estimate.maxPriorityFeePerGas,
      )}) is above REVEAL_MAX_GAS_PRICE_GWEI ${weiToGwei(capWei)}`,
    };
  }
  const maxFeePerGas = capWei === undefined ? estimate.maxFeePerGas : min(estimate.maxFeePerGas, capWei);
  return {
    ok: true,
    fees: {
      maxFeePerGas: max(maxFeePerGas, estimate.maxPriorityFeePerGas),
      maxPriorityFeePerGas: estimate.maxPriorityFeePerGas,
    },
  };
}

/**
 * The fees of a same-nonce replacement: both fees at least 1.15 x the previous ones plus one wei, and at least
 * a fresh estimate. Above the cap there is no replacement: wait (the previous one may still land).
 */
export function replacementFees(
  previous: Fees,
  estimate: FeeEstimate,
  capWei: bigint | undefined,
): FeeDecision {
  const maxPriorityFeePerGas = max(
    bumpedMinimum(previous.maxPriorityFeePerGas),
    estimate.maxPriorityFeePerGas,
  );
  const maxFeePerGas = max(bumpedMinimum(previous.maxFeePerGas), estimate.maxFeePerGas, maxPriorityFeePerGas);
  if (capWei !== undefined && maxFeePerGas > capWei) {
    return {
      ok: false,
      reason: `a replacement needs a max fee of ${weiToGwei(maxFeePerGas)} gwei, above REVEAL_MAX_GAS_PRICE_GWEI ${weiToGwei(
        capWei,
      )}`,
    };
  }
  return { ok: true, fees: { maxFeePerGas, maxPriorityFeePerGas } };
}

/** Gas limit = estimate x buffer, rounded up. */
export function bufferedGasLimit(estimate: bigint, buffer: number): bigint {
  const perMille = BigInt(Math.ceil(buffer * 1000));
  return (estimate * perMille + 999n) / 1000n;
}

function max(...values: bigint[]): bigint {
  return values.reduce((a, b) => (a > b ? a : b));
}

function min(...values: bigint[]): bigint {
  return values.reduce((a, b) => (a < b ? a : b));
}

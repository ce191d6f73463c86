// The reveal sender's fee arithmetic and its reading of node refusals: pure functions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BaseError } from 'viem';
import {
  bufferedGasLimit,
  bumpedMinimum,
  gweiToWei,
  initialFees,
  replacementFees,
  weiToGwei,
} from '../../../src/stages/reveal/fees.js';
import { classifySendError } from '../../../src/stages/reveal/send-errors.js';

const gwei = (n: number) => gweiToWei(n);

describe('reveal fees', () => {
  it('converts gwei exactly, decimals included', () => {
    assert.equal(gweiToWei(0.1), 100_000_000n);
    assert.equal(gweiToWei(25), 25_000_000_000n);
    assert.equal(weiToGwei(1_500_000_001n), '1.500000001');
    assert.equal(weiToGwei(2_000_000_000n), '2');
  });

  it('a replacement raises both fees to at least ceil(1.15 x previous) + 1 wei', () => {
    assert.equal(bumpedMinimum(100n), 116n);
    assert.equal(bumpedMinimum(101n), 118n); // ceil(116.15) + 1
    const previous = { maxFeePerGas: 1000n, maxPriorityFeePerGas: 100n };
    const low = { baseFeePerGas: 1n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n };
    const decision = replacementFees(previous, low, undefined);
    assert.deepEqual(decision, { ok: true, fees: { maxFeePerGas: 1151n, maxPriorityFeePerGas: 116n } });
  });

  it('a replacement takes the fresh estimate when it is higher than the bump', () => {
    const previous = { maxFeePerGas: 1000n, maxPriorityFeePerGas: 100n };
    const high = { baseFeePerGas: 4000n, maxFeePerGas: 9000n, maxPriorityFeePerGas: 500n };
    assert.deepEqual(replacementFees(previous, high, undefined), {
      ok: true,
      fees: { maxFeePerGas: 9000n, maxPriorityFeePerGas: 500n },
    });
  });

  it('no replacement above the cap', () => {
    const previous = { maxFeePerGas: gwei(9), maxPriorityFeePerGas: gwei(1) };
    const estimate = { baseFeePerGas: gwei(1), maxFeePerGas: gwei(3), maxPriorityFeePerGas: gwei(1) };
    const decision = replacementFees(previous, estimate, gwei(10));
    assert.equal(decision.ok, false);
  });

  it('first send: waits when base fee + tip is above the cap, else caps the max fee', () => {
    const estimate = { baseFeePerGas: gwei(8), maxFeePerGas: gwei(17), maxPriorityFeePerGas: gwei(1) };
    assert.deepEqual(initialFees(estimate, gwei(12)), {
      ok: true,
      fees: { maxFeePerGas: gwei(12), maxPriorityFeePerGas: gwei(1) },
    });
    const decision = initialFees(estimate, gwei(8.5));
    assert.equal(decision.ok, false);
    assert.match(decision.ok ? '' : decision.reason, /above REVEAL_MAX_GAS_PRICE_GWEI 8.5/);
    assert.deepEqual(initialFees(estimate, undefined), {
      ok: true,
      fees: { maxFeePerGas: gwei(17), maxPriorityFeePerGas: gwei(1) },
    });
  });

  it('gas limit = estimate x buffer, rounded up', () => {
    assert.equal(bufferedGasLimit(100_000n, 1.2), 120_000n);
    assert.equal(bufferedGasLimit(100_001n, 1.2), 120_002n);
  });
});

describe('send errors', () => {
  const nodeSays = (message: string) => new BaseError('RPC Request failed.', { details: message });

  it('reads what geth, op-geth and hardhat say', () => {
    const cases: [string, string][] = [
      ['already known', 'pending'],
      ['Known transaction: 0xabc', 'pending'],
      ['replacement transaction underpriced', 'pending'],
      ['Replacement transaction underpriced. A gasPrice/maxFeePerGas of at least 5 is necessary', 'pending'],
      ['nonce too low', 'nonce-used'],
      ['Nonce too low. Expected nonce to be 3 but got 2.', 'nonce-used'],
      ['insufficient funds for gas * price + value', 'transient'],
      ['max fee per gas less than block base fee', 'transient'],
      ['transaction underpriced', 'transient'],
      ['intrinsic gas too low', 'rejected'],
      ['exceeds block gas limit', 'rejected'],
      ['something new', 'transient'],
    ];
    for (const [message, kind] of cases) {
      const classified = classifySendError(nodeSays(message));
      assert.equal(classified.kind, kind, message);
      assert.match(
        classified.message,
        new RegExp(message.slice(0, 10).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
      );
    }
  });
});

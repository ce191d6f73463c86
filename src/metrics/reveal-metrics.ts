// What the reveal tells the metrics: mined transactions (gas, fee, tokens), replacements, tokens synced from the
// chain, and the keeper's balance. One call per event, so the reveal code stays free of Prometheus.
import {
  keeperBalance,
  revealBatchTokens,
  revealedTokens,
  revealFeesPaid,
  revealGasUsed,
  revealTransactions,
} from './registry.js';

export type MinedReveal = {
  outcome: 'confirmed' | 'reverted';
  gasUsed: bigint;
  effectiveGasPrice: bigint;
  /** Tokens the transaction names. */
  tokens: number;
  /** Tokens it moved to revealed (0 when it reverted). */
  revealed: number;
};

export const revealMetrics = {
  /** A reveal transaction was mined; its gas is paid whether it confirmed or reverted. */
  mined(tx: MinedReveal): void {
    revealTransactions.inc({ outcome: tx.outcome });
    revealGasUsed.inc(Number(tx.gasUsed));
    revealFeesPaid.inc(Number(tx.gasUsed * tx.effectiveGasPrice));
    revealBatchTokens.observe(tx.tokens);
    if (tx.revealed > 0) revealedTokens.inc({ via: 'transaction' }, tx.revealed);
  },
  /** A same-nonce replacement with higher fees was signed and is being sent. */
  replaced(): void {
    revealTransactions.inc({ outcome: 'replaced' });
  },
  /** Tokens found revealed on chain already, moved to revealed without a transaction. */
  synced(tokens: number): void {
    if (tokens > 0) revealedTokens.inc({ via: 'synced' }, tokens);
  },
  keeperBalance(wei: bigint): void {
    keeperBalance.set(Number(wei));
  },
};

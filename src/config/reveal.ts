// The reveal stage: the keeper's key and how batches are sent, priced and replaced.
import { makeValidator, type CleanedEnv } from 'envalid';
import { intIn, positiveNumber, toMs, type AreaContext } from './validators.js';

export type RevealConfig = {
  reveal: Readonly<{
    /** KEEPER_PRIVATE_KEY, 0x-prefixed (secret); empty: the reveal stage cannot run. */
    keeperPrivateKey: string;
    gasBuffer: number;
    /** REVEAL_MAX_GAS_PRICE_GWEI; undefined: no cap. */
    maxGasPriceGwei: number | undefined;
    transactionTimeoutMs: number;
    maxFeeBumps: number;
    batchWaitMs: number;
    batchMaxTokens: number;
  }>;
};

// Never echoes the value: a malformed key in an error message is still most of a key.
const keeperKey = makeValidator<string>((input) => {
  const trimmed = input.trim();
  const withPrefix = trimmed.startsWith('0x') ? trimmed : `0x${trimmed}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(withPrefix)) {
    throw new Error('expected 32 bytes of hex (64 hex digits, optional 0x prefix); the value is not shown');
  }
  return withPrefix.toLowerCase();
});

export const revealSpecs = {
  KEEPER_PRIVATE_KEY: keeperKey({ default: '', desc: '32 bytes of hex (64 hex digits, optional 0x prefix)' }),
  REVEAL_GAS_BUFFER: positiveNumber({ default: 1.2, desc: 'a multiplier of the gas estimate, at least 1' }),
  REVEAL_MAX_GAS_PRICE_GWEI: positiveNumber({ default: undefined, desc: 'gwei' }),
  TRANSACTION_TIMEOUT_SECONDS: positiveNumber({ default: 180, desc: 'seconds' }),
  REVEAL_MAX_FEE_BUMPS: intIn(0, 50)({ default: 5, desc: 'replacements per batch' }),
  BATCH_REVEAL_WAIT_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  BATCH_REVEAL_MAX_TOKENS: intIn(1, 50)({ default: 50, desc: 'tokens per reveal transaction (1 to 50)' }),
};

export function readRevealConfig(e: CleanedEnv<typeof revealSpecs>, area: AreaContext): RevealConfig {
  if (e.REVEAL_GAS_BUFFER < 1) area.problems.push('REVEAL_GAS_BUFFER: must be at least 1');
  const key = e.KEEPER_PRIVATE_KEY;
  // The key without its prefix, and as it may have been written (upper case), are masked too.
  area.secrets.push(key, key.slice(2), key.slice(2).toUpperCase());
  return {
    reveal: {
      keeperPrivateKey: key,
      gasBuffer: e.REVEAL_GAS_BUFFER,
      maxGasPriceGwei: e.REVEAL_MAX_GAS_PRICE_GWEI,
      transactionTimeoutMs: toMs(e.TRANSACTION_TIMEOUT_SECONDS),
      maxFeeBumps: e.REVEAL_MAX_FEE_BUMPS,
      batchWaitMs: toMs(e.BATCH_REVEAL_WAIT_SECONDS),
      batchMaxTokens: e.BATCH_REVEAL_MAX_TOKENS,
    },
  };
}

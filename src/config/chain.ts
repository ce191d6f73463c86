// The chain the service reads (network, RPC endpoint, contract) and how it detects mints (webhook, follower,
// gap scan).
import { bool, str, type CleanedEnv } from 'envalid';
import type { Address } from 'viem';
import { ChainConfigError } from '../errors.js';
import { NETWORKS, resolveRpcEndpoint, type Network } from './rpc-endpoint.js';
import { MIN_PRODUCTION_SECRET_LENGTH, requiredSecretProblem, urlSecrets } from './secrets.js';
import {
  bigintAtLeastZero,
  contractAddress,
  httpUrl,
  intIn,
  positiveNumber,
  toMs,
  type AreaContext,
} from './validators.js';

export type ChainConfig = {
  chain: Readonly<{
    network: Network;
    /** RPC_URL when set, else the Alchemy URL of NETWORK when ALCHEMY_API_KEY is set (contains the key). */
    rpcUrl: string | undefined;
    alchemyApiKey: string;
    /** Checksummed GLISK contract address. */
    contractAddress: Address | undefined;
  }>;
  detection: Readonly<{
    /** Empty means unset: the webhook route refuses to run unsigned (503) and production refuses to start. */
    webhookSecret: string;
    /** Tokens a webhook delivery writes per transaction (its mints are ingested in chunks of about this many). */
    webhookChunkTokens: number;
    followerEnabled: boolean;
    confirmations: number;
    followerStartBlock: bigint | undefined;
    followerMaxBlockRange: number;
    pollIntervalMs: number;
    gapScanEnabled: boolean;
    gapScanIntervalMs: number;
  }>;
};

export const chainSpecs = {
  ALCHEMY_WEBHOOK_SECRET: str({ default: '', desc: 'the signing key of the Alchemy webhook' }),
  WEBHOOK_CHUNK_TOKENS: intIn(50, 100_000)({ default: 2000, desc: 'tokens per transaction' }),
  ALCHEMY_API_KEY: str({ default: '', desc: 'an Alchemy API key' }),
  NETWORK: str({ choices: NETWORKS, default: 'BASE_SEPOLIA', desc: NETWORKS.join(' or ') }),
  RPC_URL: httpUrl({ default: undefined, desc: 'an http(s) JSON-RPC URL' }),
  GLISK_NFT_CONTRACT_ADDRESS: contractAddress({ default: undefined, desc: 'a 0x address' }),
  CHAIN_FOLLOWER_ENABLED: bool({ default: false, desc: 'true or false' }),
  CONFIRMATIONS: intIn(0, 1000)({ default: 3, desc: 'blocks' }),
  FOLLOWER_START_BLOCK: bigintAtLeastZero({ default: undefined, desc: 'a block number' }),
  FOLLOWER_MAX_BLOCK_RANGE: intIn(1, 1_000_000)({ default: 2000, desc: 'blocks' }),
  POLL_INTERVAL_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  GAP_SCAN_ENABLED: bool({ default: true, desc: 'true or false' }),
  GAP_SCAN_INTERVAL_SECONDS: positiveNumber({ default: 300, desc: 'seconds' }),
};

export function readChainConfig(e: CleanedEnv<typeof chainSpecs>, area: AreaContext): ChainConfig {
  const { problems } = area;
  if (area.production) {
    const problem = requiredSecretProblem(
      'ALCHEMY_WEBHOOK_SECRET',
      'signing key',
      e.ALCHEMY_WEBHOOK_SECRET,
      MIN_PRODUCTION_SECRET_LENGTH.webhookSecret,
      'an unsigned webhook can be forged',
    );
    if (problem !== undefined) problems.push(problem);
  }
  if (e.CHAIN_FOLLOWER_ENABLED && e.GLISK_NFT_CONTRACT_ADDRESS === undefined) {
    problems.push('GLISK_NFT_CONTRACT_ADDRESS: required when CHAIN_FOLLOWER_ENABLED=true');
  }
  if (e.CHAIN_FOLLOWER_ENABLED && e.RPC_URL === undefined && e.ALCHEMY_API_KEY === '') {
    problems.push('RPC_URL: RPC_URL or ALCHEMY_API_KEY is required when CHAIN_FOLLOWER_ENABLED=true');
  }
  let rpcUrl: string | undefined;
  try {
    rpcUrl = resolveRpcEndpoint(e)?.url;
  } catch (error) {
    if (!(error instanceof ChainConfigError)) throw error;
    problems.push(error.message);
  }
  area.secrets.push(e.ALCHEMY_WEBHOOK_SECRET, e.ALCHEMY_API_KEY, ...urlSecrets(e.RPC_URL));

  return {
    chain: {
      network: e.NETWORK,
      rpcUrl,
      alchemyApiKey: e.ALCHEMY_API_KEY,
      contractAddress: e.GLISK_NFT_CONTRACT_ADDRESS,
    },
    detection: {
      webhookSecret: e.ALCHEMY_WEBHOOK_SECRET,
      webhookChunkTokens: e.WEBHOOK_CHUNK_TOKENS,
      followerEnabled: e.CHAIN_FOLLOWER_ENABLED,
      confirmations: e.CONFIRMATIONS,
      followerStartBlock: e.FOLLOWER_START_BLOCK,
      followerMaxBlockRange: e.FOLLOWER_MAX_BLOCK_RANGE,
      pollIntervalMs: toMs(e.POLL_INTERVAL_SECONDS),
      gapScanEnabled: e.GAP_SCAN_ENABLED,
      gapScanIntervalMs: toMs(e.GAP_SCAN_INTERVAL_SECONDS),
    },
  };
}

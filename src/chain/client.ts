// viem clients for the GLISK contract, and the choice of RPC endpoint from configuration values.
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { base, baseSepolia, hardhat } from 'viem/chains';
import { NETWORKS, type Network } from '../config.js';

const alchemyHosts: Record<Network, { host: string; chain: Chain }> = {
  BASE_SEPOLIA: { host: 'base-sepolia.g.alchemy.com', chain: baseSepolia },
  BASE_MAINNET: { host: 'base-mainnet.g.alchemy.com', chain: base },
};

export interface RpcSettings {
  RPC_URL?: string | undefined;
  ALCHEMY_API_KEY?: string | undefined;
  NETWORK?: Network | undefined;
}

export interface RpcEndpoint {
  url: string;
  /** Known when the endpoint comes from NETWORK; an explicit RPC_URL may point anywhere, so it is asked. */
  chain: Chain | undefined;
  source: 'RPC_URL' | 'ALCHEMY';
}

export class ChainConfigError extends Error {
  override name = 'ChainConfigError';
}

/**
 * RPC_URL wins when set; otherwise ALCHEMY_API_KEY with NETWORK names the Alchemy endpoint. Returns undefined
 * when neither is configured (chain access is optional for the service); throws when a value is unusable.
 * Pure: takes the values, never reads the environment.
 */
export function resolveRpcEndpoint(settings: RpcSettings): RpcEndpoint | undefined {
  const rpcUrl = settings.RPC_URL?.trim();
  if (rpcUrl !== undefined && rpcUrl !== '') {
    let parsed: URL;
    try {
      parsed = new URL(rpcUrl);
    } catch {
      throw new ChainConfigError(`RPC_URL is not a URL: ${rpcUrl}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ChainConfigError(`RPC_URL must be http(s), got ${parsed.protocol}`);
    }
    return { url: rpcUrl, chain: undefined, source: 'RPC_URL' };
  }
  const apiKey = settings.ALCHEMY_API_KEY?.trim();
  if (apiKey === undefined || apiKey === '') return undefined;
  if (settings.NETWORK === undefined) {
    throw new ChainConfigError(`ALCHEMY_API_KEY is set but NETWORK is not (one of ${NETWORKS.join(', ')})`);
  }
  const target = alchemyHosts[settings.NETWORK];
  if (target === undefined) {
    throw new ChainConfigError(
      `NETWORK must be one of ${NETWORKS.join(', ')}, got ${String(settings.NETWORK)}`,
    );
  }
  return {
    url: `https://${target.host}/v2/${encodeURIComponent(apiKey)}`,
    chain: target.chain,
    source: 'ALCHEMY',
  };
}

/** The viem chain for an id: Base, Base Sepolia, or a local dev chain (hardhat's definition with that id). */
export function chainForId(chainId: number): Chain {
  if (chainId === base.id) return base;
  if (chainId === baseSepolia.id) return baseSepolia;
  return defineChain({ ...hardhat, id: chainId, name: `Local chain ${chainId}` });
}

export interface ChainClientOptions<TChain extends Chain | undefined = Chain | undefined> {
  rpcUrl: string;
  /** When omitted, viem asks the node for its chain id on each signed transaction. */
  chain?: TChain;
  /** Per-request timeout; viem's default is 10 s. */
  timeoutMs?: number;
  /** How often receipts and blocks are polled; viem's 4 s default is far too slow for a local automining chain. */
  pollingIntervalMs?: number;
  /** How long a read head (eth_blockNumber) is reused; viem defaults it to the polling interval. */
  cacheTimeMs?: number;
}

export function createChainPublicClient<TChain extends Chain | undefined = undefined>(
  options: ChainClientOptions<TChain>,
): PublicClient<Transport, TChain> {
  return createPublicClient({
    chain: options.chain,
    transport: http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 2 }),
    pollingInterval: options.pollingIntervalMs ?? 4_000,
    cacheTime: options.cacheTimeMs ?? options.pollingIntervalMs ?? 4_000,
  });
}

export function createChainWalletClient<TChain extends Chain | undefined = undefined>(
  options: ChainClientOptions<TChain> & { privateKey: Hex },
): WalletClient<Transport, TChain, PrivateKeyAccount> {
  return createWalletClient({
    account: privateKeyToAccount(options.privateKey),
    chain: options.chain,
    // No retries: resending a write that may have reached the node is the caller's decision, by nonce.
    transport: http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 0 }),
    pollingInterval: options.pollingIntervalMs ?? 4_000,
  });
}

const privateKeyPattern = /^0x[0-9a-fA-F]{64}$/;

/** Narrows a configured string to a private key, with a message that never echoes the key itself. */
export function parsePrivateKey(value: string, name: string): Hex {
  const trimmed = value.trim();
  const withPrefix = trimmed.startsWith('0x') ? trimmed : `0x${trimmed}`;
  if (!privateKeyPattern.test(withPrefix)) {
    throw new ChainConfigError(`${name} must be 32 bytes of hex (64 hex digits, optional 0x prefix)`);
  }
  return withPrefix as Hex;
}

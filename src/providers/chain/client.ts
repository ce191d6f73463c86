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
import { ChainConfigError } from '../../errors.js';
import { observedTransport } from './observed-transport.js';

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
    transport: observedTransport(
      http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 2 }),
    ),
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
    transport: observedTransport(
      http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 0 }),
    ),
    pollingInterval: options.pollingIntervalMs ?? 4_000,
  });
}

/**
 * A signer on the chain at `rpcUrl`: asks the node for its chain id once, then builds the read and write
 * clients for that chain (so signed transactions carry the right id without asking again).
 */
export async function connectSigner(
  options: Omit<ChainClientOptions, 'chain'> & { privateKey: Hex; probeTimeoutMs?: number },
): Promise<{
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  wallet: WalletClient<Transport, Chain, PrivateKeyAccount>;
}> {
  const probe = createChainPublicClient({
    ...options,
    timeoutMs: options.probeTimeoutMs ?? options.timeoutMs,
  });
  const chain = chainForId(await probe.getChainId());
  return {
    chain,
    publicClient: createChainPublicClient({ ...options, chain }),
    wallet: createChainWalletClient({ ...options, chain }),
  };
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

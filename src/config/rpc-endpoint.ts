// Which JSON-RPC endpoint the service talks to, from configuration values. Kept apart from the viem clients
// (src/providers/chain/) so that the configuration is validated at start without loading them (nor viem/chains:
// ~1 s of module loading in every process that reads the configuration). chainForId in client.ts turns the id
// into a viem chain.
import { ChainConfigError } from '../errors.js';

export const NETWORKS = ['BASE_SEPOLIA', 'BASE_MAINNET'] as const;
export type Network = (typeof NETWORKS)[number];

/** The chain id of each network (sign-in messages must name it). */
export const NETWORK_CHAIN_IDS: Readonly<Record<Network, number>> = {
  BASE_SEPOLIA: 84532,
  BASE_MAINNET: 8453,
};

const alchemyHosts: Record<Network, { host: string; chainId: number }> = {
  BASE_SEPOLIA: { host: 'base-sepolia.g.alchemy.com', chainId: NETWORK_CHAIN_IDS.BASE_SEPOLIA },
  BASE_MAINNET: { host: 'base-mainnet.g.alchemy.com', chainId: NETWORK_CHAIN_IDS.BASE_MAINNET },
};

export interface RpcSettings {
  RPC_URL?: string | undefined;
  ALCHEMY_API_KEY?: string | undefined;
  NETWORK?: Network | undefined;
}

export interface RpcEndpoint {
  url: string;
  /** Known when the endpoint comes from NETWORK; an explicit RPC_URL may point anywhere, so it is asked. */
  chainId: number | undefined;
  source: 'RPC_URL' | 'ALCHEMY';
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
    return { url: rpcUrl, chainId: undefined, source: 'RPC_URL' };
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
    chainId: target.chainId,
    source: 'ALCHEMY',
  };
}

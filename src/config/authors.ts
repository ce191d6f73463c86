// The authors' side: sign-in (SIWE), the X and Farcaster links, and where the browser is sent back to.
import { str, makeValidator, type CleanedEnv } from 'envalid';
import type { Address } from 'viem';
import { getAddress } from 'viem/utils';
import { NETWORK_CHAIN_IDS, type Network } from './rpc-endpoint.js';
import { urlSecrets } from './secrets.js';
import { contractAddress, httpUrl, intIn, type AreaContext } from './validators.js';

export type AuthorsConfig = {
  auth: Readonly<{
    /** The RFC 3986 authority (host[:port]) that sign-in messages must name: the front end's. */
    domain: string;
    /** The chain id sign-in messages must name: NETWORK's. */
    chainId: number;
    /** Lifetime of a sign-in nonce; a message must also have been issued within it. */
    nonceTtlSeconds: number;
  }>;
  /** X (Twitter) OAuth 2.0 client; empty strings / undefined when not configured (its routes answer 503). */
  x: Readonly<{
    clientId: string;
    clientSecret: string;
    redirectUri: string | undefined;
    authorizeUrl: string;
    apiUrl: string;
    stateTtlSeconds: number;
  }>;
  /** Where the OAuth callback sends the browser back to, with a result code. */
  frontendUrl: string | undefined;
  farcaster: Readonly<{
    rpcUrl: string | undefined;
    hubUrl: string | undefined;
    hubApiKey: string;
    idRegistryAddress: Address;
  }>;
};

/** The Farcaster IdRegistry on OP Mainnet. */
export const FARCASTER_ID_REGISTRY = getAddress('0x00000000fc6c5f01fc30151999387bb99a9f489b');

// host[:port] as EIP-4361 messages carry it (no scheme, no path).
const authority = makeValidator<string>((input) => {
  const trimmed = input.trim();
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(trimmed)) {
    throw new Error(`expected a host or host:port without scheme or path (app.example.com), got "${input}"`);
  }
  return trimmed.toLowerCase();
});

export const authorsSpecs = {
  AUTH_DOMAIN: authority({ default: 'localhost:3000', desc: 'host[:port] of the front end' }),
  AUTH_NONCE_TTL_SECONDS: intIn(30, 86_400)({ default: 300, desc: 'seconds' }),
  X_CLIENT_ID: str({ default: '', desc: 'the OAuth 2.0 client id of the X app' }),
  X_CLIENT_SECRET: str({ default: '', desc: 'the OAuth 2.0 client secret of the X app' }),
  X_REDIRECT_URI: httpUrl({ default: undefined, desc: 'the callback URL registered with X' }),
  X_AUTHORIZE_URL: httpUrl({ default: 'https://x.com/i/oauth2/authorize', desc: 'an http(s) URL' }),
  X_API_URL: httpUrl({ default: 'https://api.x.com', desc: 'an http(s) URL' }),
  OAUTH_STATE_TTL_SECONDS: intIn(60, 3600)({ default: 600, desc: 'seconds' }),
  FRONTEND_URL: httpUrl({ default: undefined, desc: 'an http(s) URL' }),
  FARCASTER_RPC_URL: httpUrl({ default: undefined, desc: 'an OP Mainnet JSON-RPC URL' }),
  FARCASTER_HUB_URL: httpUrl({ default: undefined, desc: 'a Farcaster hub HTTP API URL' }),
  FARCASTER_HUB_API_KEY: str({ default: '', desc: 'the x-api-key of the hub, if it needs one' }),
  FARCASTER_ID_REGISTRY_ADDRESS: contractAddress({ default: FARCASTER_ID_REGISTRY, desc: 'a 0x address' }),
};

/** Sign-in messages name NETWORK's chain id (the chain area's variable). */
type AuthorsEnv = CleanedEnv<typeof authorsSpecs> & { NETWORK: Network };

export function readAuthorsConfig(e: AuthorsEnv, area: AreaContext): AuthorsConfig {
  area.secrets.push(e.X_CLIENT_SECRET, e.FARCASTER_HUB_API_KEY, ...urlSecrets(e.FARCASTER_RPC_URL));
  return {
    auth: {
      domain: e.AUTH_DOMAIN,
      chainId: NETWORK_CHAIN_IDS[e.NETWORK],
      nonceTtlSeconds: e.AUTH_NONCE_TTL_SECONDS,
    },
    x: {
      clientId: e.X_CLIENT_ID,
      clientSecret: e.X_CLIENT_SECRET,
      redirectUri: e.X_REDIRECT_URI,
      authorizeUrl: e.X_AUTHORIZE_URL,
      apiUrl: e.X_API_URL.replace(/\/+$/, ''),
      stateTtlSeconds: e.OAUTH_STATE_TTL_SECONDS,
    },
    frontendUrl: e.FRONTEND_URL,
    farcaster: {
      rpcUrl: e.FARCASTER_RPC_URL,
      hubUrl: e.FARCASTER_HUB_URL?.replace(/\/+$/, ''),
      hubApiKey: e.FARCASTER_HUB_API_KEY,
      idRegistryAddress: e.FARCASTER_ID_REGISTRY_ADDRESS,
    },
  };
}

// The IPFS stage: where it pins (the content store, a Kubo node or Pinata) and its limits.
import { str, type CleanedEnv } from 'envalid';
import { httpUrl, intIn, positiveNumber, toMs, type AreaContext } from './validators.js';

export const IPFS_PROVIDERS = ['local', 'kubo', 'pinata'] as const;
export type IpfsProviderName = (typeof IPFS_PROVIDERS)[number];

export type IpfsConfig = {
  ipfs: Readonly<{
    /** Where the IPFS stage pins: the content store in PostgreSQL (local), a Kubo node, or Pinata. */
    provider: IpfsProviderName;
    /** Kubo RPC address (required for kubo). */
    kuboApiUrl: string | undefined;
    /** Pinata JWT (required for pinata; secret). */
    pinataJwt: string;
    pinataApiUrl: string;
    /** Requests per minute to Pinata, shared by every worker of every process through PostgreSQL. */
    pinataMaxRequestsPerMinute: number;
    /** One upload request's limit, answer included. */
    uploadTimeoutMs: number;
    /** With a remote provider, stored bytes of revealed tokens are dropped this long after the reveal. */
    localRetentionHours: number;
  }>;
};

export const ipfsSpecs = {
  IPFS_PROVIDER: str({ choices: IPFS_PROVIDERS, default: 'local', desc: IPFS_PROVIDERS.join(', ') }),
  KUBO_API_URL: httpUrl({ default: undefined, desc: 'the RPC address of a Kubo node' }),
  PINATA_JWT: str({ default: '', desc: 'a Pinata API JWT' }),
  PINATA_API_URL: httpUrl({ default: 'https://api.pinata.cloud', desc: 'the Pinata API base URL' }),
  PINATA_MAX_REQUESTS_PER_MINUTE: intIn(1, 100_000)({ default: 150, desc: 'requests per minute' }),
  IPFS_UPLOAD_TIMEOUT_SECONDS: positiveNumber({ default: 60, desc: 'seconds' }),
  IPFS_LOCAL_RETENTION_HOURS: positiveNumber({ default: 168, desc: 'hours' }),
};

export function readIpfsConfig(e: CleanedEnv<typeof ipfsSpecs>, area: AreaContext): IpfsConfig {
  if (e.IPFS_PROVIDER === 'kubo' && e.KUBO_API_URL === undefined) {
    area.problems.push('KUBO_API_URL: required when IPFS_PROVIDER=kubo');
  }
  if (e.IPFS_PROVIDER === 'pinata' && e.PINATA_JWT === '') {
    area.problems.push('PINATA_JWT: required when IPFS_PROVIDER=pinata');
  }
  area.secrets.push(e.PINATA_JWT);
  return {
    ipfs: {
      provider: e.IPFS_PROVIDER,
      kuboApiUrl: e.KUBO_API_URL,
      pinataJwt: e.PINATA_JWT,
      pinataApiUrl: e.PINATA_API_URL,
      pinataMaxRequestsPerMinute: e.PINATA_MAX_REQUESTS_PER_MINUTE,
      uploadTimeoutMs: toMs(e.IPFS_UPLOAD_TIMEOUT_SECONDS),
      localRetentionHours: e.IPFS_LOCAL_RETENTION_HOURS,
    },
  };
}

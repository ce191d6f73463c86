// The IPFS provider IPFS_PROVIDER names, built from the configuration: the one place that chooses.
import type { Config } from '../../config.js';
import type { Executor } from '../../db/client.js';
import { createSharedRateLimiter } from '../rate-limiter.js';
import type { IpfsProvider } from './ipfs-provider.js';
import { createKuboProvider } from './kubo.provider.js';
import { createLocalProvider } from './local.provider.js';
import { createPinataProvider } from './pinata.provider.js';

/** The rate_limits key of Pinata's requests per minute, shared by every worker of every process. */
export const PINATA_RATE_LIMIT_KEY = 'pinata';

export function createIpfsProvider(config: Pick<Config, 'ipfs'>, db: Executor): IpfsProvider {
  const ipfs = config.ipfs;
  switch (ipfs.provider) {
    case 'local':
      return createLocalProvider({ db });
    case 'kubo':
      if (ipfs.kuboApiUrl === undefined) throw new Error('IPFS_PROVIDER=kubo needs KUBO_API_URL');
      return createKuboProvider({ apiUrl: ipfs.kuboApiUrl, timeoutMs: ipfs.uploadTimeoutMs });
    case 'pinata':
      return createPinataProvider({
        apiUrl: ipfs.pinataApiUrl,
        jwt: ipfs.pinataJwt,
        timeoutMs: ipfs.uploadTimeoutMs,
        limiter: createSharedRateLimiter({
          db,
          key: PINATA_RATE_LIMIT_KEY,
          maxPerMinute: ipfs.pinataMaxRequestsPerMinute,
        }),
      });
  }
}

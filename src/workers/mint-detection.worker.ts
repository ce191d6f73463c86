// The two background mint-detection loops: the log follower (for deployments without the Alchemy webhook) and
// the gap scan (at start and every GAP_SCAN_INTERVAL_SECONDS, whatever else runs). Both need an RPC endpoint and
// the contract address; without them they stay off. Failures back off in startWorkers' loop.
import { ChainStatusReporter } from '../domain/chain-status.js';
import { createChainPublicClient } from '../providers/chain/client.js';
import { scanGaps } from '../stages/detection/gap-scan.js';
import { LogFollower } from '../stages/detection/log-follower.js';
import type { WorkerFactory } from './worker.js';

export const logFollowerWorker: WorkerFactory = ({ config, logger, database }) => {
  const { rpcUrl, contractAddress } = config.chain;
  if (!config.detection.followerEnabled || rpcUrl === undefined || contractAddress === undefined)
    return undefined;
  const follower = new LogFollower({
    db: database.db,
    // The head must be read fresh on every pass; viem would otherwise cache it for its polling interval.
    client: createChainPublicClient({ rpcUrl, cacheTimeMs: 0 }),
    contractAddress,
    confirmations: config.detection.confirmations,
    startBlock: config.detection.followerStartBlock,
    maxBlockRange: config.detection.followerMaxBlockRange,
    logger: logger.child({ worker: 'log-follower' }),
  });
  return {
    name: 'log-follower',
    intervalMs: config.detection.pollIntervalMs,
    chainStatus: new ChainStatusReporter(database.db, 'log-follower'),
    run: async (signal) => {
      await follower.catchUp({ signal });
    },
  };
};

export const gapScanWorker: WorkerFactory = ({ config, logger, database }) => {
  const { rpcUrl, contractAddress } = config.chain;
  if (!config.detection.gapScanEnabled || rpcUrl === undefined || contractAddress === undefined)
    return undefined;
  const client = createChainPublicClient({ rpcUrl, cacheTimeMs: 0 });
  const log = logger.child({ worker: 'gap-scan' });
  return {
    name: 'gap-scan',
    intervalMs: config.detection.gapScanIntervalMs,
    runAtStart: true,
    chainStatus: new ChainStatusReporter(database.db, 'gap-scan'),
    // Ids that fail are logged by scanGaps and retried on the next pass; only a scan that cannot run at all
    // (chain or database unreachable) throws and backs off.
    run: async (signal) => {
      await scanGaps({
        db: database.db,
        client,
        contractAddress,
        confirmations: config.detection.confirmations,
        logger: log,
        signal,
      });
    },
  };
};

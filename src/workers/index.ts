// The background loops of the service. main calls startWorkers once the HTTP server listens; each worker runs
// its `run` at start and then every `intervalMs`, backs off after a failure (never dies of one), and stops
// when stop() aborts its signal. A worker module exports a WorkerFactory and is added to workerFactories.
import type { Deps } from '../deps.js';
import type { Logger } from '../logger.js';
import { gapScanWorker, logFollowerWorker } from './mint-detection.worker.js';
import { sleep } from '../lib/sleep.js';
import type { Worker, WorkerFactory } from './worker.js';
import { describeChainFailure } from '../providers/chain/chain-errors.js';
import { statusCountsFoldWorker } from './status-counts-fold.worker.js';

/** Every worker of the service: the mint-detection loops (log follower, gap scan), the status counts' fold. */
export const workerFactories: readonly WorkerFactory[] = [
  logFollowerWorker,
  gapScanWorker,
  statusCountsFoldWorker,
];

export type RunningWorkers = {
  /** Names of the workers that were started. */
  readonly names: readonly string[];
  /**
   * Aborts every worker and waits for the passes in flight, at most `timeoutMs`. Resolves `forced: true` when
   * some pass had not returned by then. Idempotent.
   */
  stop: (timeoutMs?: number) => Promise<{ forced: boolean }>;
};

/** The longest pause after failures: a broken RPC is retried at least this often once it recovers. */
const MAX_FAILURE_BACKOFF_MS = 60_000;

export function startWorkers(
  deps: Deps,
  factories: readonly WorkerFactory[] = workerFactories,
): RunningWorkers {
  const { logger } = deps;
  const workers = factories.map((factory) => factory(deps)).filter((w): w is Worker => w !== undefined);
  const names = new Set<string>();
  for (const worker of workers) {
    if (names.has(worker.name)) throw new Error(`two workers are named ${worker.name}`);
    if (!(worker.intervalMs > 0)) throw new Error(`worker ${worker.name}: intervalMs must be > 0`);
    names.add(worker.name);
  }

  const controller = new AbortController();
  const loops = workers.map((worker) =>
    runLoop(worker, controller.signal, logger.child({ worker: worker.name })),
  );
  if (workers.length > 0) logger.info('worker.started', { workers: [...names] });

  let stopping: Promise<{ forced: boolean }> | undefined;
  const stop = (timeoutMs = deps.config.http.shutdownTimeoutMs): Promise<{ forced: boolean }> => {
    stopping ??= (async () => {
      controller.abort();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([Promise.all(loops).then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        logger.warn('worker.stop_timed_out', { timeoutMs });
        return { forced: true };
      }
      if (workers.length > 0) logger.info('worker.stopped', { workers: [...names] });
      return { forced: false };
    })();
    return stopping;
  };
  return { names: [...names], stop };
}

async function runLoop(worker: Worker, signal: AbortSignal, log: Logger): Promise<void> {
  let failures = 0;
  if (worker.runAtStart === false) await sleep(worker.intervalMs, signal);
  while (!signal.aborted) {
    const started = performance.now();
    try {
      await worker.run(signal);
      if (failures > 0) log.info('worker.recovered', { afterFailures: failures });
      failures = 0;
      await worker.chainStatus?.reachable();
    } catch (error) {
      if (signal.aborted) break;
      failures += 1;
      await reportFailure(worker, log, error, failures, retryDelayMs(worker, failures), started);
    }
    await sleep(failures === 0 ? worker.intervalMs : retryDelayMs(worker, failures), signal);
  }
}

/** After failures: 1 s, 2 s, 4 s ... but never longer than the normal interval or a minute. */
function retryDelayMs(worker: Worker, failures: number): number {
  return Math.min(worker.intervalMs, MAX_FAILURE_BACKOFF_MS, 1000 * 2 ** (failures - 1));
}

/**
 * A chain that does not answer is one short line (what failed, the node's origin, when it is tried again), with
 * viem's stack at debug only, and recorded for the operator stats; any other failure is logged whole.
 */
async function reportFailure(
  worker: Worker,
  log: Logger,
  error: unknown,
  failures: number,
  retryInMs: number,
  started: number,
): Promise<void> {
  const durationMs = Math.round(performance.now() - started);
  const chain = describeChainFailure(error);
  if (chain === undefined) {
    log.error('worker.failed', { failures, durationMs, retryInMs, error });
    return;
  }
  log.error('worker.failed', {
    code: chain.code,
    endpoint: chain.endpoint,
    detail: chain.detail,
    failures,
    retryInMs,
  });
  log.debug('worker.failed_stack', { error });
  await worker.chainStatus?.failed(chain, new Date(Date.now() + retryInMs));
}

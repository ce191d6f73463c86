// `npm run worker -- --stages image`: the pipeline workers alone, without the HTTP API (the same stage runtime
// that `npm start` runs with WORKERS). Run as many as wanted, on any machine sharing the database.
import { Writable } from 'node:stream';
import { loadConfig } from '../config.js';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import { STAGE_NAMES, isStageName, type StageName } from '../stage-names.js';
import { createLogger } from '../logger.js';
import { startMetricsServer } from '../http/metrics-server.js';
import { withDatabase } from '../startup.js';
import { startWorkers } from '../workers/index.js';
import { startPipeline, stageFactories } from '../workers/pipeline.js';
import { statusCountsFoldWorker } from '../workers/status-counts-fold.worker.js';
import { parseCommandArgs, printFailure, printLine, runCli, type CliIo } from './run.js';

const HELP = `Usage: npm run worker -- [--stages ${STAGE_NAMES.join(',')}] [--help]

Runs pipeline stage workers without the HTTP API: claims tokens with a lease, does each stage's work, and
wakes on PostgreSQL NOTIFY (polling every POLL_INTERVAL_SECONDS as a fallback). Any number of workers, in any
number of processes and machines, may share one database: each token is worked on by one worker at a time.

Options:
  --stages <list>  comma-separated stages to run (default: WORKERS, itself image,ipfs,reveal by default);
                   available in this version: ${Object.keys(stageFactories).join(', ')}
  --help           show this help

Each worker process serves its own Prometheus metrics (stage counters, durations, in flight, provider calls,
database pool; labelled glisk_instance=METRICS_INSTANCE, default host:pid) at GET /metrics on HOST:METRICS_PORT
(default 0: a free port, printed in the worker.started line as metricsUrl; METRICS_TOKEN applies). The
database-wide token gauges (glisk_tokens, glisk_stage_waiting_tokens) come from the API's /metrics only.

SIGTERM or Ctrl-C: stop claiming, let the work in flight finish within SHUTDOWN_TIMEOUT_SECONDS, then release
the leases still held (those tokens are claimable again at once) and exit 0. A second signal exits at once (1).

Configuration (environment or .env): DATABASE_URL (unset: the embedded PostgreSQL in .data/), WORKER_BATCH_SIZE,
WORKER_LEASE_SECONDS, <STAGE>_CONCURRENCY, MAX_ATTEMPTS_<STAGE>, RETRY_BASE_SECONDS, RETRY_MAX_SECONDS,
IMAGE_PROVIDER and the provider's settings; see .env.example.

Exit status: 0 after a clean stop, 1 on bad arguments or configuration, or a database that cannot be reached.`;

function parseStages(argv: string[]): StageName[] | undefined | 'help' {
  const values = parseCommandArgs(argv, {
    stages: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  if (values.stages === undefined) return undefined;
  const names = values.stages
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((name) => !isStageName(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new UsageError(`--stages takes a list of ${STAGE_NAMES.join(', ')}, got "${values.stages}"`);
  }
  const missing = names.filter((name) => isStageName(name) && stageFactories[name] === undefined);
  if (missing.length > 0) throw new UsageError(`stage ${missing.join(', ')} is not built in this version`);
  return STAGE_NAMES.filter((name) => names.includes(name));
}

export type WorkerOptions = {
  /** Stops the worker as SIGTERM does (tests); a real run listens for SIGTERM and SIGINT. */
  signal?: AbortSignal;
};

export async function main(argv: string[], io: CliIo, options: WorkerOptions = {}): Promise<number> {
  try {
    const stages = parseStages(argv);
    if (stages === 'help') {
      printLine(io.stdout, HELP);
      return 0;
    }
    const config = loadConfig(io.env);
    const selected = stages ?? config.pipeline.stages.filter((name) => stageFactories[name] !== undefined);
    if (selected.length === 0) throw new UsageError('no stage to run (WORKERS=none and no --stages)');
    const stream = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        io.stdout.write(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
        callback();
      },
    });
    const logger = createLogger({
      level: config.log.level,
      format: config.log.format,
      secrets: config.secrets,
      stream,
    });
    const pool = {
      max: Math.min(config.database.poolSize, 4 + 2 * selected.length),
      applicationName: 'glisk-worker',
    };
    return await withDatabase(config, { pool }, async ({ url, database }) => {
      await runStages({ config, logger, database }, url, selected, options.signal);
      return 0;
    });
  } catch (error) {
    printFailure(io, 'worker', error);
    return 1;
  }
}

/** Runs the stages until SIGTERM/SIGINT (or `external` aborts), then stops them within SHUTDOWN_TIMEOUT_SECONDS. */
async function runStages(
  deps: Deps,
  listenUrl: string,
  stages: StageName[],
  external: AbortSignal | undefined,
): Promise<void> {
  const { config, logger } = deps;
  const stop = new AbortController();
  external?.addEventListener('abort', () => stop.abort(), { once: true });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn('worker.exit_forced', { signal });
      process.exit(1);
    }
    logger.info('worker.stopping', { signal, timeoutMs: config.http.shutdownTimeoutMs });
    stop.abort();
  };
  if (external === undefined) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const metrics = await startMetricsServer({
    host: config.http.host,
    port: config.metrics.port,
    token: config.metrics.token || undefined,
    instance: config.metrics.instance,
    database: deps.database,
  });
  try {
    const pipeline = await startPipeline(deps, { stages, listenUrl });
    logger.info('worker.started', { stages, pid: process.pid, metricsUrl: `${metrics.url}/metrics` });
    // The API may not run at all: a worker process folds the status counts its stages' writes append.
    const upkeep = startWorkers(deps, [statusCountsFoldWorker]);
    if (!stop.signal.aborted) {
      await new Promise<void>((resolve) =>
        stop.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    const [{ forced }] = await Promise.all([
      pipeline.stop(config.http.shutdownTimeoutMs),
      upkeep.stop(config.http.shutdownTimeoutMs),
    ]);
    logger.info('worker.stopped', { forced });
  } finally {
    await metrics.close(config.http.shutdownTimeoutMs);
    if (external === undefined) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
}

await runCli(import.meta.url, main);

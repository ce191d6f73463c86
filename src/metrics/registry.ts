// The process's Prometheus metrics: one registry per process, every series labelled with this process's
// instance id (several service and worker processes share one PostgreSQL; each serves its own /metrics and
// Prometheus sums them). Names follow Prometheus conventions: `glisk_` prefix, base units (seconds, bytes,
// wei), `_total` for counters. Labels hold only bounded values (stage, status, error class, provider, route
// template): never a token id, a wallet or a prompt.
import { hostname } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { STAGE_NAMES } from '../stage-names.js';

export const METRIC_PREFIX = 'glisk_';

/** The label every series carries: which process answered (host and pid unless METRICS_INSTANCE says). */
export const INSTANCE_LABEL = 'glisk_instance';

const registry = new Registry();
let defaultsCollected = false;

/** Sets this process's instance label and starts Node's default metrics; main calls it once at start. */
export function initMetrics(instance: string = `${hostname()}:${process.pid}`): void {
  registry.setDefaultLabels({ [INSTANCE_LABEL]: instance });
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    // This one waits a turn of the event loop (setImmediate) on every scrape, so a scrape of a busy process takes
    // as long as its slowest callback. glisk_nodejs_eventloop_lag_{p50,p90,p99,max,...}_seconds stay: they
    // come from monitorEventLoopDelay over the whole interval, at no cost to the scrape.
    registry.removeSingleMetric(`${METRIC_PREFIX}nodejs_eventloop_lag_seconds`);
    defaultsCollected = true;
  }
  // Every stage's series exist from the first scrape (at 0), so rate() and absent() work before any work.
  for (const stage of STAGE_NAMES) {
    stageClaimed.inc({ stage }, 0);
    stageCompleted.inc({ stage }, 0);
    stageInFlight.inc({ stage }, 0);
  }
}

export function metricsRegistry(): Registry {
  return registry;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const httpRequestDuration = new Histogram({
  name: 'glisk_http_request_duration_seconds',
  help: 'HTTP requests by method, route template and status code.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const stageClaimed = new Counter({
  name: 'glisk_stage_claimed_total',
  help: 'Tokens claimed by a pipeline stage.',
  labelNames: ['stage'] as const,
  registers: [registry],
});

export const stageCompleted = new Counter({
  name: 'glisk_stage_completed_total',
  help: 'Tokens a pipeline stage finished successfully.',
  labelNames: ['stage'] as const,
  registers: [registry],
});

export const stageFailed = new Counter({
  name: 'glisk_stage_failed_total',
  help: 'Failed attempts of a pipeline stage by error class and outcome (retry: scheduled again; failed: the token is failed).',
  labelNames: ['stage', 'error_class', 'outcome'] as const,
  registers: [registry],
});

export const stageInFlight = new Gauge({
  name: 'glisk_stage_in_flight',
  help: 'Tokens a pipeline stage of this process is working on now.',
  labelNames: ['stage'] as const,
  registers: [registry],
});

export const stageDuration = new Histogram({
  name: 'glisk_stage_duration_seconds',
  help: 'Time a pipeline stage spent on one token (or one reveal batch), by outcome.',
  labelNames: ['stage', 'outcome'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const providerRequestDuration = new Histogram({
  name: 'glisk_provider_request_duration_seconds',
  help: 'Calls to external providers (image, IPFS, chain RPC) by provider, operation and outcome.',
  labelNames: ['provider', 'operation', 'outcome'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const providerErrors = new Counter({
  name: 'glisk_provider_errors_total',
  help: 'Failed calls to external providers by provider, operation and error class.',
  labelNames: ['provider', 'operation', 'error_class'] as const,
  registers: [registry],
});

export const followerLagBlocks = new Gauge({
  name: 'glisk_follower_lag_blocks',
  help: 'Log follower: safe head (head - confirmations) minus the checkpoint, in blocks.',
  registers: [registry],
});

export const revealTransactions = new Counter({
  name: 'glisk_reveal_transactions_total',
  help: 'Reveal transactions by outcome: confirmed or reverted (mined), replaced (a same-nonce replacement sent).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const revealGasUsed = new Counter({
  name: 'glisk_reveal_gas_used_total',
  help: 'Gas used by mined reveal transactions (confirmed or reverted).',
  registers: [registry],
});

export const revealFeesPaid = new Counter({
  name: 'glisk_reveal_fees_paid_wei_total',
  help: 'Fees paid by mined reveal transactions (gas used x effective gas price), in wei.',
  registers: [registry],
});

export const revealBatchTokens = new Histogram({
  name: 'glisk_reveal_batch_tokens',
  help: 'Tokens named by each mined reveal transaction.',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  registers: [registry],
});

export const revealedTokens = new Counter({
  name: 'glisk_revealed_tokens_total',
  help: 'Tokens this process moved to revealed: by its own transaction (via="transaction"), or found revealed on chain already (via="synced").',
  labelNames: ['via'] as const,
  registers: [registry],
});

export const keeperBalance = new Gauge({
  name: 'glisk_keeper_balance_wei',
  help: 'The keeper wallet balance at the last reveal check, in wei.',
  registers: [registry],
});

/** Times an async call to a provider into providerRequestDuration / providerErrors. */
export async function observeProviderCall<T>(
  provider: string,
  operation: string,
  call: () => Promise<T>,
): Promise<T> {
  const end = providerRequestDuration.startTimer({ provider, operation });
  try {
    const result = await call();
    end({ outcome: 'ok' });
    return result;
  } catch (error) {
    end({ outcome: 'error' });
    providerErrors.inc({ provider, operation, error_class: errorClass(error) });
    throw error;
  }
}

/** A bounded label for an error: its class name (never its message). */
export function errorClass(error: unknown): string {
  if (error instanceof Error) return error.constructor.name || error.name || 'Error';
  return typeof error;
}

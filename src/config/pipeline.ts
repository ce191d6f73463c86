// The stage runtime (src/workers/stage-runner.ts), shared by every stage: which stages this process runs, claim
// size, leases, retries, concurrency and attempts per stage.
import type { CleanedEnv } from 'envalid';
import { STAGE_NAMES, type StageName } from '../stage-names.js';
import { intIn, nameList, positiveNumber, toMs, type AreaContext } from './validators.js';

export type PipelineConfig = {
  pipeline: Readonly<{
    /** Stages this process runs (WORKERS); empty for `none`. */
    stages: readonly StageName[];
    batchSize: number;
    leaseSeconds: number;
    pollIntervalMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    concurrency: Readonly<Record<StageName, number>>;
    maxAttempts: Readonly<Record<StageName, number>>;
  }>;
};

export const pipelineSpecs = {
  WORKERS: nameList(STAGE_NAMES)({
    default: STAGE_NAMES,
    desc: `none or a list of ${STAGE_NAMES.join(', ')}`,
  }),
  WORKER_BATCH_SIZE: intIn(1, 1000)({ default: 10, desc: 'tokens per claim' }),
  WORKER_LEASE_SECONDS: positiveNumber({ default: 60, desc: 'seconds' }),
  RETRY_BASE_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  RETRY_MAX_SECONDS: positiveNumber({ default: 600, desc: 'seconds' }),
  IMAGE_CONCURRENCY: intIn(1, 1000)({ default: 4, desc: 'tokens in flight per process' }),
  IPFS_CONCURRENCY: intIn(1, 1000)({ default: 8, desc: 'tokens in flight per process' }),
  REVEAL_CONCURRENCY: intIn(1, 100)({ default: 1, desc: 'batches in flight per process' }),
  MAX_ATTEMPTS_IMAGE: intIn(1, 100)({ default: 5, desc: 'attempts' }),
  MAX_ATTEMPTS_UPLOAD: intIn(1, 100)({ default: 5, desc: 'attempts' }),
  MAX_ATTEMPTS_REVEAL: intIn(1, 100)({ default: 5, desc: 'attempts' }),
};

/**
 * Names that were renamed: setting the old one is refused with the new name rather than silently ignored.
 * MAX_ATTEMPTS_UPLOAD is the name issue 14 gives the IPFS stage's attempts (its column is upload_attempts).
 */
export const renamedPipelineVariables: Readonly<Record<string, string>> = {
  MAX_ATTEMPTS_IPFS: 'MAX_ATTEMPTS_UPLOAD',
};

/** POLL_INTERVAL_SECONDS (the chain area's) also paces the runtime's claims when no NOTIFY wakes it. */
type PipelineEnv = CleanedEnv<typeof pipelineSpecs> & { POLL_INTERVAL_SECONDS: number };

export function readPipelineConfig(e: PipelineEnv, area: AreaContext): PipelineConfig {
  if (e.RETRY_MAX_SECONDS < e.RETRY_BASE_SECONDS) {
    area.problems.push('RETRY_MAX_SECONDS: must be at least RETRY_BASE_SECONDS');
  }
  return {
    pipeline: {
      stages: e.WORKERS,
      batchSize: e.WORKER_BATCH_SIZE,
      leaseSeconds: e.WORKER_LEASE_SECONDS,
      pollIntervalMs: toMs(e.POLL_INTERVAL_SECONDS),
      retryBaseMs: toMs(e.RETRY_BASE_SECONDS),
      retryMaxMs: toMs(e.RETRY_MAX_SECONDS),
      concurrency: { image: e.IMAGE_CONCURRENCY, ipfs: e.IPFS_CONCURRENCY, reveal: e.REVEAL_CONCURRENCY },
      maxAttempts: {
        image: e.MAX_ATTEMPTS_IMAGE,
        ipfs: e.MAX_ATTEMPTS_UPLOAD,
        reveal: e.MAX_ATTEMPTS_REVEAL,
      },
    },
  };
}

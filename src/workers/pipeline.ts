// The pipeline workers of one process: a stage runner for each stage named in WORKERS that exists, and the one
// LISTEN connection that wakes them. A stage registers by adding its factory to `stageFactories`; the factory
// builds the Stage from the process's dependencies (its provider from the config, its settings from
// stageSettings). main and `npm run worker` both start the pipeline through startPipeline.
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { TokenStatus } from '../db/schema.js';
import type { StageName } from '../stage-names.js';
import type { Logger } from '../logger.js';
import { createImageProvider } from '../providers/image/index.js';
import { createIpfsProvider } from '../providers/ipfs/index.js';
import { createImageStage } from '../stages/image/image.stage.js';
import { createIpfsStage } from '../stages/ipfs/ipfs.stage.js';
import { startContentRetention } from '../stages/ipfs/retention.js';
import { createRevealStage } from '../stages/reveal/reveal.stage.js';
import type { Stage, StageSettings } from '../stages/stage.js';
import { startStageRunner, type StageRunner } from './stage-runner.js';
import { listenForTokens, type TokenListener } from './token-listener.js';

export type PipelineDeps = {
  config: Config;
  logger: Logger;
  database: Database;
};

/** Builds a stage from the process's dependencies. */
export type StageFactory = (deps: PipelineDeps) => Stage;

/** The runtime settings of `stage` from the configuration (WORKER_*, <STAGE>_CONCURRENCY, MAX_ATTEMPTS_<STAGE>). */
export function stageSettings(config: Config, stage: StageName): StageSettings {
  const p = config.pipeline;
  return {
    batchSize: p.batchSize,
    concurrency: p.concurrency[stage],
    maxAttempts: p.maxAttempts[stage],
    leaseSeconds: p.leaseSeconds,
    pollIntervalMs: p.pollIntervalMs,
    retryBaseMs: p.retryBaseMs,
    retryMaxMs: p.retryMaxMs,
  };
}

/** Every stage that exists; a stage named in WORKERS but absent here is skipped (logged). */
export const stageFactories: Partial<Record<StageName, StageFactory>> = {
  image: (deps) =>
    createImageStage({
      database: deps.database,
      provider: createImageProvider(deps.config),
      settings: stageSettings(deps.config, 'image'),
      prompts: deps.config.image,
    }),
  ipfs: (deps) =>
    createIpfsStage({
      database: deps.database,
      provider: createIpfsProvider(deps.config, deps.database.db),
      settings: stageSettings(deps.config, 'ipfs'),
    }),
  reveal: (deps) =>
    createRevealStage({
      config: deps.config,
      database: deps.database,
      logger: deps.logger,
      settings: stageSettings(deps.config, 'reveal'),
    }),
};

/** Background upkeep a stage brings along in a process that runs it: started and stopped with the pipeline. */
export type StageUpkeep = (deps: PipelineDeps) => { stop: () => Promise<void> } | undefined;

export const stageUpkeep: Partial<Record<StageName, StageUpkeep>> = {
  // Content retention, remote providers only: with IPFS_PROVIDER=local the content store is the pin.
  ipfs: (deps) =>
    deps.config.ipfs.provider === 'local'
      ? undefined
      : startContentRetention({
          db: deps.database.db,
          logger: deps.logger.child({ component: 'retention' }),
          retentionHours: deps.config.ipfs.localRetentionHours,
        }),
};

export type RunningPipeline = {
  readonly runners: readonly StageRunner[];
  /** Stops every runner (see StageRunner.stop), then the listener. Idempotent. */
  stop: (timeoutMs: number) => Promise<{ forced: boolean }>;
};

export type PipelineOptions = {
  /** Stages to run; default: the configuration's WORKERS. */
  stages?: readonly StageName[];
  /** Stages built elsewhere (tests, benches): run as given instead of from stageFactories. */
  stageOverrides?: readonly Stage[];
  /** The URL the listener connects to (its own connection, outside the pool). */
  listenUrl: string;
};

export async function startPipeline(deps: PipelineDeps, options: PipelineOptions): Promise<RunningPipeline> {
  const { logger } = deps;
  const stages: Stage[] = [];
  if (options.stageOverrides) {
    stages.push(...options.stageOverrides);
  } else {
    for (const name of options.stages ?? deps.config.pipeline.stages) {
      const factory = stageFactories[name];
      if (factory === undefined) {
        logger.warn('stage.unavailable', {
          stage: name,
          detail: 'named in WORKERS but not built in this version',
        });
        continue;
      }
      stages.push(factory(deps));
    }
  }
  if (stages.length === 0) return { runners: [], stop: () => Promise.resolve({ forced: false }) };

  const runners = stages.map((stage) => startStageRunner(stage, { database: deps.database, logger }));
  const upkeeps = stages.flatMap((stage) => stageUpkeep[stage.definition.name]?.(deps) ?? []);
  const byStatus = new Map<TokenStatus, StageRunner[]>();
  for (const [index, stage] of stages.entries()) {
    const runner = runners[index];
    if (runner === undefined) continue;
    byStatus.set(stage.definition.start, [...(byStatus.get(stage.definition.start) ?? []), runner]);
  }
  let listener: TokenListener | undefined;
  try {
    listener = await listenForTokens({
      url: options.listenUrl,
      log: logger.child({ component: 'listener' }),
      onStatus: (status) => {
        for (const runner of byStatus.get(status) ?? []) runner.wake();
      },
      onReconnect: () => {
        for (const runner of runners) runner.wake();
      },
    });
  } catch (error) {
    // Without LISTEN the runners still poll every POLL_INTERVAL_SECONDS: slower, not broken.
    logger.error('listener.failed', { error, detail: 'workers fall back to polling' });
  }
  logger.info('pipeline.started', { stages: runners.map((r) => r.name) });

  let stopping: Promise<{ forced: boolean }> | undefined;
  return {
    runners,
    stop: (timeoutMs) => {
      stopping ??= (async () => {
        const results = await Promise.all(runners.map((runner) => runner.stop(timeoutMs)));
        await Promise.all(upkeeps.map((upkeep) => upkeep.stop()));
        await listener?.close();
        return { forced: results.some((r) => r.forced) };
      })();
      return stopping;
    },
  };
}

// One worker process of `npm run bench:claim` (bench/claim.bench.ts starts 1, 2 or 4 of them):
//   glisk     the stage runtime (startPipeline: claims with leases, attempts rows through the image stage's
//             recorder, compare-and-set finishes with NOTIFY, the LISTEN wake-up) with a stage whose work does
//             nothing and returns an image CID;
//   graphile  graphile-worker's runner with a task that does nothing.
// Both at CONCURRENCY units in flight. Prints "ready" once listening; SIGTERM stops it cleanly (glisk prints its
// runner's counters first, as "stats <json>": claims, finish groups).
import { EventEmitter } from 'node:events';
import { run, Logger as GraphileLogger, type WorkerEvents } from 'graphile-worker';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/client.js';
import { STAGES } from '../src/domain/stages.js';
import { createLogger } from '../src/logger.js';
import { imageAttemptRecorder } from '../src/stages/image/image.stage.js';
import { startPipeline, stageSettings } from '../src/workers/pipeline.js';
import type { TokenStage } from '../src/stages/stage.js';

// A CID of the right shape (the column's CHECK); the no-op work writes it as the image.
export const NOOP_IMAGE_CID = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4';

const mode = process.argv[2];
const url = process.env.DATABASE_URL ?? '';
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? '10');

async function glisk(): Promise<() => Promise<unknown>> {
  const config = loadConfig({
    APP_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: url,
    IMAGE_CONCURRENCY: String(concurrency),
    DB_POOL_SIZE: String(concurrency + 2),
    WORKER_BATCH_SIZE: process.env.WORKER_BATCH_SIZE ?? '10',
  });
  const logger = createLogger({ level: 'warn', format: 'json', secrets: config.secrets });
  const database = createDatabase(url, { max: config.database.poolSize, applicationName: 'bench-glisk' });
  const stage: TokenStage = {
    mode: 'token',
    definition: STAGES.image,
    settings: stageSettings(config, 'image'),
    attempts: imageAttemptRecorder('noop'),
    work: () => Promise.resolve({ changes: { imageCid: NOOP_IMAGE_CID } }),
  };
  const pipeline = await startPipeline(
    { config, logger, database },
    { stageOverrides: [stage], listenUrl: url },
  );
  return async () => {
    await pipeline.stop(5_000);
    process.stdout.write(`stats ${JSON.stringify(pipeline.runners[0]?.stats() ?? {})}\n`);
    await database.close();
  };
}

async function graphile(): Promise<() => Promise<unknown>> {
  const quiet = new GraphileLogger(() => (level, message) => {
    if (['error', 'warning'].includes(String(level))) process.stderr.write(`graphile-worker: ${message}\n`);
  });
  const events: WorkerEvents = new EventEmitter();
  const listening = new Promise<void>((resolve) => events.once('pool:listen:success', () => resolve()));
  const runner = await run({
    connectionString: url,
    concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: 2_000,
    noHandleSignals: true,
    logger: quiet,
    events,
    taskList: { noop: () => Promise.resolve() },
  });
  await listening;
  return () => runner.stop();
}

const stop = mode === 'glisk' ? await glisk() : mode === 'graphile' ? await graphile() : undefined;
if (stop === undefined) {
  process.stderr.write('usage: claim-worker.ts glisk|graphile\n');
  process.exit(2);
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});

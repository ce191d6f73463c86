// `npm run bench:claim`: the stage runtime's claim -> finish cycle with no-op work against graphile-worker
// running the same number of no-op jobs at the same concurrency, on one throwaway embedded PostgreSQL, in the
// same run. Goal: ratio >= 1.0 (graphile-worker as it comes: no local queue, no batched completions).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import { makeWorkerUtils, runMigrations } from 'graphile-worker';
import { createDatabase, type Database } from '../src/db/client.js';
import { TOKENS_CHANNEL } from '../src/db/channels.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { UsageError } from '../src/errors.js';
import { parseCommandArgs, printLine, readCliOptions, runCli, type CliIo } from '../src/cli/run.js';

const HELP = `Usage: npm run bench:claim [-- --tokens N] [--processes 1,2,4] [--concurrency C]

Starts a throwaway embedded PostgreSQL 17 (our migrations and graphile-worker's), then for each process count:
  stage runtime   P worker processes run the real runtime (startPipeline: leased batch claims of
                  WORKER_BATCH_SIZE, image_generation_jobs attempts rows, compare-and-set finishes with NOTIFY,
                  LISTEN wake-up) with a stage whose work does nothing; N tokens are inserted as detected in one
                  transaction with its NOTIFY, and timed from that commit until all are uploading;
  graphile-worker P processes of graphile-worker@0.17 (default options: no local queue, no batched
                  completions) with a no-op task; N jobs added in one call (addJobs), timed from it until the
                  job table is empty.
Both at C units in flight per process. Workers are started and listening before the clock starts. A warm-up
round of each runs first (not printed).

Prints tokens/s, jobs/s and their ratio per process count. Goal: ratio >= 1.0.

Options:
  --tokens <n>       tokens and jobs per round (default 3000)
  --processes <list> worker process counts (default 1,2,4)
  --concurrency <c>  units in flight per process (default 10; IMAGE_CONCURRENCY / graphile concurrency)
  --help             show this help

WORKER_BATCH_SIZE comes from the environment (default 10). Exit status: 0 done (whatever the ratio), 1 the
run broke, 2 bad arguments.`;

const GOAL = 1.0;
const WORKER = path.join(import.meta.dirname, 'claim-worker.ts');

type Options = { tokens: number; processes: number[]; concurrency: number };

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} takes a positive integer, got "${value}"`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseCommandArgs(argv, {
    tokens: { type: 'string' },
    processes: { type: 'string' },
    concurrency: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  return {
    tokens: positiveInt('tokens', values.tokens ?? '3000'),
    processes: (values.processes ?? '1,2,4').split(',').map((p) => positiveInt('processes', p.trim())),
    concurrency: positiveInt('concurrency', values.concurrency ?? '10'),
  };
}

type Workers = { stop: () => Promise<void> };

/** Starts `count` worker processes in `mode` and resolves once each printed "ready". */
async function startWorkers(
  mode: 'glisk' | 'graphile',
  count: number,
  url: string,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<Workers> {
  const children: ChildProcess[] = [];
  const ready = Array.from({ length: count }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, mode], {
      env: { ...env, DATABASE_URL: url, BENCH_CONCURRENCY: String(options.concurrency) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`a ${mode} worker exited (${String(code)}) before it was ready`);
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const readyLine = (async () => {
      for await (const line of lines) if (line.trim() === 'ready') return;
    })();
    await Promise.race([readyLine, exited]);
    exited.catch(() => undefined);
  });
  try {
    await Promise.all(ready);
  } catch (error) {
    for (const child of children) child.kill('SIGKILL');
    throw error;
  }
  return {
    stop: async () => {
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
        }),
      );
    },
  };
}

/** Polls `remaining` every few milliseconds until it answers 0; the time since `started`, in seconds. */
async function timeUntilDone(started: bigint, remaining: () => Promise<number>): Promise<number> {
  for (;;) {
    if ((await remaining()) === 0) return Number(process.hrtime.bigint() - started) / 1e9;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function countOf(database: Database, query: ReturnType<typeof sql>): Promise<number> {
  const [row] = await database.db.execute<{ n: number }>(query);
  return Number(row?.n ?? 0);
}

/** One stage-runtime round: tokens/s from the commit of N detected tokens to the last one uploading. */
async function runtimeRound(
  database: Database,
  url: string,
  processes: number,
  tokens: number,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<number> {
  await database.db.execute(sql`TRUNCATE tokens_s0 CASCADE`);
  const workers = await startWorkers('glisk', processes, url, options, env);
  try {
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`
        INSERT INTO tokens_s0 (token_id, author_id, minter_address, mint_timestamp)
        SELECT g, a.id, a.wallet_address, now() FROM generate_series(1, ${tokens}) g,
          (SELECT id, wallet_address FROM authors LIMIT 1) a`);
      await tx.execute(sql`SELECT pg_notify(${TOKENS_CHANNEL}, 'detected')`);
    });
    const started = process.hrtime.bigint();
    const seconds = await timeUntilDone(started, async () => {
      const [row] = await database.db.execute<{ left: number; failed: number }>(sql`
        SELECT count(*) FILTER (WHERE status <> 'uploading')::int AS left,
               count(*) FILTER (WHERE status = 'failed')::int AS failed
        FROM tokens_s0`);
      if (Number(row?.failed ?? 0) > 0) throw new Error(`${String(row?.failed)} tokens failed`);
      return Number(row?.left ?? 0);
    });
    const attempts = await countOf(database, sql`SELECT count(*)::int AS n FROM image_generation_jobs`);
    if (attempts !== tokens) throw new Error(`${attempts} attempts rows for ${tokens} tokens`);
    return tokens / seconds;
  } finally {
    await workers.stop();
  }
}

/** One graphile-worker round: jobs/s from addJobs of N no-op jobs to an empty job table. */
async function graphileRound(
  database: Database,
  url: string,
  processes: number,
  jobs: number,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<number> {
  const workers = await startWorkers('graphile', processes, url, options, env);
  const utils = await makeWorkerUtils({ connectionString: url });
  try {
    await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: 'noop', payload: {} })));
    const started = process.hrtime.bigint();
    const seconds = await timeUntilDone(started, () =>
      countOf(database, sql`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`),
    );
    return jobs / seconds;
  } finally {
    await utils.release();
    await workers.stop();
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'bench:claim', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const { options } = read;

  const dataDir = await createTemporaryDirectory('glisk-bench-claim-');
  const pg = await startEmbeddedPostgres({ dataDir, persistent: false });
  const database = createDatabase(pg.url, { max: 4, applicationName: 'glisk-bench-claim' });
  const env = { ...io.env, PATH: process.env.PATH };
  try {
    await migrateDatabase(pg.url);
    await runMigrations({ connectionString: pg.url, logger: undefined });
    await database.db.execute(
      sql`INSERT INTO authors (wallet_address) VALUES ('0x000000000000000000000000000000000000b0b0')`,
    );
    const batchSize = io.env.WORKER_BATCH_SIZE ?? '10';
    printLine(
      io.stdout,
      `bench:claim: ${options.tokens} tokens / jobs per round, concurrency ${options.concurrency} per process, ` +
        `WORKER_BATCH_SIZE ${batchSize}, no-op work; graphile-worker 0.17.3 defaults`,
    );
    // Warm-up: PostgreSQL's caches and plans, both code paths once.
    await runtimeRound(database, pg.url, 1, 200, options, env);
    await graphileRound(database, pg.url, 1, 200, options, env);

    const ratios: number[] = [];
    for (const processes of options.processes) {
      const runtime = await runtimeRound(database, pg.url, processes, options.tokens, options, env);
      const graphile = await graphileRound(database, pg.url, processes, options.tokens, options, env);
      const ratio = runtime / graphile;
      ratios.push(ratio);
      printLine(
        io.stdout,
        `bench:claim: ${processes} process${processes === 1 ? '' : 'es'}: stage runtime ${runtime.toFixed(0)} tokens/s, ` +
          `graphile-worker ${graphile.toFixed(0)} jobs/s, ratio ${ratio.toFixed(2)}`,
      );
    }
    const lowest = Math.min(...ratios);
    printLine(
      io.stdout,
      `bench:claim: lowest ratio ${lowest.toFixed(2)}; goal >= ${GOAL}: ${lowest >= GOAL ? 'met' : 'NOT met'}`,
    );
    return 0;
  } catch (error) {
    printLine(io.stderr, `bench:claim failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database.close();
    await pg.stop();
  }
}

await runCli(import.meta.url, main);

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
import {
  processTreeCpuSeconds,
  resetStatementCounts,
  STATEMENT_COUNT_SETTINGS,
  statementCounts,
  type StatementCount,
} from './pipeline-timings.js';
import { median } from './statistics.js';

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

Prints tokens/s, jobs/s and their ratio per process count. Goal: ratio >= 1.0. With --rounds R, each process
count runs R runtime/graphile pairs in turn and prints each pair's ratio, then the median.

Also per round, from the start of the insert to the end: statements per token or job (pg_stat_statements,
BEGIN/COMMIT included; the bench's own progress queries left out), CPU per token or job of the worker processes
and of PostgreSQL (/proc), and for the runtime its claims and finish groups (mean tokens per claim and per group
of finishing writes) as the worker processes count them. The statements most called per token are listed once
per process count (--statements N of them).

Options:
  --tokens <n>       tokens and jobs per round (default 3000)
  --processes <list> worker process counts (default 1,2,4)
  --concurrency <c>  units in flight per process (default 10; IMAGE_CONCURRENCY / graphile concurrency)
  --rounds <r>       runtime/graphile pairs per process count, alternated (default 1)
  --statements <n>   most called statements listed per process count (default 6; 0: none)
  --profile <dir>    V8 CPU profiles of the stage runtime's worker processes (node --cpu-prof), written to dir
  --help             show this help

WORKER_BATCH_SIZE comes from the environment (default 10). Exit status: 0 done (whatever the ratio), 1 the
run broke, 2 bad arguments.`;

const GOAL = 1.0;
const WORKER = path.join(import.meta.dirname, 'claim-worker.ts');

type Options = {
  tokens: number;
  processes: number[];
  concurrency: number;
  rounds: number;
  statements: number;
  profile: string | undefined;
};

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
    rounds: { type: 'string' },
    statements: { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const statements = Number(values.statements ?? '6');
  if (!Number.isInteger(statements) || statements < 0)
    throw new UsageError(`--statements takes a whole number, got "${values.statements}"`);
  if (values.help === true) return 'help';
  return {
    tokens: positiveInt('tokens', values.tokens ?? '3000'),
    processes: (values.processes ?? '1,2,4').split(',').map((p) => positiveInt('processes', p.trim())),
    concurrency: positiveInt('concurrency', values.concurrency ?? '10'),
    rounds: positiveInt('rounds', values.rounds ?? '1'),
    statements,
    profile: values.profile,
  };
}

/** The runtime's counters as a worker process prints them at stop (see StageRunnerStats). */
type RunnerStats = { claims: number; claimed: number; finishGroups: number; finishes: number };

type Workers = {
  pids: number[];
  /** Stops them; resolves with the counters the glisk workers printed. */
  stop: () => Promise<RunnerStats[]>;
};

/** Starts `count` worker processes in `mode` and resolves once each printed "ready". */
async function startWorkers(
  mode: 'glisk' | 'graphile',
  count: number,
  url: string,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<Workers> {
  const children: ChildProcess[] = [];
  const stats: RunnerStats[] = [];
  const ready = Array.from({ length: count }, async () => {
    const profile =
      mode === 'glisk' && options.profile !== undefined
        ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.profile)}`]
        : [];
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', WORKER, mode], {
      env: { ...env, DATABASE_URL: url, BENCH_CONCURRENCY: String(options.concurrency) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`a ${mode} worker exited (${String(code)}) before it was ready`);
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const lineIterator = lines[Symbol.asyncIterator]();
    const readyLine = (async () => {
      for (let line = await lineIterator.next(); line.done !== true; line = await lineIterator.next()) {
        if (line.value.trim() === 'ready') return;
      }
    })();
    await Promise.race([readyLine, exited]);
    // After "ready", a glisk worker prints its counters when it stops.
    lines.on('line', (line) => {
      if (line.startsWith('stats ')) stats.push(JSON.parse(line.slice('stats '.length)) as RunnerStats);
    });
    exited.catch(() => undefined);
  });
  try {
    await Promise.all(ready);
  } catch (error) {
    for (const child of children) child.kill('SIGKILL');
    throw error;
  }
  return {
    pids: children.flatMap((child) => (child.pid === undefined ? [] : [child.pid])),
    stop: async () => {
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
        }),
      );
      return stats;
    },
  };
}

/** What one round measured. */
type Round = {
  /** Tokens or jobs per second. */
  rate: number;
  statements: StatementCount[];
  /** CPU seconds of the worker processes and of PostgreSQL over the round. */
  workerCpu: number;
  postgresCpu: number;
  runner?: RunnerStats;
};

/** CPU seconds so far of the worker processes and of PostgreSQL. */
function cpuNow(pgPid: number, workers: Workers): { workers: number; postgres: number } {
  const workerSeconds = workers.pids.reduce((sum, pid) => sum + (processTreeCpuSeconds(pid) ?? 0), 0);
  return { workers: workerSeconds, postgres: processTreeCpuSeconds(pgPid) ?? 0 };
}

function sumStats(all: readonly RunnerStats[]): RunnerStats {
  const sum = { claims: 0, claimed: 0, finishGroups: 0, finishes: 0 };
  for (const s of all) {
    sum.claims += s.claims;
    sum.claimed += s.claimed;
    sum.finishGroups += s.finishGroups;
    sum.finishes += s.finishes;
  }
  return sum;
}

/** Polls `remaining` every few milliseconds until it answers 0; the time since `started`, in seconds. */
async function timeUntilDone(started: bigint, remaining: () => Promise<number>): Promise<number> {
  for (;;) {
    if ((await remaining()) === 0) return Number(process.hrtime.bigint() - started) / 1e9;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// The bench's own queries say so in a comment (/* bench */): statementCounts() leaves them out.
async function countOf(database: Database, query: ReturnType<typeof sql>): Promise<number> {
  const [row] = await database.db.execute<{ n: number }>(query);
  return Number(row?.n ?? 0);
}

/** One stage-runtime round: tokens/s from the commit of N detected tokens to the last one uploading. */
async function runtimeRound(
  database: Database,
  pg: { url: string; pid: number },
  processes: number,
  tokens: number,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<Round> {
  await database.db.execute(sql`TRUNCATE tokens_s0 CASCADE`);
  const workers = await startWorkers('glisk', processes, pg.url, options, env);
  let stopped = false;
  try {
    await resetStatementCounts(database);
    const cpu0 = cpuNow(pg.pid, workers);
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
        SELECT /* bench */ count(*) FILTER (WHERE status <> 'uploading')::int AS left,
               count(*) FILTER (WHERE status = 'failed')::int AS failed
        FROM tokens_s0`);
      if (Number(row?.failed ?? 0) > 0) throw new Error(`${String(row?.failed)} tokens failed`);
      return Number(row?.left ?? 0);
    });
    const cpu1 = cpuNow(pg.pid, workers);
    const statements = await statementCounts(database);
    const runner = sumStats(await workers.stop());
    stopped = true;
    const attempts = await countOf(
      database,
      sql`SELECT /* bench */ count(*)::int AS n FROM image_generation_jobs WHERE status = 'completed'`,
    );
    if (attempts !== tokens) throw new Error(`${attempts} completed attempts rows for ${tokens} tokens`);
    return {
      rate: tokens / seconds,
      statements,
      workerCpu: cpu1.workers - cpu0.workers,
      postgresCpu: cpu1.postgres - cpu0.postgres,
      runner,
    };
  } finally {
    if (!stopped) await workers.stop();
  }
}

/** One graphile-worker round: jobs/s from addJobs of N no-op jobs to an empty job table. */
async function graphileRound(
  database: Database,
  pg: { url: string; pid: number },
  processes: number,
  jobs: number,
  options: Options,
  env: Record<string, string | undefined>,
): Promise<Round> {
  const workers = await startWorkers('graphile', processes, pg.url, options, env);
  const utils = await makeWorkerUtils({ connectionString: pg.url });
  try {
    await resetStatementCounts(database);
    const cpu0 = cpuNow(pg.pid, workers);
    await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: 'noop', payload: {} })));
    const started = process.hrtime.bigint();
    const seconds = await timeUntilDone(started, () =>
      countOf(database, sql`SELECT /* bench */ count(*)::int AS n FROM graphile_worker._private_jobs`),
    );
    const cpu1 = cpuNow(pg.pid, workers);
    return {
      rate: jobs / seconds,
      statements: await statementCounts(database),
      workerCpu: cpu1.workers - cpu0.workers,
      postgresCpu: cpu1.postgres - cpu0.postgres,
    };
  } finally {
    await utils.release();
    await workers.stop();
  }
}

const callsOf = (statements: readonly StatementCount[]) => statements.reduce((sum, s) => sum + s.calls, 0);

/** Statements and CPU per token (runtime) and per job (graphile-worker) of one pair of rounds. */
function printRoundCosts(io: CliIo, label: string, runtime: Round, graphile: Round, count: number): void {
  const ms = (seconds: number) => `${((seconds * 1000) / count).toFixed(2)} ms`;
  const runner = runtime.runner;
  const perClaim = runner && runner.claims > 0 ? (runner.claimed / runner.claims).toFixed(1) : '-';
  const perGroup =
    runner && runner.finishGroups > 0 ? (runner.finishes / runner.finishGroups).toFixed(1) : '-';
  printLine(
    io.stdout,
    `${label}:   per token: ${(callsOf(runtime.statements) / count).toFixed(2)} statements, CPU workers ` +
      `${ms(runtime.workerCpu)} + PostgreSQL ${ms(runtime.postgresCpu)}; ${perClaim} tokens per claim ` +
      `(${runner?.claims ?? '-'} claims), ${perGroup} finishes per group (${runner?.finishGroups ?? '-'} groups)`,
  );
  printLine(
    io.stdout,
    `${label}:   per job:   ${(callsOf(graphile.statements) / count).toFixed(2)} statements, CPU workers ` +
      `${ms(graphile.workerCpu)} + PostgreSQL ${ms(graphile.postgresCpu)}`,
  );
}

function printTopStatements(
  io: CliIo,
  label: string,
  statements: readonly StatementCount[],
  options: Options,
): void {
  for (const s of statements.slice(0, options.statements)) {
    const text = s.query.length > 100 ? `${s.query.slice(0, 97)}...` : s.query;
    printLine(
      io.stdout,
      `${label}: ${(s.calls / options.tokens).toFixed(2).padStart(6)}/token ${(s.totalMs / s.calls).toFixed(3).padStart(7)} ms  ${text}`,
    );
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'bench:claim', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const { options } = read;

  const dataDir = await createTemporaryDirectory('glisk-bench-claim-');
  const pg = await startEmbeddedPostgres({ dataDir, persistent: false, settings: STATEMENT_COUNT_SETTINGS });
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
    await runtimeRound(database, pg, 1, 200, options, env);
    await graphileRound(database, pg, 1, 200, options, env);

    const ratios: number[] = [];
    for (const processes of options.processes) {
      const label = `bench:claim: ${processes} process${processes === 1 ? '' : 'es'}`;
      const pairRatios: number[] = [];
      let last: { runtime: Round; graphile: Round } | undefined;
      for (let round = 1; round <= options.rounds; round += 1) {
        const runtime = await runtimeRound(database, pg, processes, options.tokens, options, env);
        const graphile = await graphileRound(database, pg, processes, options.tokens, options, env);
        const ratio = runtime.rate / graphile.rate;
        pairRatios.push(ratio);
        last = { runtime, graphile };
        printLine(
          io.stdout,
          `${label}${options.rounds > 1 ? ` (round ${round})` : ''}: stage runtime ${runtime.rate.toFixed(0)} tokens/s, ` +
            `graphile-worker ${graphile.rate.toFixed(0)} jobs/s, ratio ${ratio.toFixed(2)}`,
        );
        printRoundCosts(io, label, runtime, graphile, options.tokens);
      }
      const ratio = median(pairRatios);
      ratios.push(ratio);
      if (options.rounds > 1) {
        printLine(
          io.stdout,
          `${label}: ratios ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; median ${ratio.toFixed(2)}`,
        );
      }
      if (last !== undefined && options.statements > 0) {
        printTopStatements(io, `${label}: stage runtime`, last.runtime.statements, options);
        printTopStatements(io, `${label}: graphile-worker`, last.graphile.statements, options);
      }
    }
    const lowest = Math.min(...ratios);
    printLine(
      io.stdout,
      `bench:claim: lowest ${options.rounds > 1 ? 'median ' : ''}ratio ${lowest.toFixed(2)}; goal >= ${GOAL}: ` +
        `${lowest >= GOAL ? 'met' : 'NOT met'}`,
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

// `npm run bench:pipeline`: N tokens detected (ingestMints, the write every detection path ends in) and carried
// through the named stages by the real pipeline (startPipeline: the stage runtime, stageFactories, the stages'
// local providers) on a throwaway embedded PostgreSQL. Prints tokens/s and per-stage p50/p99, and, in the same
// run, the local image provider rendering the same images with no pipeline around it (once before and once after
// the pipeline, so drift on a shared machine shows). Goal: pipeline throughput >= 0.9x the raw render's.
//
// Stages are read from the stage table (src/domain/stages.ts) and built by src/workers/pipeline.ts; the only
// per-stage knowledge here is BENCH_SETUPS, the configuration that makes a stage run offline.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { PassThrough } from 'node:stream';
import { sql } from 'drizzle-orm';
import { createPublicClient, getAddress, http, type Address, type PublicClient } from 'viem';
import { loadConfig, type Config } from '../src/config.js';
import { createDatabase, type Database } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import type { TokenStatus } from '../src/db/schema.js';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { mintOnChain } from '../src/dev/demo/mints.js';
import { deployGlisk, startLocalChain, type DevAccount } from '../src/dev/local-chain.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { STAGES, type StageDefinition } from '../src/domain/stages.js';
import { isStageName, STAGE_NAMES, type StageName } from '../src/stage-names.js';
import { UsageError } from '../src/errors.js';
import { mapAll } from '../src/lib/bounded-concurrency.js';
import { computeCid } from '../src/lib/cid.js';
import { createLogger } from '../src/logger.js';
import { chainForId } from '../src/providers/chain/client.js';
import { createImageProvider } from '../src/providers/image/index.js';
import { parseCommandArgs, printLine, readCliOptions, runCli, type CliIo } from '../src/cli/run.js';
import { ingestMints, type DecodedMint } from '../src/stages/detection/mint-ingest.js';
import { resolvePrompt } from '../src/stages/image/image.stage.js';
import { startPipeline, stageFactories } from '../src/workers/pipeline.js';
import {
  cpuSeconds,
  startGcCounter,
  type GcTotals,
  installStatusLog,
  resetStatementCounts,
  STATEMENT_COUNT_SETTINGS,
  statementCounts,
  stageTimings,
  type StageTiming,
  type StatementCount,
} from './pipeline-timings.js';

const HELP = `Usage: npm run bench:pipeline [-- --tokens N] [--stages image,ipfs]

Starts a throwaway embedded PostgreSQL 17 and migrates it; records N tokens as detected (mints of 50 tokens
by 20 authors, each with its own prompt, through ingestMints as the webhook and the log follower do); runs the
pipeline (the stage runtime with the stages' local providers: IMAGE_PROVIDER=local, IPFS_PROVIDER=local;
with reveal, a local chain started like npm run demo's, GliskS0 deployed and the same mints minted on it first)
until every token has left the last stage; and, in the same run, has the local image provider render the
same N images with no pipeline around it, at the same concurrency (IMAGE_CONCURRENCY), once before and once
after the pipeline.

Prints, per stage: tokens/s and the p50/p99 of the time in the stage (from entering its start status to
leaving it: waiting + work) and of the work (claim to finish); the pipeline's tokens/s (first detection to
last token out); the raw render's images/s; and their ratio. Goal: pipeline >= 0.9x raw render.

Options:
  --tokens <n>     tokens to carry (default 1000)
  --stages <list>  consecutive stages from detection, comma-separated (default image,ipfs; stages: ${STAGE_NAMES.join(', ')})
  --profile <file> write a CPU profile of this process's main thread during the pipeline run only (no raw
                   render, no start-up) to <file> (.cpuprofile: Chrome DevTools, speedscope)
  --help           show this help

Tuning comes from the environment as for npm start (IMAGE_CONCURRENCY, IPFS_CONCURRENCY, WORKER_BATCH_SIZE,
WORKER_LEASE_SECONDS, ...); the providers are always the local ones. A status line on stderr shows progress.
Exit status: 0 every token carried, 1 some token failed or the run broke, 2 bad arguments.`;

const MINT_SIZE = 50;
const AUTHORS = 20;
const SAMPLE = 10;
const GOAL = 0.9;
const STATEMENTS_SHOWN = 14;

/**
 * What makes a stage run offline in this bench: its environment, and what it needs started before the pipeline
 * (the reveal: a local chain with the contract deployed and the bench's mints minted on it, as `npm run demo`
 * does). A stage absent here cannot be benched yet.
 */
type BenchSetup = {
  env: Record<string, string>;
  start?: (
    mints: readonly DecodedMint[],
  ) => Promise<{ env: Record<string, string>; stop: () => Promise<void> }>;
};
const BENCH_SETUPS: Partial<Record<StageName, BenchSetup>> = {
  image: { env: { IMAGE_PROVIDER: 'local' } },
  ipfs: { env: { IPFS_PROVIDER: 'local' } },
  reveal: { env: { CHAIN_FOLLOWER_ENABLED: 'false', GAP_SCAN_ENABLED: 'false' }, start: startRevealChain },
};

/**
 * A local chain (automining), GliskS0 deployed, and every mint of the bench minted on it from the dev minters,
 * so that the token ids detected here are the ones minted there (the reveal sends only minted, unrevealed ids).
 * Not timed: it runs before the pipeline.
 */
async function startRevealChain(mints: readonly DecodedMint[]) {
  const chain = await startLocalChain({ port: 0 });
  try {
    const deployment = await deployGlisk({ rpcUrl: chain.rpcUrl });
    const client = createPublicClient({
      chain: chainForId(chain.chainId),
      transport: http(chain.rpcUrl),
      cacheTime: 0,
    }) as PublicClient;
    const context = { client, rpcUrl: chain.rpcUrl, chainId: chain.chainId, deployment };
    const { minters } = deployment.accounts;
    for (const [k, mint] of mints.entries()) {
      await mintOnChain(context, minters[k % minters.length] as DevAccount, mint.author, mint.quantity);
    }
    return {
      env: {
        RPC_URL: chain.rpcUrl,
        GLISK_NFT_CONTRACT_ADDRESS: deployment.contractAddress,
        KEEPER_PRIVATE_KEY: deployment.accounts.keeper.privateKey,
      },
      stop: () => chain.stop(),
    };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}

type Options = { tokens: number; stages: StageDefinition[]; profile: string | undefined };

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseCommandArgs(argv, {
    tokens: { type: 'string' },
    stages: { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  const tokensText = values.tokens ?? '1000';
  if (!/^[1-9]\d{0,5}$/.test(tokensText)) {
    throw new UsageError(`--tokens must be a whole number from 1 to 999999, got "${tokensText}"`);
  }
  const names = (values.stages ?? 'image,ipfs').split(',').map((name) => name.trim());
  for (const name of names) {
    if (!isStageName(name))
      throw new UsageError(`--stages: unknown stage "${name}" (${STAGE_NAMES.join(', ')})`);
    if (stageFactories[name] === undefined || BENCH_SETUPS[name] === undefined) {
      throw new UsageError(`--stages: the ${name} stage has no offline setup in this bench yet`);
    }
  }
  const stages = [...new Set(names as StageName[])]
    .sort((a, b) => STAGE_NAMES.indexOf(a) - STAGE_NAMES.indexOf(b))
    .map((name) => STAGES[name]);
  let from: TokenStatus = 'detected';
  for (const stage of stages) {
    if (stage.start !== from) {
      throw new UsageError(
        `--stages: ${stage.name} starts at ${stage.start}, but tokens arrive ${from}; name the stages before it`,
      );
    }
    from = stage.next;
  }
  return { tokens: Number(tokensText), stages, profile: values.profile };
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

const ms = (value: number) => `${value.toFixed(0)} ms`;

type Progress = (text: string) => void;

function progressLine(io: CliIo): Progress & { done: () => void } {
  let last = 0;
  const write = (text: string) => {
    const now = performance.now();
    if (io.stderr.isTTY === true) io.stderr.write(`\r\x1b[K${text}`);
    else if (now - last >= 5_000) io.stderr.write(`${text}\n`);
    else return;
    last = now;
  };
  return Object.assign(write, { done: () => io.stderr.isTTY === true && io.stderr.write('\n') });
}

type Job = { tokenId: number; prompt: string };

/** The V8 profiler of this process's main thread, through the inspector: started now, stopped by stop(). */
async function startProfiler(): Promise<{ stop: () => Promise<object> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

/** The mints: token ids 1..N in mints of 50, authors taking turns. */
function mintsFor(tokens: number, authors: readonly Address[]): DecodedMint[] {
  const mints: DecodedMint[] = [];
  for (let start = 1, k = 0; start <= tokens; start += MINT_SIZE, k += 1) {
    mints.push({
      txHash: `0x${(k + 1).toString(16).padStart(64, '0')}`,
      logIndex: 0,
      blockNumber: k + 1,
      blockTimestamp: new Date(1_760_000_000_000 + k * 2_000),
      minter: getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8'),
      author: authors[k % authors.length] as Address,
      startTokenId: start,
      quantity: Math.min(MINT_SIZE, tokens - start + 1),
      totalPaid: 10n ** 15n * BigInt(MINT_SIZE),
    });
  }
  return mints;
}

/** The raw render: the local image provider alone over the same prompts and ids. Images per second. */
async function rawRender(config: Config, jobs: readonly Job[], progress: Progress, label: string) {
  const provider = createImageProvider(config);
  const signal = new AbortController().signal;
  let done = 0;
  const started = performance.now();
  await mapAll(jobs, config.pipeline.concurrency.image, async (job) => {
    await provider.generate({ prompt: job.prompt, tokenId: job.tokenId, signal });
    done += 1;
    const seconds = (performance.now() - started) / 1000;
    progress(`bench:pipeline: ${label} ${done}/${jobs.length}, ${(done / seconds).toFixed(1)} images/s`);
  });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, rate: jobs.length / seconds };
}

async function statusCounts(database: Database): Promise<Map<string, number>> {
  const rows = await database.db.execute<{ status: string; n: number }>(
    sql`SELECT status, count(*)::int AS n FROM tokens_s0 GROUP BY status`,
  );
  return new Map(rows.map((row) => [row.status, row.n]));
}

async function runPipeline(
  config: Config,
  database: Database,
  url: string,
  options: Options,
  mints: readonly DecodedMint[],
  progress: Progress,
): Promise<{ counts: Map<string, number> }> {
  const last = options.stages.at(-1) as StageDefinition;
  const logger = createLogger({ level: 'warn', format: 'json', stream: new PassThrough().resume() });
  const pipeline = await startPipeline(
    { config, logger, database },
    { stages: options.stages.map((stage) => stage.name), listenUrl: url },
  );
  try {
    const started = performance.now();
    await database.db.transaction((tx) => ingestMints(tx, mints));
    for (;;) {
      const counts = await statusCounts(database);
      const out = (counts.get(last.next) ?? 0) + (counts.get('failed') ?? 0);
      const seconds = (performance.now() - started) / 1000;
      const shown = [...counts].map(([status, n]) => `${status} ${n}`).join(', ');
      progress(
        `bench:pipeline: pipeline ${seconds.toFixed(0)} s: ${shown}; ${(out / seconds).toFixed(1)} tokens/s`,
      );
      if (out >= options.tokens) return { counts };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await pipeline.stop(10_000);
  }
}

/** Re-renders a few tokens and compares with the image_cid the pipeline stored: the raw render drew the same images. */
async function sameImages(config: Config, database: Database, jobs: readonly Job[]): Promise<number> {
  const provider = createImageProvider(config);
  const sample = jobs
    .filter((_, i) => i % Math.max(1, Math.floor(jobs.length / SAMPLE)) === 0)
    .slice(0, SAMPLE);
  let equal = 0;
  for (const job of sample) {
    const { bytes } = await provider.generate({ ...job, signal: new AbortController().signal });
    const [row] = await database.db.execute<{ image_cid: string | null }>(
      sql`SELECT image_cid FROM tokens_s0 WHERE token_id = ${job.tokenId}`,
    );
    if (row?.image_cid === (await computeCid(bytes, 'raw-leaves'))) equal += 1;
  }
  return equal;
}

function stageLine(timing: StageTiming): string {
  const inStage = [...timing.inStageMs].sort((a, b) => a - b);
  const work = [...timing.workMs].sort((a, b) => a - b);
  return (
    `bench:pipeline: stage ${timing.stage.padEnd(6)} ${timing.tokens} tokens, ${timing.rate.toFixed(1)} tokens/s; ` +
    `in stage p50 ${ms(percentile(inStage, 50))}, p99 ${ms(percentile(inStage, 99))}; ` +
    `work p50 ${ms(percentile(work, 50))}, p99 ${ms(percentile(work, 99))}`
  );
}

/** The reveal's transactions; issue 15 sets no throughput bar for the stage (its bars are the demo's): figures only. */
async function printReveal(io: CliIo, database: Database, config: Config): Promise<void> {
  const rows = await database.db.execute<{
    status: string;
    n: number;
    tokens: number;
    gas: number | null;
  }>(sql`
    SELECT status, count(*)::int AS n, sum(cardinality(token_ids))::int AS tokens,
      (sum(gas_used) / nullif(sum(cardinality(token_ids)), 0))::float8 AS gas
    FROM reveal_transactions GROUP BY status ORDER BY status`);
  const shown = rows
    .map(
      (r) =>
        `${r.n} ${r.status} (${r.tokens} tokens${r.gas === null ? '' : `, ${Math.round(r.gas)} gas per token`})`,
    )
    .join(', ');
  printLine(
    io.stdout,
    `bench:pipeline: reveal transactions: ${shown || 'none'}; BATCH_REVEAL_MAX_TOKENS ${config.reveal.batchMaxTokens}, ` +
      `BATCH_REVEAL_WAIT_SECONDS ${config.reveal.batchWaitMs / 1000}; no throughput bar for the reveal (issue 15): figures only`,
  );
}

/** Statements per token over the pipeline run, and the most frequent ones: the database round trips. */
function printStatements(io: CliIo, statements: readonly StatementCount[], tokens: number): void {
  const calls = statements.reduce((sum, s) => sum + s.calls, 0);
  const serverMs = statements.reduce((sum, s) => sum + s.totalMs, 0);
  printLine(
    io.stdout,
    `bench:pipeline: statements ${(calls / tokens).toFixed(1)} per token (${calls} in all, BEGIN/COMMIT included; ` +
      `${(serverMs / tokens).toFixed(2)} ms server execution time per token); most frequent:`,
  );
  for (const s of statements.slice(0, STATEMENTS_SHOWN)) {
    const text = s.query.length > 110 ? `${s.query.slice(0, 107)}...` : s.query;
    printLine(
      io.stdout,
      `bench:pipeline:   ${(s.calls / tokens).toFixed(2).padStart(6)}/token ${(s.totalMs / s.calls).toFixed(3).padStart(7)} ms  ${text}`,
    );
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'bench:pipeline', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const { options } = read;

  const dataDir = await createTemporaryDirectory('glisk-bench-pipeline-');
  const pg = await startEmbeddedPostgres({ dataDir, persistent: false, settings: STATEMENT_COUNT_SETTINGS });
  const database = createDatabase(pg.url, { max: 20, applicationName: 'glisk-bench' });
  const progress = progressLine(io);
  const stops: (() => Promise<void>)[] = [];
  try {
    await migrateDatabase(pg.url);
    await installStatusLog(database);
    const env: Record<string, string | undefined> = { ...io.env };
    for (const stage of options.stages) Object.assign(env, BENCH_SETUPS[stage.name]?.env);

    const authors = Array.from({ length: AUTHORS }, (_, i) =>
      getAddress(`0x${(0xb000 + i).toString(16).padStart(40, '0')}`),
    );
    const prompts = authors.map(
      (_, i) => `bench prompt ${i + 1}: a study in colour and shape number ${i * 7}`,
    );
    for (const [i, wallet] of authors.entries()) {
      await database.db.execute(
        sql`INSERT INTO authors (wallet_address, prompt_text) VALUES (${wallet}, ${prompts[i]})`,
      );
    }
    const mints = mintsFor(options.tokens, authors);
    for (const stage of options.stages) {
      const started = await BENCH_SETUPS[stage.name]?.start?.(mints);
      if (started === undefined) continue;
      stops.push(started.stop);
      Object.assign(env, started.env);
    }
    const config = loadConfig({
      ...env,
      APP_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: pg.url,
      WORKERS: options.stages.map((stage) => stage.name).join(','),
    });
    const jobs: Job[] = mints.flatMap((mint, k) =>
      Array.from({ length: mint.quantity }, (_, i) => ({
        tokenId: mint.startTokenId + i,
        prompt: resolvePrompt(prompts[k % AUTHORS], config.image.defaultPrompt),
      })),
    );
    const renders = options.stages.some((stage) => stage.name === 'image');

    // Warm sharp and the JIT before anything is timed.
    if (renders) await rawRender(config, jobs.slice(0, 8), () => undefined, 'warm-up');
    const gcCounter = startGcCounter();
    const cpu0 = cpuSeconds(pg.pid);
    const gc0 = gcCounter.totals();
    const before = renders ? await rawRender(config, jobs, progress, 'raw render (before)') : undefined;
    progress.done();
    await resetStatementCounts(database);
    const cpu1 = cpuSeconds(pg.pid);
    const gc1 = gcCounter.totals();
    const profiler = options.profile === undefined ? undefined : await startProfiler();
    const { counts } = await runPipeline(config, database, pg.url, options, mints, progress);
    if (profiler !== undefined && options.profile !== undefined) {
      await writeFile(options.profile, JSON.stringify(await profiler.stop()));
    }
    progress.done();
    const cpu2 = cpuSeconds(pg.pid);
    const gc2 = gcCounter.totals();
    const statements = await statementCounts(database);
    const after = renders ? await rawRender(config, jobs, progress, 'raw render (after)') : undefined;
    progress.done();
    const cpu3 = cpuSeconds(pg.pid);
    const gc3 = gcCounter.totals();
    gcCounter.stop();

    const timings = await stageTimings(database, options.stages);
    const last = options.stages.at(-1) as StageDefinition;
    const carried = counts.get(last.next) ?? 0;
    const failed = counts.get('failed') ?? 0;
    const total = timings.pipelineSeconds;
    const rate = carried / total;
    printLine(
      io.stdout,
      `bench:pipeline: ${options.tokens} tokens, stages ${options.stages.map((s) => s.name).join(' -> ')}, ` +
        `IMAGE_CONCURRENCY ${config.pipeline.concurrency.image}, IPFS_CONCURRENCY ${config.pipeline.concurrency.ipfs}, ` +
        `WORKER_BATCH_SIZE ${config.pipeline.batchSize}`,
    );
    for (const timing of timings.stages) printLine(io.stdout, stageLine(timing));
    if (options.stages.some((stage) => stage.name === 'reveal')) await printReveal(io, database, config);
    printStatements(io, statements, options.tokens);
    printLine(
      io.stdout,
      `bench:pipeline: pipeline ${carried} tokens ${last.next}, ${failed} failed in ${total.toFixed(1)} s: ${rate.toFixed(1)} tokens/s (first detection to last token ${last.next})`,
    );
    if (before && after) {
      const raw = (before.rate + after.rate) / 2;
      const ratio = rate / raw;
      printLine(
        io.stdout,
        `bench:pipeline: raw render ${before.rate.toFixed(1)} images/s before, ${after.rate.toFixed(1)} after (mean ${raw.toFixed(1)}; ${(1000 / raw).toFixed(1)} ms per image of wall time at concurrency ${config.pipeline.concurrency.image})`,
      );
      const perToken = (seconds: number) => `${((seconds * 1000) / options.tokens).toFixed(1)} ms`;
      const pgPipeline =
        cpu2.postgres === undefined || cpu1.postgres === undefined
          ? undefined
          : cpu2.postgres - cpu1.postgres;
      printLine(
        io.stdout,
        `bench:pipeline: CPU per token: pipeline ${perToken(cpu2.node - cpu1.node)} in this process` +
          (pgPipeline === undefined ? '' : ` + ${perToken(pgPipeline)} in PostgreSQL`) +
          `; raw render ${perToken((cpu1.node - cpu0.node + cpu3.node - cpu2.node) / 2)}`,
      );
      const gcLine = (from: GcTotals, to: GcTotals, runs = 1) =>
        `${((to.full - from.full) / runs).toFixed(0)} full + ${((to.minor - from.minor) / runs).toFixed(0)} minor, ` +
        `${(((to.pauseMs - from.pauseMs) / runs / options.tokens) * 1000).toFixed(0)} ms of pauses per 1000 tokens`;
      const rawGc = {
        full: gc1.full - gc0.full + gc3.full,
        minor: gc1.minor - gc0.minor + gc3.minor,
        pauseMs: gc1.pauseMs - gc0.pauseMs + gc3.pauseMs,
      };
      printLine(
        io.stdout,
        `bench:pipeline: garbage collections: pipeline ${gcLine(gc1, gc2)}; raw render ${gcLine(gc2, rawGc, 2)} (mean of its two runs)`,
      );
      const same = await sameImages(config, database, jobs);
      printLine(
        io.stdout,
        `bench:pipeline: same images: ${same}/${Math.min(SAMPLE, jobs.length)} sampled image CIDs equal the raw render's`,
      );
      printLine(
        io.stdout,
        options.stages.some((stage) => stage.name === 'reveal')
          ? `bench:pipeline: pipeline / raw render = ${ratio.toFixed(2)} (the ${GOAL} goal is for image and image,ipfs; with the reveal, whose batches wait to fill, figures only)`
          : `bench:pipeline: pipeline / raw render = ${ratio.toFixed(2)}; goal >= ${GOAL}: ${ratio >= GOAL ? 'met' : 'NOT met'}`,
      );
    }
    return carried === options.tokens && failed === 0 ? 0 : 1;
  } catch (error) {
    progress.done();
    printLine(io.stderr, `bench:pipeline failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await database.close();
    await pg.stop();
  }
}

await runCli(import.meta.url, main);

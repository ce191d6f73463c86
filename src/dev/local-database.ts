// The database of `npm start`, `npm run db:migrate`, `db:studio` and `recover`: DATABASE_URL when set,
// otherwise an embedded PostgreSQL 17 whose cluster lives in <repo>/.data/postgres and is kept across runs.
//
// Several commands may run against .data at once (`npm start` serving while `npm run db:migrate` or
// `db:studio` runs). They share one server; none may start a second postmaster on the cluster or stop the
// server under another. The protocol, with files next to the cluster:
//
//   .data/postgres/            the cluster; its postmaster.pid names the running server, its port and status
//   .data/postgres.lock        a mutex held for the few hundred ms of a join/start or leave/stop decision:
//                              created with O_EXCL, holds the holder's pid + process start time, broken only
//                              when that process is gone
//   .data/postgres.users/<pid> one file per live Node process using the server (pid + process start time,
//                              so a recycled pid does not count as a user)
//
// open:  under the lock, delete user files of dead processes. A healthy server (live postmaster, status
//        `ready`) with another live user is joined: register, return its URL. Any other running server is an
//        orphan of a killed process (SIGKILL, OOM): it is stopped by its pid BEFORE the port is chosen (so
//        the fresh server gets the same port back), then a fresh one starts (the server runs detached and
//        logs to .data/postgres/server.log, so it outlives its starter).
// stop:  under the lock, unregister; the last user stops the server. The starter is not special: when it
//        leaves first, the server keeps running for the others.
// crash: a process that exits without stop() leaves from an `exit` hook; a SIGKILLed one cannot, and the
//        next open or stop prunes its user file (and restarts the server if it was the last user).
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  embeddedPostgresUrl,
  startEmbeddedPostgres,
  type EmbeddedPostgresLogLevel,
} from './embedded-postgres.js';
import { registerExitCleanup } from './exit-cleanup.js';
import { isPortFree } from './ports.js';
import {
  isPostmasterAlive,
  readPostmasterPidSync,
  stopLeftoverServer,
  stopPostmaster,
} from './postmaster.js';
import { sleep } from '../lib/sleep.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LOCAL_DATA_DIR = path.join(REPO_ROOT, '.data', 'postgres');
export const LOCAL_DEFAULT_PORT = 54329;

export type LocalDatabaseOptions = {
  /** config.database.url (DATABASE_URL). undefined or '': use the embedded server. */
  databaseUrl: string | undefined;
  /** Cluster directory of the embedded server. Default `<repo>/.data/postgres`. */
  dataDir?: string;
  /** Port for a newly started embedded server; taken = error. Default: preferredPort, or a free port when taken. */
  port?: number;
  /** Port tried first when `port` is not given (a free one is chosen when it is taken). Default 54329. */
  preferredPort?: number;
  onLog?: (message: string, level: EmbeddedPostgresLogLevel) => void;
};

export type LocalDatabase = {
  url: string;
  /** false: DATABASE_URL. true: the embedded server in dataDir. */
  embedded: boolean;
  dataDir?: string;
  /** true when another live process had already started the embedded server and this one joined it. */
  joined: boolean;
  /** Leaves the database; the last process using the embedded server stops it. Idempotent. */
  stop: () => Promise<void>;
};

// The URL comes from the caller's config (src/config.ts is the only reader of process.env).
export async function openLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  const url = options.databaseUrl;
  if (url) return { url, embedded: false, joined: false, stop: async () => {} };

  const log = options.onLog ?? (() => {});
  const dataDir = path.resolve(options.dataDir ?? LOCAL_DATA_DIR);
  const files = sharingFiles(dataDir);
  mkdirSync(path.dirname(dataDir), { recursive: true });
  mkdirSync(files.users, { recursive: true });
  const self = processIdentity(process.pid);
  if (!self) throw new Error('cannot read this process identity');

  const { port, joined } = await withLock(files.lock, async () => {
    const others = liveUsers(files.users, self);
    const running = readPostmasterPidSync(dataDir);
    if (running && others.length > 0 && isPostmasterAlive(running.pid, dataDir)) {
      const ready = running.status === 'ready' ? running : await waitUntilReady(dataDir, running.pid);
      register(files.users, self);
      log(`joined the embedded PostgreSQL on port ${ready.port}, in use by pid ${others.join(', ')}`, 'info');
      return { port: ready.port, joined: true };
    }
    // A server left by a killed process holds the port it had; stop it before looking at the port, or the
    // restarted server would move to another port (and the printed psql line would change after each crash).
    await stopLeftoverServer(dataDir, log);
    const preferred = options.port ?? options.preferredPort ?? LOCAL_DEFAULT_PORT;
    const usePreferred = options.port !== undefined || (await isPortFree(preferred));
    const server = await startEmbeddedPostgres({
      dataDir,
      persistent: true,
      port: usePreferred ? preferred : undefined,
      // Stopping is decided by the user count below, not by whichever process started the server.
      stopOnExit: false,
      onLog: log,
    });
    if (!usePreferred) {
      log(
        `port ${preferred} on 127.0.0.1 is taken; the embedded PostgreSQL listens on ${server.port} instead`,
        'info',
      );
    }
    register(files.users, self);
    return { port: server.port, joined: false };
  });

  let stopping: Promise<void> | undefined;
  const unregisterExit = registerExitCleanup({
    sync: () => leaveSync(dataDir, self),
    async: () => stop(),
  });
  const stop = () => {
    stopping ??= (async () => {
      unregisterExit();
      await withLock(files.lock, async () => {
        unregister(files.users, self);
        if (liveUsers(files.users, self).length > 0) return;
        const running = readPostmasterPidSync(dataDir);
        if (running) {
          await stopPostmaster(running.pid, dataDir);
          log(`embedded PostgreSQL on port ${running.port} stopped`, 'info');
        }
      });
    })();
    return stopping;
  };
  return { url: embeddedPostgresUrl(port), embedded: true, dataDir, joined, stop };
}

function sharingFiles(dataDir: string): { lock: string; users: string } {
  return { lock: `${dataDir}.lock`, users: `${dataDir}.users` };
}

async function waitUntilReady(dataDir: string, pid: number): Promise<{ port: number }> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const info = readPostmasterPidSync(dataDir);
    if (info?.pid === pid && info.status === 'ready') return info;
    if (!isPostmasterAlive(pid, dataDir)) break;
    await sleep(20);
  }
  throw new Error(
    `the embedded PostgreSQL in ${dataDir} (pid ${pid}) is running but not ready; see ${dataDir}/server.log`,
  );
}

/** For the `exit` event: nothing asynchronous runs, so leave and stop with synchronous calls only. */
function leaveSync(dataDir: string, self: ProcessIdentity): void {
  const files = sharingFiles(dataDir);
  const release = acquireLockSync(files.lock, 2_000);
  // Without the lock another process may be joining right now: leave the server running; the next open
  // finds it without users and restarts it.
  if (!release) return;
  try {
    unregister(files.users, self);
    if (liveUsers(files.users, self).length > 0) return;
    const running = readPostmasterPidSync(dataDir);
    // Fast shutdown finishes on its own after we are gone.
    if (running && isPostmasterAlive(running.pid, dataDir)) process.kill(running.pid, 'SIGINT');
  } finally {
    release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Process identity: a pid alone can be recycled (a container restart gives the new process the same pid).

type ProcessIdentity = { pid: number; start: string };

function processIdentity(pid: number): ProcessIdentity | undefined {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  if (!existsSync('/proc/self')) return { pid, start: '' };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return { pid, start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

function isLive(identity: ProcessIdentity): boolean {
  const current = processIdentity(identity.pid);
  return current !== undefined && current.start === identity.start;
}

function parseIdentity(text: string): ProcessIdentity | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === 'object' &&
      value !== null &&
      'pid' in value &&
      typeof value.pid === 'number' &&
      'start' in value &&
      typeof value.start === 'string'
    ) {
      return { pid: value.pid, start: value.start };
    }
  } catch {
    // A file cut short by a crash counts as no identity.
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Users of the shared server.

function register(usersDir: string, self: ProcessIdentity): void {
  writeFileSync(path.join(usersDir, `${self.pid}.json`), JSON.stringify(self));
}

function unregister(usersDir: string, self: ProcessIdentity): void {
  try {
    unlinkSync(path.join(usersDir, `${self.pid}.json`));
  } catch {
    // Already gone (pruned by another process's check after a pid reuse): nothing to do.
  }
}

/** Pids of the other live processes using the server; deletes the files of dead ones. */
function liveUsers(usersDir: string, self: ProcessIdentity): number[] {
  const live: number[] = [];
  for (const name of readdirSync(usersDir)) {
    const file = path.join(usersDir, name);
    const identity = parseIdentity(readFileSync(file, 'utf8'));
    if (identity && identity.pid === self.pid) continue;
    if (identity && isLive(identity)) {
      live.push(identity.pid);
    } else {
      unlinkSync(file);
    }
  }
  return live;
}

// ---------------------------------------------------------------------------------------------------------
// The mutex file.

async function withLock<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  let release = tryLock(lockPath);
  while (!release) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after 60 s waiting for ${lockPath} (held by ${readFileSafe(lockPath) ?? 'nobody'})`,
      );
    }
    await sleep(20);
    release = tryLock(lockPath);
  }
  try {
    return await work();
  } finally {
    release();
  }
}

function acquireLockSync(lockPath: string, timeoutMs: number): (() => void) | undefined {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let release = tryLock(lockPath);
  while (!release && Date.now() < deadline) {
    Atomics.wait(pause, 0, 0, 10);
    release = tryLock(lockPath);
  }
  return release;
}

/** One attempt: take the lock (breaking it first if its holder is dead); the release function, or undefined. */
function tryLock(lockPath: string): (() => void) | undefined {
  const self = processIdentity(process.pid);
  const content = JSON.stringify({ ...self, nonce: Math.random().toString(36).slice(2) });
  try {
    writeFileSync(lockPath, content, { flag: 'wx' });
    return () => {
      if (readFileSafe(lockPath) === content) unlinkSync(lockPath);
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  breakStaleLock(lockPath);
  return undefined;
}

function breakStaleLock(lockPath: string): void {
  const seen = readFileSafe(lockPath);
  if (seen === undefined) return;
  const holder = parseIdentity(seen);
  // A holder that crashed between creating and writing the file leaves it empty; give it a moment first.
  const stale = holder ? !isLive(holder) : Date.now() - mtimeMs(lockPath) > 5_000;
  if (!stale) return;
  // Move it aside atomically, then make sure we moved the stale lock and not one taken meanwhile.
  const aside = `${lockPath}.stale-${process.pid}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  if (readFileSafe(aside) !== seen) {
    // A live lock: put it back (fails, harmlessly, only if a third process took the lock in between).
    try {
      linkSync(aside, lockPath);
    } catch {
      // See above.
    }
  }
  unlinkSync(aside);
}

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}

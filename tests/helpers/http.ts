// The service's app on an ephemeral loopback port against the test file's own database, as main builds it
// (same createApp, same config loader), with its log lines captured for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { createApp, type CreateAppOptions } from '../../src/http/app.js';
import { listen, type RunningServer } from '../../src/http/server.js';
import { isPortFree } from '../../src/dev/ports.js';
import { compiledEntry } from './compiled.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { captureLogs, type LogCapture } from './logs.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export type TestApp = {
  url: string;
  config: Config;
  /** The database the app uses (its pool sized by DB_POOL_SIZE). */
  database: Database;
  /** The test file's database (its own pool, for checking what the app wrote). */
  testDb: TestDatabase;
  logs: LogCapture;
  server: RunningServer;
  /** Closes the server and the app's pool, then drops the database. Safe to call twice. */
  close: () => Promise<void>;
};

export type TestAppOptions = CreateAppOptions & {
  /** Environment variables on top of APP_ENV=test (strings, as in a real environment). */
  env?: Record<string, string>;
  /** Use this database instead of creating one; the caller drops it. */
  testDb?: TestDatabase;
  /** The app's database URL when it must differ from the test database's (a proxy, a closed port). */
  databaseUrl?: string;
};

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const ownDb = options.testDb === undefined;
  const testDb = options.testDb ?? (await createTestDatabase());
  const config = loadConfig({ APP_ENV: 'test', HOST: '127.0.0.1', PORT: '0', ...options.env });
  const logs = captureLogs(config.secrets);
  const database = createDatabase(options.databaseUrl ?? testDb.url, {
    max: config.database.poolSize,
    connectTimeoutSeconds: 2,
  });
  const app = createApp(
    { config, logger: logs.logger, database },
    options.extraRoutes ? { extraRoutes: options.extraRoutes } : {},
  );
  const server = await listen(app, config.http.host, 0);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await server.close(2_000);
      await database.close(2);
      if (ownDb) await testDb.drop();
    })();
    return closing;
  };
  return { url: server.url, config, database, testDb, logs, server, close };
}

/** A loopback TCP server that accepts connections and never answers: a database that hangs. */
export async function startSilentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A port on loopback that nothing listens on, and that no server started meanwhile will be given: below the
 * kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), where listen(0) takes its ports. A port taken
 * and released there (findFreePort) can be handed at once to a server of another test file running in parallel,
 * which then answers where a refused connection was expected (seen once: a fake Replicate's released port).
 * Above 10080, the last of fetch's blocked "bad ports".
 */
export async function closedPort(): Promise<number> {
  const low = ephemeralPortsFrom();
  for (let tries = 0; tries < 100; tries += 1) {
    const port = 11_000 + Math.floor(Math.random() * (low - 11_000));
    if (await isPortFree(port)) return port;
  }
  throw new Error('no closed port found below the ephemeral range');
}

function ephemeralPortsFrom(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * A TCP proxy on loopback in front of PostgreSQL whose traffic can be held: pause() stops forwarding bytes
 * (queries hang as on a stalled network), resume() lets them through.
 */
export type TcpProxy = {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor: (url: string) => string;
  pause: () => void;
  resume: () => void;
  /** Chunks held back since pause(): > 0 means a client is waiting on the database. */
  held: () => number;
  /** The database goes away: open connections are cut and new ones refused (ECONNREFUSED) until accept(). */
  refuse: () => Promise<void>;
  /** The database is back: the proxy listens again on the same port. */
  accept: () => Promise<void>;
  close: () => Promise<void>;
};

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  let paused = false;
  const waiting = new Set<() => void>();
  const sockets = new Set<Socket>();

  const pipeHeld = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (!paused) {
        send();
        return;
      }
      from.pause();
      waiting.add(() => {
        send();
        from.resume();
      });
    });
  };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    pipeHeld(client, upstream);
    pipeHeld(upstream, client);
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    urlFor: (url) => {
      const rewritten = new URL(url);
      rewritten.hostname = '127.0.0.1';
      rewritten.port = String(port);
      return rewritten.toString();
    },
    pause: () => {
      paused = true;
    },
    held: () => waiting.size,
    resume: () => {
      paused = false;
      for (const release of [...waiting]) {
        waiting.delete(release);
        release();
      }
    },
    refuse: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
    accept: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address !== null && typeof address === 'object') resolve(address.port);
      else reject(new Error('no port'));
    });
  });
}

export type ServiceProcess = {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or 128 + signal number) when the process ends. */
  exited: Promise<number>;
  /** Resolves with the first log line (JSON) for which `match` is true; rejects after timeoutMs or on exit. */
  waitForLog: (
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ) => Promise<Record<string, unknown>>;
  /** SIGKILL if still running, and removes the working directory. */
  kill: () => Promise<void>;
};

/**
 * The service (src/main.ts compiled, dist/main.js: see compiled.ts), in an empty working directory (no .env of the developer applies), with
 * exactly `env` plus PATH/HOME. LOG_FORMAT=json so that the test can read its lines.
 */
export function spawnService(env: Record<string, string>): ServiceProcess {
  const cwd = mkdtempSync(path.join(tmpdir(), 'glisk-service-'));
  const child = spawn(process.execPath, compiledEntry('main.ts'), {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const listener of [...listeners]) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      // The directory matters only while the service runs; removed here, it does not depend on the caller
      // reaching kill() (a test that times out or forgets its finally).
      rmSync(cwd, { recursive: true, force: true });
      for (const listener of [...listeners]) listener();
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2));
    });
  });
  const parsedLines = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  const waitForLog: ServiceProcess['waitForLog'] = (match, timeoutMs = 20_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = parsedLines().find(match);
        if (found) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(`the service exited before the expected log line\nstdout:\n${out}\nstderr:\n${err}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(cwd, { recursive: true, force: true });
  };
  return { child, stdout: () => out, stderr: () => err, exited, waitForLog, kill };
}

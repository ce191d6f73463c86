// `npm run worker` processes for the tests of the process boundary (several workers sharing one database, a
// worker SIGKILLed mid-stage). Spawned through tsx's loader with no npm in between, so a signal reaches the worker
// itself; a minimal environment plus the test's; output kept for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './http.js';

export type WorkerProcess = ChildProcess & { output: () => string };

export type WorkerProcesses = {
  /** A worker running `stages` (comma-separated) against `databaseUrl`, with `env` over the test defaults. */
  spawn: (options: { stages: string; databaseUrl: string; env?: Record<string, string> }) => WorkerProcess;
  /** SIGKILLs every worker spawned here that is still running (afterEach). */
  killAll: () => void;
};

export function workerProcesses(): WorkerProcesses {
  const children: ChildProcess[] = [];
  return {
    spawn: ({ stages, databaseUrl, env = {} }) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
          path.join(REPO_ROOT, 'src/cli/worker.ts'),
          '--stages',
          stages,
        ],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            APP_ENV: 'test',
            LOG_FORMAT: 'json',
            LOG_LEVEL: 'info',
            DATABASE_URL: databaseUrl,
            MIGRATE_ON_START: 'false',
            WORKER_BATCH_SIZE: '10',
            POLL_INTERVAL_SECONDS: '1',
            ...env,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      children.push(child);
      return Object.assign(child, { output: () => out });
    },
    killAll: () => {
      for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** The exit code of `child` once it has exited (null when a signal ended it). */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

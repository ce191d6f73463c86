// `npm run worker` processes for the tests of the process boundary (several workers sharing one database, a
// worker SIGKILLed mid-stage). The worker command compiled (src/cli/worker.ts in dist/, see compiled.ts), with no
// npm in between, so a signal reaches the worker itself; a minimal environment plus the test's; output kept for
// failure messages.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Database } from '../../src/db/client.js';
import type { Stage, StageSettings } from '../../src/stages/stage.js';
import { startStageRunner, type StageRunner } from '../../src/workers/stage-runner.js';
import { compiledEntry } from './compiled.js';
import { REPO_ROOT } from './http.js';
import { captureLogs } from './logs.js';

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
      const child = spawn(process.execPath, [...compiledEntry('cli/worker.ts'), '--stages', stages], {
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
      });
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

/** SIGTERMs every worker of `running` and asserts that each exits 0 (their output in the message when not). */
export async function assertStopsCleanly(running: readonly WorkerProcess[]): Promise<void> {
  for (const worker of running) worker.kill('SIGTERM');
  const codes = await Promise.all(running.map(exited));
  assert.deepEqual(
    codes,
    running.map(() => 0),
    running
      .map((w) => w.output())
      .join('\n')
      .slice(-4000),
  );
}

/**
 * Settings of the survivor: the runner started in the test process after a worker was SIGKILLed, which takes the
 * dead worker's tokens over once their lease has expired. Short polls and retries, so that it claims them as soon
 * as they are claimable; a long lease of its own, so that nothing it holds expires while the test waits.
 */
export const survivorSettings: StageSettings = {
  batchSize: 10,
  concurrency: 8,
  maxAttempts: 5,
  leaseSeconds: 30,
  pollIntervalMs: 200,
  retryBaseMs: 50,
  retryMaxMs: 100,
};

/** `stage` (built with survivorSettings) run in this process against `database`; stop it with `stop(2_000)`. */
export function startSurvivor(stage: Stage, database: Database): StageRunner {
  return startStageRunner(stage, { database, logger: captureLogs().logger });
}

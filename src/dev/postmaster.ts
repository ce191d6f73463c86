// A running postmaster seen from outside: its postmaster.pid, whether it is alive, stopping it (also one left
// behind by a killed process).
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { EmbeddedPostgresLogLevel } from './postgres-log.js';
import { sleep } from '../lib/sleep.js';

export type PostmasterInfo = {
  pid: number;
  dataDir: string;
  port: number;
  /** `ready` once the server accepts connections; `starting`, `stopping` otherwise. */
  status: string;
};

const STOP_TIMEOUT_MS = 15_000;

/** Stops a postmaster that a killed process left running on dataDir, and removes a stale postmaster.pid. */
export async function stopLeftoverServer(
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

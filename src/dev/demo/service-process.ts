// The service of `npm run demo`, as a child process: exactly what `npm start` runs (scripts/start.mjs: the
// service bundled into one file, built first when src/ changed; ~2.4 s of CPU less per start than under tsx),
// with its JSON log written to a file. Resolves once the service logs `http.listening` (its URL is in that line).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { childProcessEnv } from '../../config.js';
import { DemoFailure } from '../../errors.js';
import { REPO_ROOT } from '../local-database.js';

export type ServiceProcess = {
  url: string;
  child: ChildProcess;
  /** Stops the service (SIGTERM, SIGKILL after 15 s) and closes its log; safe to call more than once. */
  stop: () => Promise<void>;
};

const KILL_AFTER_MS = 15_000;

/** Starts the service with `env` over this process's environment; rejects when it exits before listening. */
export async function startServiceProcess(
  env: Record<string, string>,
  logFile: string,
  onChild: (child: ChildProcess, stop: () => Promise<void>) => void,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/start.mjs')], {
    cwd: REPO_ROOT,
    env: childProcessEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
        await exited;
        clearTimeout(timer);
      }
      await closeLog(log);
    })();
    return stopping;
  };
  onChild(child, stop);

  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      buffered += chunk.toString('utf8');
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const found = listeningUrl(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        if (found !== undefined) resolve(found);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
    void exited.then((code) =>
      reject(new DemoFailure(`the service exited (code ${code}) before listening; see ${logFile}`)),
    );
  });
  return { url, child, stop };
}

/** The URL of an `http.listening` JSON log line, else undefined. */
export function listeningUrl(line: string): string | undefined {
  if (!line.includes('http.listening')) return undefined;
  try {
    const parsed = JSON.parse(line) as { url?: unknown };
    return typeof parsed.url === 'string' ? parsed.url : undefined;
  } catch {
    return undefined;
  }
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(() => resolve()));
}

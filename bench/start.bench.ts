// `npm run bench:start`: how long a warm start takes, from the command to the first healthy /health. Goal:
// `npm start` under 2 s (median of 5). Also times the service started through tsx (what `npm start` ran
// before it ran the compiled service, and what `npm run dev` still runs) for the ratio.
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';

const HELP = `Usage: npm run bench:start [-- --runs N]

Starts the service N times (default 5) in each of three ways, one after another in rounds, and prints the
time from spawning the command to the first 200 of /health, min / median / max:
  npm start             the command a person types (npm, then the bundled service)
  node scripts/start.mjs  the same without npm's own start-up
  tsx src/main.ts       the service through the TypeScript loader (npm start before; npm run dev)
Each start uses this checkout's configuration (.env, or the embedded PostgreSQL in .data/postgres) on a free
port (PORT=0) and is stopped with SIGTERM before the next. One unmeasured start first makes the runs warm
(cluster created, dist/start/main.mjs built). Stop a running npm start first, or the runs join its database.

Goal: npm start median < 2000 ms.`;

const ROOT = path.resolve(import.meta.dirname, '..');
const GOAL_MS = 2000;
const START_TIMEOUT_MS = 60_000;

type Way = { name: string; command: string; args: string[] };

const WAYS: Way[] = [
  { name: 'npm start', command: 'npm', args: ['start', '--silent'] },
  { name: 'node scripts/start.mjs', command: process.execPath, args: ['scripts/start.mjs'] },
  {
    name: 'tsx src/main.ts',
    command: process.execPath,
    args: [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'src/main.ts'],
  },
];

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const runsIndex = args.indexOf('--runs');
  const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    console.error('bench:start: --runs takes an integer from 1 to 50');
    return 1;
  }
  const unknown = args.filter((arg, i) => arg !== '--' && arg !== '--runs' && args[i - 1] !== '--runs');
  if (unknown.length > 0) {
    console.error(`bench:start: unknown argument ${unknown.join(' ')} (see --help)`);
    return 1;
  }

  const warmUp = WAYS[0] as Way;
  process.stdout.write(`bench:start: warm-up start (${warmUp.name}) ...\n`);
  await timeStart(warmUp);

  const times = new Map<string, number[]>(WAYS.map((way) => [way.name, []]));
  for (let run = 1; run <= runs; run += 1) {
    const line: string[] = [];
    for (const way of WAYS) {
      const ms = await timeStart(way);
      times.get(way.name)?.push(ms);
      line.push(`${way.name} ${ms.toFixed(0)} ms`);
    }
    process.stdout.write(`bench:start: run ${run}/${runs}: ${line.join(', ')}\n`);
  }

  const medians = new Map<string, number>();
  for (const way of WAYS) {
    const sorted = [...(times.get(way.name) ?? [])].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    medians.set(way.name, median);
    console.log(
      `bench:start: ${way.name.padEnd(24)} min=${(sorted[0] ?? NaN).toFixed(0)}ms median=${median.toFixed(0)}ms ` +
        `max=${(sorted.at(-1) ?? NaN).toFixed(0)}ms`,
    );
  }
  const npmStart = medians.get('npm start') ?? NaN;
  const compiled = medians.get('node scripts/start.mjs') ?? NaN;
  const tsx = medians.get('tsx src/main.ts') ?? NaN;
  const [load] = loadavg();
  console.log(
    `bench:start: machine: ${availableParallelism()} CPUs, load average ${(load ?? NaN).toFixed(1)} ` +
      '(wall times grow with the load: compare the ratio, or measure on a quiet machine)',
  );
  console.log(
    `bench:start: runs=${runs} npm-start-median=${npmStart.toFixed(0)}ms ` +
      `tsx/compiled=${(tsx / compiled).toFixed(2)}x (saves ${(tsx - compiled).toFixed(0)} ms) ` +
      `goal<${GOAL_MS}ms ${npmStart < GOAL_MS ? 'met' : 'MISSED'}`,
  );
  return 0;
}

/** Spawns the service, waits for the first healthy /health, stops it (SIGTERM) and waits for its exit. */
async function timeStart(way: Way): Promise<number> {
  const started = performance.now();
  const child = spawn(way.command, way.args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, signalled as a whole like Ctrl-C in a terminal: npm and tsx run the service as
    // a child of theirs.
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // 'close' comes once every process holding the output pipes (the service included) has exited.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    const deadline = started + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${way.name} exited before it was healthy:\n${output}`);
      if (performance.now() > deadline)
        throw new Error(`${way.name}: not healthy in ${START_TIMEOUT_MS} ms:\n${output}`);
      const url = /"message":"http\.listening"[^\n]*?"url":"([^"]+)"/.exec(output)?.[1];
      if (url !== undefined && (await healthy(url))) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    const code = await exited;
    if (code !== 0 && code !== null)
      process.stderr.write(`bench:start: ${way.name} exited ${code} on SIGTERM\n`);
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench:start: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

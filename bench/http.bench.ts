// `npm run bench:http`: GET /health of the real app (createApp, its middleware, a real `SELECT 1` on
// PostgreSQL) next to a bare Express hello-world, measured with autocannon on loopback in the same run; then
// /health at a fixed 1,000 requests/s. Each server runs in its own process so that the load generator does not
// share its event loop. Goals: /health p99 < 10 ms at 1,000 req/s, and >= 0.5 of bare Express's throughput.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import express from 'express';
import { childProcessEnv, loadConfig, useUtcTimezone } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createDatabase } from '../src/db/client.js';
import { openLocalDatabase, type LocalDatabase } from '../src/dev/local-database.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createApp } from '../src/http/app.js';
import { listen } from '../src/http/server.js';
import { createLoggerFromConfig } from '../src/logger.js';

const HELP = `Usage: npm run bench:http [-- --duration S] [-- --connections N] [-- --rate R]

Starts the service's app (real middleware, real database: DATABASE_URL or the embedded PostgreSQL of .data/)
and a bare Express hello-world, each in its own process on 127.0.0.1, and loads them with autocannon:
  1. throughput: GET /health on each for S seconds with N connections (after a 2 s warm-up each);
  2. fixed rate: GET /health at R requests/s for S seconds, bare Express (the machine's floor) then the app.
Prints requests/s, p50 and p99 latency, the app/bare throughput ratio and the goals.

Options: --duration S (default 10), --connections N (default 50), --rate R (default 1000).
Goals: /health p99 < 10 ms at 1,000 req/s; /health throughput >= 0.5 x bare Express.`;

const SELF = fileURLToPath(import.meta.url);
const P99_GOAL_MS = 10;
const RATIO_GOAL = 0.5;

type ServeMessage = { port: number } | { error: string };

// --- child processes ---------------------------------------------------------------------------------------

async function serve(kind: string, databaseUrl: string | undefined): Promise<void> {
  const send = (message: ServeMessage) => process.send?.(message);
  if (kind === 'bare') {
    const app = express();
    app.get('/health', (_req, res) => {
      res.json({ status: 'healthy' });
    });
    const server = await listen(app, '127.0.0.1', 0);
    send({ port: server.port });
    return;
  }
  if (databaseUrl === undefined) throw new Error('the app server needs a database URL');
  useUtcTimezone();
  const config = loadConfig();
  const logger = createLoggerFromConfig(config);
  const database = createDatabase(databaseUrl, { max: config.database.poolSize });
  const server = await listen(createApp({ config, logger, database }), '127.0.0.1', 0);
  send({ port: server.port });
}

function startServer(
  kind: 'app' | 'bare',
  databaseUrl: string,
): Promise<{ child: ChildProcess; url: string }> {
  // Same loader (tsx) as this process; the database URL goes over IPC, not argv (visible in ps).
  const child = fork(SELF, ['--serve', kind], {
    execArgv: process.execArgv,
    env: childProcessEnv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ databaseUrl });
  return new Promise((resolve, reject) => {
    child.once('message', (message: ServeMessage) => {
      if ('port' in message) resolve({ child, url: `http://127.0.0.1:${message.port}` });
      else reject(new Error(`${kind} server failed: ${message.error}`));
    });
    child.once('exit', (code) =>
      reject(new Error(`${kind} server exited (${code ?? 'signal'}) before listening`)),
    );
  });
}

// --- the run -----------------------------------------------------------------------------------------------

type Row = { name: string; rps: number; p50: number; p99: number; errors: number; total: number };

function row(name: string, result: Result): Row {
  return {
    name,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    total: result.requests.total,
  };
}

function printRows(rows: Row[]): void {
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors/non-2xx'];
  const lines = rows.map((r) => [
    r.name,
    r.rps.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    String(r.total),
    String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

async function load(url: string, options: { duration: number; connections: number; rate?: number }) {
  return autocannon({
    url: `${url}/health`,
    connections: options.connections,
    duration: options.duration,
    ...(options.rate === undefined ? {} : { overallRate: options.rate }),
  });
}

async function bench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      rate: { type: 'string', default: '1000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const rate = Number(values.rate);
  if (![duration, connections, rate].every((n) => Number.isInteger(n) && n > 0)) {
    console.error('bench:http: --duration, --connections and --rate take positive integers (see --help)');
    return 1;
  }

  let databaseUrl: string | undefined;
  try {
    databaseUrl = loadConfig().database.url;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  let local: LocalDatabase | undefined;
  const children: ChildProcess[] = [];
  try {
    local = await openLocalDatabase({ databaseUrl: databaseUrl ?? '' });
    await migrateDatabase(local.url);
    console.log(
      `bench:http: database ${local.embedded ? 'embedded (.data/postgres)' : 'DATABASE_URL'}; ` +
        `${duration} s per run, ${connections} connections, fixed rate ${rate}/s`,
    );
    const bare = await startServer('bare', local.url);
    const app = await startServer('app', local.url);
    children.push(bare.child, app.child);

    const rows: Row[] = [];
    for (const [name, target] of [
      ['bare Express /health', bare.url],
      ['app /health', app.url],
    ] as const) {
      console.log(`bench:http: ${name}: warm-up 2 s, then ${duration} s...`);
      await load(target, { duration: 2, connections });
      rows.push(row(name, await load(target, { duration, connections })));
    }
    // The same fixed rate on bare Express shows the latency floor of this machine (load generator included).
    console.log(`bench:http: bare Express and app /health at ${rate} req/s for ${duration} s each...`);
    rows.push(row(`bare Express @ ${rate}/s`, await load(bare.url, { duration, connections: 20, rate })));
    const fixed = row(`app /health @ ${rate}/s`, await load(app.url, { duration, connections: 20, rate }));
    rows.push(fixed);

    console.log('');
    printRows(rows);
    const [bareRow, appRow] = rows;
    const ratio = appRow && bareRow ? appRow.rps / bareRow.rps : 0;
    console.log('');
    console.log(
      `ratio app/bare throughput: ${ratio.toFixed(2)} (goal >= ${RATIO_GOAL}) ${ratio >= RATIO_GOAL ? 'OK' : 'MISSED'}`,
    );
    console.log(
      `app /health p99 at ${rate} req/s: ${fixed.p99.toFixed(2)} ms (goal < ${P99_GOAL_MS} ms) ` +
        `${fixed.p99 < P99_GOAL_MS ? 'OK' : 'MISSED'}`,
    );
    const failed = rows.some((r) => r.errors > 0);
    if (failed) console.log('some requests failed or answered non-2xx: see the errors column');
    return failed ? 1 : 0;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => child.once('exit', resolve))
          : Promise.resolve(),
      ),
    );
    await local?.stop();
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--serve') {
  // A server child: gets the database URL from its parent, then stays up until the parent kills it.
  process.once('message', (message: { databaseUrl?: string }) => {
    serve(argv[1] ?? '', message.databaseUrl).catch((error: unknown) => {
      process.send?.({ error: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    });
  });
} else {
  process.exitCode = await bench(argv);
}

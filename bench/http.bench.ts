// `npm run bench:http`: GET /health of the real app (createApp, its middleware, a real `SELECT 1` on
// PostgreSQL) next to a bare Express hello-world, measured with autocannon on loopback in the same run; then
// /health at a fixed 1,000 requests/s; then GET /metrics scraped back to back with 100,000 tokens in a scratch
// database, and GET /api/pipeline/stats (the operator's view, polled by dashboards) on the same database. Each
// server runs in its own process so that the load generator does not share its event loop.
// Goals: /health p99 < 10 ms at 1,000 req/s, >= 0.5 of bare Express's throughput, /metrics p99 < 5 ms.
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import express from 'express';
import { z } from 'zod';
import postgres from 'postgres';
import { childProcessEnv, loadConfig, useUtcTimezone, type Config } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createApp } from '../src/http/app.js';
import { defineRoute } from '../src/http/route.js';
import { listen } from '../src/http/server.js';
import { computeCid } from '../src/lib/cid.js';
import { createLoggerFromConfig } from '../src/logger.js';
import { readTokenSnapshot } from '../src/metrics/pipeline-gauges.js';
import { withDatabase } from '../src/startup.js';

const HELP = `Usage: npm run bench:http [-- --duration S] [-- --connections N] [-- --rate R] [-- --tokens T]
                      [-- --parts health,scrape]

Starts the service's app (real middleware, real database: DATABASE_URL or the embedded PostgreSQL of .data/)
and a bare Express hello-world, each in its own process on 127.0.0.1, and loads them with autocannon:
  1. throughput: GET /health on each for S seconds with N connections (after a 2 s warm-up each);
  2. fixed rate: GET /health at R requests/s for S seconds, bare Express (the machine's floor) then the app;
  3. scrape: the app on a scratch database (created on the same server, dropped after) holding T tokens
     spread over every status, GET /metrics one after another for S seconds (one connection, as Prometheus
     scrapes), with METRICS_REFRESH_SECONDS=1 so the token gauges' snapshot is re-read during the run;
     then GET /api/pipeline/stats the same way for S seconds (no goal: its p50/p99 are printed).
Prints requests/s, p50 and p99 latency, the app/bare throughput ratio and, for /metrics, the snapshot query's
time, client-side p50/p90/p99/max of the scrapes and the share the app itself timed under 5 ms; the goals.

Options: --duration S (default 10), --connections N (default 50), --rate R (default 1000),
         --tokens T (default 100000), --parts P (default health,scrape: 1+2 and 3 above; one of them alone
         runs that part only).
Goals: /health p99 < 10 ms at 1,000 req/s; /health throughput >= 0.5 x bare Express;
       /metrics p99 < 5 ms with 100,000 tokens.`;

const SELF = fileURLToPath(import.meta.url);
const P99_GOAL_MS = 10;
const RATIO_GOAL = 0.5;
const METRICS_P99_GOAL_MS = 5;
const STATS_PATH = '/api/pipeline/stats';
const BENCH_ADMIN_KEY = 'bench-http-admin-key-0123456789';

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
  const app = createApp({ config, logger, database }, { extraRoutes: [trivialRoute] });
  const server = await listen(app, '127.0.0.1', 0);
  send({ port: server.port });
}

/** The baseline of the /metrics scrape: the app's full middleware, no database, a 12-byte answer. */
const TRIVIAL_PATH = '/bench/trivial';
const trivialRoute = defineRoute({
  method: 'get',
  path: TRIVIAL_PATH,
  operationId: 'benchTrivial',
  summary: 'answers {"ok":true} without touching the database (bench:http only)',
  tags: ['bench'],
  responses: { 200: { description: 'always', schema: z.object({ ok: z.boolean() }) } },
}).handle(() => ({ status: 200, body: { ok: true } }));

function startServer(
  kind: 'app' | 'bare',
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string }> {
  // Same loader (tsx) as this process; the database URL goes over IPC, not argv (visible in ps). The app logs
  // warnings and errors only: a line per request (info) would bury the bench's own output.
  const child = fork(SELF, ['--serve', kind], {
    execArgv: process.execArgv,
    env: { ...childProcessEnv(), LOG_LEVEL: 'warn', ...env },
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

async function load(
  url: string,
  options: { duration: number; connections: number; rate?: number; path?: string },
) {
  return autocannon({
    url: `${url}${options.path ?? '/health'}`,
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
      tokens: { type: 'string', default: '100000' },
      parts: { type: 'string', default: 'health,scrape' },
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
  const tokens = Number(values.tokens);
  if (![duration, connections, rate, tokens].every((n) => Number.isInteger(n) && n > 0)) {
    console.error(
      'bench:http: --duration, --connections, --rate and --tokens take positive integers (see --help)',
    );
    return 1;
  }
  const parts = new Set(values.parts.split(','));
  if (parts.size === 0 || [...parts].some((p) => p !== 'health' && p !== 'scrape')) {
    console.error('bench:http: --parts takes health, scrape or health,scrape (see --help)');
    return 1;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  // The service's start-up sequence (DATABASE_URL or the embedded PostgreSQL of .data/, migrated); the bench
  // itself needs no pool of its own.
  return withDatabase(config, { migrate: true, pool: { max: 1 } }, ({ url, local }) =>
    run(url, local.embedded, { duration, connections, rate, tokens, parts }),
  );
}

async function run(
  databaseUrl: string,
  embedded: boolean,
  {
    duration,
    connections,
    rate,
    tokens,
    parts,
  }: { duration: number; connections: number; rate: number; tokens: number; parts: Set<string> },
): Promise<number> {
  let scratch: ScratchDatabase | undefined;
  const children: ChildProcess[] = [];
  try {
    console.log(
      `bench:http: database ${embedded ? 'embedded (.data/postgres)' : 'DATABASE_URL'}; ` +
        `${duration} s per run, ${connections} connections, fixed rate ${rate}/s`,
    );
    const rows: Row[] = [];
    if (parts.has('health'))
      rows.push(...(await healthPart(databaseUrl, children, duration, connections, rate)));
    if (!parts.has('scrape')) return rows.some((r) => r.errors > 0) ? 1 : 0;

    // /metrics with many tokens: a scratch database, so the developer's own data is left alone.
    console.log('');
    console.log(`bench:http: /metrics: scratch database with ${tokens} tokens...`);
    scratch = await createScratchDatabase(databaseUrl, tokens);
    console.log(
      `bench:http: ${tokens} tokens inserted in ${scratch.seedMs.toFixed(0)} ms; the gauges' snapshot query ` +
        `(run in the background at most once per METRICS_REFRESH_SECONDS, never per scrape) takes ` +
        `${scratch.snapshotQueryMs.toFixed(1)} ms (median of 5)`,
    );
    const scraped = await startServer('app', scratch.url, {
      METRICS_REFRESH_SECONDS: '1',
      ADMIN_API_KEY: BENCH_ADMIN_KEY,
    });
    children.push(scraped.child);
    const first = await fetch(`${scraped.url}/metrics`);
    const text = await first.text();
    const detected = /^glisk_tokens\{[^}]*status="detected"[^}]*\} (\d+)$/m.exec(text)?.[1];
    console.log(
      `bench:http: first scrape ${first.status}, ${text.length} bytes, glisk_tokens{status="detected"} ${detected ?? 'missing'}`,
    );
    console.log(
      `bench:http: GET /metrics and GET ${TRIVIAL_PATH} in turn (1 connection): warm-up 2 s, then ${duration} s...`,
    );
    await scrapeLoop(scraped.url, 2);
    const [scrapes, trivial] = await scrapeLoop(scraped.url, duration);
    const server = await serverSideShare(scraped.url, METRICS_P99_GOAL_MS);
    console.log('');
    console.log(
      `app /metrics (${tokens} tokens): ${scrapes.count} scrapes in ${duration} s, ${scrapes.errors} errors; ` +
        `client-side p50 ${scrapes.p50.toFixed(2)} ms, p90 ${scrapes.p90.toFixed(2)} ms, ` +
        `p99 ${scrapes.p99.toFixed(2)} ms, max ${scrapes.max.toFixed(2)} ms`,
    );
    console.log(
      `app ${TRIVIAL_PATH} (same app, same connection, in turn with the scrapes): ${trivial.count} requests, ` +
        `${trivial.errors} errors; p50 ${trivial.p50.toFixed(2)} ms, p90 ${trivial.p90.toFixed(2)} ms, ` +
        `p99 ${trivial.p99.toFixed(2)} ms, max ${trivial.max.toFixed(2)} ms`,
    );
    console.log(
      `ratio /metrics / ${TRIVIAL_PATH}: p50 ${(scrapes.p50 / trivial.p50).toFixed(2)}, ` +
        `p99 ${(scrapes.p99 / trivial.p99).toFixed(2)} (the machine's own noise divides out)`,
    );
    console.log(
      `app /metrics server-side (its own glisk_http_request_duration_seconds): ` +
        `${(server.share * 100).toFixed(2)}% of ${server.count} scrapes under ${METRICS_P99_GOAL_MS} ms`,
    );
    console.log(
      `app /metrics p99 with ${tokens} tokens: ${scrapes.p99.toFixed(2)} ms (goal < ${METRICS_P99_GOAL_MS} ms) ` +
        `${scrapes.p99 < METRICS_P99_GOAL_MS ? 'OK' : 'MISSED'}`,
    );

    // The operator's stats, polled by dashboards: timed the same way, in turn with the trivial route.
    console.log('');
    console.log(
      `bench:http: GET ${STATS_PATH} and GET ${TRIVIAL_PATH} in turn (1 connection): warm-up 2 s, then ${duration} s...`,
    );
    const auth = { authorization: `Bearer ${BENCH_ADMIN_KEY}` };
    await scrapeLoop(scraped.url, 2, [STATS_PATH, TRIVIAL_PATH], auth);
    const [stats, statsTrivial] = await scrapeLoop(scraped.url, duration, [STATS_PATH, TRIVIAL_PATH], auth);
    console.log(
      `app ${STATS_PATH} (${tokens} tokens): ${stats.count} requests in ${duration} s, ${stats.errors} errors; ` +
        `p50 ${stats.p50.toFixed(2)} ms, p90 ${stats.p90.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms, ` +
        `max ${stats.max.toFixed(2)} ms (${TRIVIAL_PATH} in turn: p50 ${statsTrivial.p50.toFixed(2)} ms, ` +
        `p99 ${statsTrivial.p99.toFixed(2)} ms)`,
    );

    const failed =
      rows.some((r) => r.errors > 0) ||
      scrapes.errors + trivial.errors + stats.errors + statsTrivial.errors > 0 ||
      detected === undefined;
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
    await scratch?.drop();
  }
}

/** Steps 1 and 2: /health of the app and of bare Express, throughput then a fixed rate; prints the goals. */
async function healthPart(
  databaseUrl: string,
  children: ChildProcess[],
  duration: number,
  connections: number,
  rate: number,
): Promise<Row[]> {
  const bare = await startServer('bare', databaseUrl);
  const app = await startServer('app', databaseUrl);
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
  return rows;
}

type Scrapes = { count: number; errors: number; p50: number; p90: number; p99: number; max: number };

/**
 * GET /metrics and GET /bench/trivial in turn on one kept-alive connection for `seconds`, each timed from the
 * request to the body's last byte (autocannon rounds latencies to whole milliseconds: too coarse for a 5 ms
 * goal). In turn, so that a loaded machine slows both alike and their ratio stays the scrape's own cost.
 */
async function scrapeLoop(
  url: string,
  seconds: number,
  paths: readonly [string, string] = ['/metrics', TRIVIAL_PATH],
  headers: Record<string, string> = {},
): Promise<[Scrapes, Scrapes]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: [number[], number[]] = [[], []];
  const errors = [0, 0];
  const until = performance.now() + seconds * 1000;
  try {
    while (performance.now() < until) {
      for (const [i, path] of paths.entries()) {
        const started = performance.now();
        const status = await new Promise<number>((resolve, reject) => {
          http
            .get(`${url}${path}`, { agent, headers }, (res) => {
              res.on('data', () => {});
              res.on('end', () => resolve(res.statusCode ?? 0));
              res.on('error', reject);
            })
            .on('error', reject);
        });
        times[i]?.push(performance.now() - started);
        if (status !== 200) errors[i] = (errors[i] ?? 0) + 1;
      }
    }
  } finally {
    agent.destroy();
  }
  const stats = (list: number[], errorCount: number): Scrapes => {
    list.sort((a, b) => a - b);
    const at = (q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0;
    return {
      count: list.length,
      errors: errorCount,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: list.at(-1) ?? 0,
    };
  };
  return [stats(times[0], errors[0] ?? 0), stats(times[1], errors[1] ?? 0)];
}

/** The share of the app's own /metrics answers it timed under `goalMs` (its histogram has a 5 ms bucket). */
async function serverSideShare(url: string, goalMs: number): Promise<{ count: number; share: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let count = 0;
  let under = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('route="/metrics"') || !line.includes('status_code="200"')) continue;
    const value = Number(line.split(' ').at(-1));
    if (line.startsWith('glisk_http_request_duration_seconds_count')) count += value;
    if (
      line.startsWith('glisk_http_request_duration_seconds_bucket') &&
      line.includes(`le="${goalMs / 1000}"`)
    )
      under += value;
  }
  return { count, share: count === 0 ? 0 : under / count };
}

type ScratchDatabase = { url: string; seedMs: number; snapshotQueryMs: number; drop: () => Promise<void> };

/**
 * A migrated database next to `serverUrl`'s holding `tokens` tokens of one author, spread evenly over every
 * status (with the CIDs, timestamps and error data each status carries), analysed like a live one.
 */
async function createScratchDatabase(serverUrl: string, tokens: number): Promise<ScratchDatabase> {
  const name = `glisk_bench_metrics_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  };
  try {
    await migrateDatabase(url.toString());
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      const started = performance.now();
      const cid = await computeCid(new TextEncoder().encode('bench'), 'raw-leaves');
      const wallet = `0x${'ab'.repeat(20)}`;
      const [author] = await sql<{ id: string }[]>`
        insert into authors (wallet_address) values (${wallet}) returning id`;
      await sql`
        insert into tokens_s0 (token_id, author_id, minter_address, mint_timestamp, status, image_cid,
                               metadata_cid, error_data, ready_at, revealed_at, updated_at)
        select g, ${author?.id ?? ''}, ${wallet}, now() - interval '1 day',
               (array['detected','generating','uploading','ready','revealed','failed'])[g % 6 + 1],
               case when g % 6 in (2, 3, 4) then ${cid} end,
               case when g % 6 in (3, 4) then ${cid} end,
               case when g % 6 = 5 then jsonb_build_object('stage', 'image', 'class', 'permanent',
                                                           'code', 'BENCH', 'message', 'bench') end,
               case when g % 6 in (3, 4) then now() end,
               case when g % 6 = 4 then now() end,
               now() - (g || ' seconds')::interval
        from generate_series(1, ${tokens}) g`;
      await sql`analyze tokens_s0`;
      const seedMs = performance.now() - started;
      // The snapshot pipeline-gauges.ts reads in the background, timed here on its own.
      const database = createDatabase(url.toString(), { max: 1 });
      const times: number[] = [];
      try {
        for (let i = 0; i < 5; i += 1) {
          const at = performance.now();
          await readTokenSnapshot(database);
          times.push(performance.now() - at);
        }
        // What it replaced (stop 7): a count of every row per status, timed the same way for the figure.
        const scans: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          const at = performance.now();
          await sql`select status, count(*)::int, min(updated_at) from tokens_s0 group by status`;
          scans.push(performance.now() - at);
        }
        scans.sort((a, b) => a - b);
        console.log(
          `bench:http: a full count of the tokens per status (the stop-7 snapshot) takes ${(scans[2] ?? 0).toFixed(1)} ms (median of 5)`,
        );
      } finally {
        await database.close();
      }
      times.sort((a, b) => a - b);
      return { url: url.toString(), seedMs, snapshotQueryMs: times[2] ?? 0, drop };
    } finally {
      await sql.end({ timeout: 5 });
    }
  } catch (error) {
    await drop();
    throw error;
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

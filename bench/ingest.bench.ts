// `npm run bench:ingest`: signed Alchemy deliveries of 50-token mints posted by concurrent clients to the real
// app on loopback (embedded PostgreSQL, migrated), for a bounded time. Prints tokens ingested per second and the
// latency percentiles; asserts nothing but that every token was written once.
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { getAddress, type Address } from 'viem';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/client.js';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createApp } from '../src/http/app.js';
import { listen } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';
import { alchemyPayload, batchMintedLog, signedHeaders } from '../tests/helpers/alchemy-webhook.js';
import { percentile } from './statistics.js';

const HELP = `Usage: npm run bench:ingest [-- --seconds S] [--clients C]

Starts a throwaway embedded PostgreSQL 17, migrates it, serves the real app on 127.0.0.1 and has C clients
(default 16) post signed webhook deliveries, each one new block with one BatchMinted of 50 tokens, for S
seconds (default 10). Prints tokens ingested per second and latency p50/p99. Goal: >= 5,000 tokens/s.`;

const SECRET = 'bench-secret-0123456789';
const CONTRACT: Address = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const MINTER: Address = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const BATCH = 50;

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${value}"`);
  return n;
}

/** The k-th delivery: block k+1, tokens 50k+1 .. 50k+50, one of 100 authors. */
function delivery(k: number): { body: string; headers: Record<string, string> } {
  const author = getAddress(`0x${(0xa000 + (k % 100)).toString(16).padStart(40, '0')}`);
  const log = batchMintedLog({
    contract: CONTRACT,
    minter: MINTER,
    author,
    startTokenId: BigInt(k * BATCH + 1),
    quantity: BigInt(BATCH),
    totalPaid: 10n ** 15n * BigInt(BATCH),
    txHash: `0x${(k + 1).toString(16).padStart(64, '0')}`,
    index: 0,
  });
  const body = JSON.stringify(alchemyPayload({ number: k + 1, timestamp: 1_760_000_000 + k, logs: [log] }));
  return { body, headers: signedHeaders(body, SECRET) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      clients: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const seconds = positive(values.seconds, 10, '--seconds');
  const clients = Math.round(positive(values.clients, 16, '--clients'));

  const dataDir = await createTemporaryDirectory('glisk-bench-ingest-');
  const pg = await startEmbeddedPostgres({ dataDir, persistent: false });
  const database = createDatabase(pg.url, { max: 40, applicationName: 'glisk-bench' });
  let server: Awaited<ReturnType<typeof listen>> | undefined;
  try {
    await migrateDatabase(pg.url);
    const config = loadConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      ALCHEMY_WEBHOOK_SECRET: SECRET,
      GLISK_NFT_CONTRACT_ADDRESS: CONTRACT,
    });
    const logger = createLogger({ level: 'warn', format: 'json', stream: new PassThrough().resume() });
    server = await listen(createApp({ config, logger, database }), '127.0.0.1', 0);
    const url = `${server.url}/webhooks/alchemy`;

    // Warm up the pool, the JIT and the statement paths before measuring.
    let next = 0;
    for (let i = 0; i < 20; i++) {
      const d = delivery(next++);
      await (await fetch(url, { method: 'POST', body: d.body, headers: d.headers })).arrayBuffer();
    }

    const latencies: number[] = [];
    let created = 0;
    let errors = 0;
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    let lastReport = started;
    const client = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const d = delivery(next++);
        const t0 = performance.now();
        const response = await fetch(url, { method: 'POST', body: d.body, headers: d.headers });
        const answer = (await response.json()) as { created?: number[] };
        latencies.push(performance.now() - t0);
        if (response.status === 200 && answer.created) created += answer.created.length;
        else errors += 1;
        const now = performance.now();
        if (now - lastReport >= 1000) {
          lastReport = now;
          const rate = (created / (now - started)) * 1000;
          process.stderr.write(
            `\rbench:ingest: ${((now - started) / 1000).toFixed(0)}/${seconds} s, ${rate.toFixed(0)} tokens/s`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, client));
    const elapsed = (performance.now() - started) / 1000;
    process.stderr.write('\n');

    const [row] = await database.db.execute<{ tokens: number; events: number }>(
      sql`SELECT (SELECT count(*)::int FROM tokens_s0) AS tokens, (SELECT count(*)::int FROM mint_events) AS events`,
    );
    const sorted = latencies.sort((a, b) => a - b);
    const rate = created / elapsed;
    console.log(
      `bench:ingest: ${clients} clients, ${elapsed.toFixed(1)} s, ${latencies.length} deliveries of ${BATCH} tokens`,
    );
    console.log(
      `bench:ingest: ${created} tokens created, ${errors} errors; database holds ${row?.tokens} tokens, ${row?.events} mint events (20 warm-up deliveries included)`,
    );
    console.log(
      `bench:ingest: ${rate.toFixed(0)} tokens/s (${(latencies.length / elapsed).toFixed(0)} deliveries/s)`,
    );
    console.log(
      `bench:ingest: latency p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms`,
    );
    console.log(`bench:ingest: goal >= 5000 tokens/s: ${rate >= 5000 ? 'met' : 'NOT met'}`);
    const expected = (latencies.length - errors + 20) * BATCH;
    if (row?.tokens !== expected) {
      console.error(`bench:ingest: expected ${expected} tokens in the database, found ${row?.tokens}`);
      return 1;
    }
    return errors > 0 ? 1 : 0;
  } finally {
    await server?.close(2_000);
    await database.close();
    await pg.stop();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`bench:ingest failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

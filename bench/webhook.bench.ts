// `npm run bench:webhook`: ONE large signed Alchemy delivery (by default 1,700 BatchMinted logs of 50 tokens:
// ~1 MB, 85,000 tokens) posted to the real app on loopback (embedded PostgreSQL, migrated), while /health is
// probed every 10 ms. Prints the delivery's time, the process's RSS growth and the /health latencies during it
// (issue 13.4: /health under 100 ms while a huge delivery is processed). Checks every token was written once.
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
import {
  alchemyPayload,
  batchMintedLog,
  postWebhook,
  signedHeaders,
} from '../tests/helpers/alchemy-webhook.js';

const HELP = `Usage: npm run bench:webhook [-- --logs N] [--body-limit SIZE]

Starts a throwaway embedded PostgreSQL 17, migrates it, serves the real app on 127.0.0.1 and posts ONE signed
delivery of N BatchMinted logs of 50 tokens each (default 1700: about 1 MB, 85,000 tokens) while probing
GET /health every 10 ms. Prints the delivery time, RSS before/peak/after, and /health p50/p99/max during the
delivery. Goal: /health max < 100 ms. --body-limit (default 1mb; 20mb for --logs 34000) sets BODY_LIMIT.`;

const SECRET = 'bench-secret-0123456789';
const CONTRACT: Address = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const MINTER: Address = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const BATCH = 50;

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

function delivery(logs: number): string {
  const payloadLogs = Array.from({ length: logs }, (_, k) =>
    batchMintedLog({
      contract: CONTRACT,
      minter: MINTER,
      author: getAddress(`0x${(0xa000 + (k % 100)).toString(16).padStart(40, '0')}`),
      startTokenId: BigInt(k * BATCH + 1),
      quantity: BigInt(BATCH),
      totalPaid: 10n ** 15n * BigInt(BATCH),
      txHash: `0x${(Math.floor(k / 10) + 1).toString(16).padStart(64, '0')}`,
      index: k,
    }),
  );
  return JSON.stringify(alchemyPayload({ number: 1, timestamp: 1_760_000_000, logs: payloadLogs }));
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      logs: { type: 'string' },
      'body-limit': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const logs = Number(values.logs ?? 1700);
  if (!Number.isInteger(logs) || logs < 1) throw new Error(`--logs must be a positive integer`);

  const dataDir = await createTemporaryDirectory('glisk-bench-webhook-');
  const pg = await startEmbeddedPostgres({ dataDir, persistent: false });
  const database = createDatabase(pg.url, { max: 20, applicationName: 'glisk-bench' });
  let server: Awaited<ReturnType<typeof listen>> | undefined;
  try {
    await migrateDatabase(pg.url);
    const config = loadConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      ALCHEMY_WEBHOOK_SECRET: SECRET,
      GLISK_NFT_CONTRACT_ADDRESS: CONTRACT,
      BODY_LIMIT: values['body-limit'] ?? '1mb',
    });
    const logger = createLogger({ level: 'warn', format: 'json', stream: new PassThrough().resume() });
    server = await listen(createApp({ config, logger, database }), '127.0.0.1', 0);
    const baseUrl = server.url;
    for (let i = 0; i < 20; i++) await (await fetch(`${baseUrl}/health`)).arrayBuffer();

    const body = delivery(logs);
    const headers = signedHeaders(body, SECRET);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const health: number[] = [];
    let done = false;
    const probe = async (): Promise<void> => {
      while (!done) {
        const t0 = performance.now();
        const res = await fetch(`${baseUrl}/health`);
        await res.arrayBuffer();
        if (!done) health.push(performance.now() - t0);
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const probing = probe();
    const started = performance.now();
    const answer = await postWebhook(baseUrl, body, headers);
    const elapsed = performance.now() - started;
    done = true;
    await probing;
    const rssAfter = process.memoryUsage().rss;

    const [row] = await database.db.execute<{ tokens: number; events: number }>(
      sql`SELECT (SELECT count(*)::int FROM tokens_s0) AS tokens, (SELECT count(*)::int FROM mint_events) AS events`,
    );
    const sorted = health.sort((a, b) => a - b);
    const max = sorted.at(-1) ?? Number.NaN;
    console.log(
      `bench:webhook: one delivery of ${mb(Buffer.byteLength(body))}, ${logs} logs, ${logs * BATCH} tokens: HTTP ${answer.status} in ${(elapsed / 1000).toFixed(2)} s`,
    );
    console.log(
      `bench:webhook: RSS before ${mb(rssBefore)}, peak ${mb(rssPeak)}, after ${mb(rssAfter)} (this process runs the app and the client)`,
    );
    console.log(
      `bench:webhook: /health during it: ${health.length} probes, p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    console.log(`bench:webhook: goal /health max < 100 ms: ${max < 100 ? 'met' : 'NOT met'}`);
    if (answer.status !== 200 || row?.tokens !== logs * BATCH || row.events !== logs) {
      console.error(
        `bench:webhook: expected 200, ${logs * BATCH} tokens and ${logs} events; got ${answer.status}, ${row?.tokens}, ${row?.events}`,
      );
      return 1;
    }
    return 0;
  } finally {
    await server?.close(2_000);
    await database.close();
    await pg.stop();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`bench:webhook failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

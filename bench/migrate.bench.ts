// `npm run bench:migrate`: how long migrating an empty database takes (connection, lock and every migration
// of drizzle/), on the embedded PostgreSQL 17 with durable settings like a real server. Goal: under 1 s.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { migrateDatabase } from '../src/db/migrate.js';

const HELP = `Usage: npm run bench:migrate [-- --runs N]

Starts a throwaway embedded PostgreSQL 17 (fsync on), migrates N fresh empty databases one after
another and prints min / median / max wall time of migrateDatabase(). Default N = 7. Goal: median < 1000 ms.`;

const GOAL_MS = 1000;

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const runsIndex = args.indexOf('--runs');
  const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 7;
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
    console.error('bench:migrate: --runs takes an integer from 1 to 100');
    return 1;
  }

  const dir = await createTemporaryDirectory('glisk-bench-migrate-');
  // persistent: fsync and full-page writes on, as on a real server (the cluster is still removed below).
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: true });
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    const times: number[] = [];
    let applied = 0;
    for (let run = 1; run <= runs; run += 1) {
      const name = `bench_migrate_${run}`;
      await admin.unsafe(`create database ${name}`);
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      const result = await migrateDatabase(url.toString());
      applied = result.applied.length;
      times.push(result.durationMs);
      await admin.unsafe(`drop database ${name} with (force)`);
      process.stdout.write(`bench:migrate: run ${run}/${runs}: ${result.durationMs.toFixed(1)} ms\n`);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    const summary = [
      `runs=${runs}`,
      `migrations=${applied}`,
      `min=${(sorted[0] ?? NaN).toFixed(1)}ms`,
      `median=${median.toFixed(1)}ms`,
      `max=${(sorted.at(-1) ?? NaN).toFixed(1)}ms`,
      `goal<${GOAL_MS}ms ${median < GOAL_MS ? 'met' : 'MISSED'}`,
    ];
    console.log(`bench:migrate: ${summary.join(' ')}`);
    return 0;
  } finally {
    await admin.end({ timeout: 5 });
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));

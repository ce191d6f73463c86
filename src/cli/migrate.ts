// `npm run db:migrate`: applies the committed migrations in drizzle/ under the migration advisory lock.
import { migrateDatabase } from '../db/migrate.js';
import { withDatabase } from '../startup.js';
import { printLine, readCliConfig, runCli, type CliIo } from './run.js';

const HELP = `Usage: npm run db:migrate [-- --help]

Applies the pending migrations of drizzle/ to the database, holding a PostgreSQL advisory lock so that
several processes migrating at once apply each migration exactly once.

Database: DATABASE_URL (environment, then .env) when set; otherwise the embedded PostgreSQL 17 in
.data/postgres (started for the run, or joined when \`npm start\` or another command is running it).

Exit status: 0 migrated (or already up to date), 1 failed.`;

export async function main(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    printLine(io.stdout, HELP);
    return 0;
  }
  const unknown = argv.filter((arg) => arg !== '--');
  if (unknown.length > 0) {
    printLine(io.stderr, `db:migrate: unknown argument ${unknown.join(' ')} (see --help)`);
    return 1;
  }
  const config = readCliConfig(io, 'db:migrate');
  if (config === undefined) return 1;
  try {
    // Lifecycle notices only (initialising, started, joined, stopped); the server's own output stays in its log.
    const onLog = (message: string, level: string): void => {
      if (level === 'info') printLine(io.stdout, `db:migrate: ${message}`);
    };
    return await withDatabase(config, { migrate: false, onLog }, async ({ local }) => {
      const target = local.embedded
        ? `embedded PostgreSQL in ${local.dataDir ?? '.data'}`
        : describe(local.url);
      printLine(io.stdout, `db:migrate: migrating ${target}`);
      const result = await migrateDatabase(local.url);
      const names = result.applied.length > 0 ? ` (${result.applied.join(', ')})` : '';
      printLine(
        io.stdout,
        `db:migrate: applied ${result.applied.length} migration(s)${names} in ${Math.round(result.durationMs)} ms; ` +
          `${result.total} recorded`,
      );
      return 0;
    });
  } catch (error) {
    printLine(io.stderr, `db:migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** host:port/database of a URL, never its password. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname} (DATABASE_URL)`;
  } catch {
    return 'DATABASE_URL (unparsable)';
  }
}

await runCli(import.meta.url, main);

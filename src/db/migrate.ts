// Applies the committed drizzle migrations so that several processes starting at once (replicas of the
// service, a CLI run next to `npm start`, test workers) apply each migration exactly once and none fails.
// drizzle's migrator takes no lock: two of them race on CREATE SCHEMA and on applying the same migration.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { LOCK_KEYS } from './lock-keys.js';

// Session-level advisory lock held while migrating (registered in lock-keys.ts).
const MIGRATION_LOCK_KEY = LOCK_KEYS.migration;

export const DEFAULT_MIGRATIONS_FOLDER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../drizzle',
);

export type MigrateOptions = {
  /** Folder holding drizzle-kit's output (`meta/_journal.json` and the SQL files). Default: `<repo>/drizzle`. */
  migrationsFolder?: string;
  /** Give up waiting for another process's migration after this long. Default 60 s. */
  lockTimeoutMs?: number;
};

export type MigrationResult = {
  /** Tags (file names without .sql) of the migrations this call applied, in order; empty when up to date. */
  applied: string[];
  /** Migrations recorded in the database after this call. */
  total: number;
  /** Wall time of the whole call, connection included. */
  durationMs: number;
  /** Part of durationMs spent waiting for another process's migration. */
  lockWaitMs: number;
};

type Journal = { entries: Array<{ tag: string; when: number }> };

export async function migrateDatabase(url: string, options: MigrateOptions = {}): Promise<MigrationResult> {
  const started = performance.now();
  const migrationsFolder = options.migrationsFolder ?? DEFAULT_MIGRATIONS_FOLDER;
  const lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  // One connection that is never recycled: the advisory lock belongs to the session, so the lock and every
  // migration statement must run on the same connection.
  const sql = postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'glisk-migrate', TimeZone: 'UTC' },
  });
  try {
    const [session] = await sql<[{ pid: number }]>`select pg_backend_pid() as pid`;
    const lockStarted = performance.now();
    await sql.unsafe(`set lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    try {
      await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    } catch (error) {
      if (isPostgresError(error, '55P03')) {
        throw new Error(
          `another process has been migrating this database for over ${lockTimeoutMs} ms ` +
            `(advisory lock ${MIGRATION_LOCK_KEY}); see pg_locks/pg_stat_activity`,
          { cause: error },
        );
      }
      throw error;
    }
    const lockWaitMs = performance.now() - lockStarted;
    await sql`set lock_timeout = 0`;

    const before = await recordedMigrations(sql);
    await migrate(drizzle(sql), { migrationsFolder });
    const after = await recordedMigrations(sql);

    const [sessionAfter] = await sql<[{ pid: number }]>`select pg_backend_pid() as pid`;
    if (sessionAfter?.pid !== session?.pid) {
      // The connection was replaced mid-way, so the lock may not have covered every statement.
      throw new Error('the migration connection was lost while migrating; run the migration again');
    }
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;

    const journal = await readJournal(migrationsFolder);
    const applied = journal.entries
      .filter((entry) => after.has(entry.when) && !before.has(entry.when))
      .map((entry) => entry.tag);
    return { applied, total: after.size, durationMs: performance.now() - started, lockWaitMs };
  } finally {
    // Ending the session also releases the lock if anything above failed.
    await sql.end({ timeout: 5 });
  }
}

/** The `created_at` (journal `when`) of every migration drizzle recorded; empty before the first migration. */
async function recordedMigrations(sql: postgres.Sql): Promise<Set<number>> {
  const [table] = await sql<[{ exists: boolean }]>`
    select to_regclass('drizzle.__drizzle_migrations') is not null as exists`;
  if (!table?.exists) return new Set();
  const rows = await sql<Array<{ createdAt: string }>>`
    select created_at::text as "createdAt" from drizzle.__drizzle_migrations`;
  return new Set(rows.map((row) => Number(row.createdAt)));
}

async function readJournal(migrationsFolder: string): Promise<Journal> {
  const parsed: unknown = JSON.parse(
    await readFile(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8'),
  );
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('entries' in parsed) ||
    !Array.isArray(parsed.entries) ||
    !parsed.entries.every(
      (entry: unknown) =>
        typeof entry === 'object' &&
        entry !== null &&
        'tag' in entry &&
        typeof entry.tag === 'string' &&
        'when' in entry &&
        typeof entry.when === 'number',
    )
  ) {
    throw new Error(`${migrationsFolder}/meta/_journal.json is not a drizzle-kit journal`);
  }
  return parsed as Journal;
}

function isPostgresError(error: unknown, code: string): boolean {
  return error instanceof postgres.PostgresError && error.code === code;
}

// The start-up sequence that `npm start` and every command using the database share: the database named by the
// configuration (DATABASE_URL, or the embedded PostgreSQL in .data/), reachable within DB_CONNECT_TIMEOUT_SECONDS,
// migrated, with a pool; and the one close() that undoes whatever was opened, in reverse, whenever it is called.
import type { Config } from './config.js';
import { checkDatabaseReachable, createDatabase, type Database, type DatabaseOptions } from './db/client.js';
import { migrateDatabase, type MigrationResult } from './db/migrate.js';
import type { EmbeddedPostgresLogLevel } from './dev/embedded-postgres.js';
import { openLocalDatabase, type LocalDatabase } from './dev/local-database.js';

export type DatabaseStartupOptions = {
  /** Wait until the server answers like PostgreSQL (DB_CONNECT_TIMEOUT_SECONDS) before going on. */
  checkReachable?: boolean;
  /** Apply the pending migrations; default MIGRATE_ON_START. */
  migrate?: boolean;
  /** The pool's options; default DB_POOL_SIZE connections (postgres.js connects on first use, not here). */
  pool?: DatabaseOptions;
  /** The embedded server's lifecycle notices (initialising, started, joined, stopped). */
  onLog?: (message: string, level: EmbeddedPostgresLogLevel) => void;
  /** Called as soon as the database is known, before it is checked or migrated. */
  onOpened?: (local: LocalDatabase) => void;
  onMigrated?: (result: MigrationResult) => void;
};

export type StartedDatabase = {
  url: string;
  local: LocalDatabase;
  database: Database;
  migration: MigrationResult | undefined;
};

export type DatabaseStartup = {
  /** Runs the steps. Undefined when close() was called meanwhile: what had been opened is closed again. */
  open(): Promise<StartedDatabase | undefined>;
  /**
   * Closes the pool (in-flight queries get `timeoutMs`, default SHUTDOWN_TIMEOUT_SECONDS), then leaves the
   * database (the last user of the embedded server stops it). Idempotent; during open() it takes effect at the
   * next step.
   */
  close(timeoutMs?: number): Promise<void>;
};

export function databaseStartup(config: Config, options: DatabaseStartupOptions = {}): DatabaseStartup {
  let local: LocalDatabase | undefined;
  let database: Database | undefined;
  let closed = false;
  let opening: Promise<StartedDatabase | undefined> | undefined;
  let closing: Promise<void> | undefined;

  const release = async (timeoutMs: number): Promise<void> => {
    const pool = database;
    database = undefined;
    await pool?.close(Math.ceil(timeoutMs / 1000));
    const leaving = local;
    local = undefined;
    await leaving?.stop();
  };

  const run = async (): Promise<StartedDatabase | undefined> => {
    try {
      local = await openLocalDatabase({
        databaseUrl: config.database.url ?? '',
        ...(options.onLog ? { onLog: options.onLog } : {}),
      });
      options.onOpened?.(local);
      const { url } = local;
      if (closed) return undefined;
      if (options.checkReachable) {
        await checkDatabaseReachable(url, config.database.connectTimeoutMs);
        if (closed) return undefined;
      }
      let migration: MigrationResult | undefined;
      if (options.migrate ?? config.database.migrateOnStart) {
        migration = await migrateDatabase(url);
        options.onMigrated?.(migration);
        if (closed) return undefined;
      }
      database = createDatabase(url, options.pool ?? { max: config.database.poolSize });
      return { url, local, database, migration };
    } catch (error) {
      await release(config.http.shutdownTimeoutMs);
      throw error;
    }
  };

  return {
    open: () => (opening ??= run()),
    close: (timeoutMs = config.http.shutdownTimeoutMs) => {
      closed = true;
      closing ??= (async () => {
        await opening?.catch(() => undefined);
        await release(timeoutMs);
      })();
      return closing;
    },
  };
}

/** Opens the database, runs `body` with it and closes it whatever happens: the shape of a database command. */
export async function withDatabase<T>(
  config: Config,
  options: DatabaseStartupOptions,
  body: (started: StartedDatabase) => Promise<T>,
): Promise<T> {
  const startup = databaseStartup(config, options);
  try {
    const started = await startup.open();
    if (started === undefined) throw new Error('the database was closed while it was opening');
    return await body(started);
  } finally {
    await startup.close();
  }
}

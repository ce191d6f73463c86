// The one place that opens PostgreSQL connections: a postgres.js pool wrapped by drizzle with the schema.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Schema = typeof schema;

/** The database or a transaction of it: what every repository function takes as its first argument. */
export type Executor = PgDatabase<PostgresJsQueryResultHKT, Schema>;

export type Database = {
  db: PostgresJsDatabase<Schema>;
  sql: postgres.Sql;
  close: (timeoutSeconds?: number) => Promise<void>;
};

export type DatabaseOptions = {
  /** Pool size (DB_POOL_SIZE). */
  max?: number;
  /** Seconds to wait for a TCP connection before giving up. */
  connectTimeoutSeconds?: number;
  /** Seconds an idle connection stays open. */
  idleTimeoutSeconds?: number;
  applicationName?: string;
};

export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    // Every session runs in UTC whatever the server or the process says.
    connection: { TimeZone: 'UTC', application_name: options.applicationName ?? 'glisk-backend' },
    onnotice: () => {},
  });
  const db = drizzle(sql, { schema });
  return { db, sql, close: (timeout = 5) => sql.end({ timeout }) };
}

// Each test file gets its own database, cloned from the template that scripts/test.ts migrated once.
import postgres from 'postgres';
import { createDatabase, type Database } from '../../src/db/client.js';

/** Set by scripts/test.ts for the test processes it starts. */
export const TEST_ENV = {
  adminUrl: 'GLISK_TEST_ADMIN_URL',
  template: 'GLISK_TEST_TEMPLATE',
  prefix: 'GLISK_TEST_PREFIX',
} as const;

export type TestDatabase = {
  /** URL of this test's own database. */
  url: string;
  db: Database['db'];
  sql: Database['sql'];
  database: Database;
  /** Closes the pool and drops the database (connections of others included). Safe to call twice. */
  drop: () => Promise<void>;
};

export type TestDatabaseOptions = {
  /** false: an empty database (no tables, no migrations) instead of a clone of the migrated template. */
  migrated?: boolean;
  /** Pool size of `db`/`sql`. Default 10. */
  max?: number;
};

let counter = 0;

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const harness = harnessEnvironment();
  counter += 1;
  const name = `${harness.prefix}_${process.pid}_${counter}`;
  // template0 is PostgreSQL's pristine empty database. The migrated template allows no connections, so
  // concurrent clones never fail with "source database is being accessed by other users".
  const template = options.migrated === false ? 'template0' : harness.template;
  await withAdmin(harness.adminUrl, (sql) => sql.unsafe(`create database ${name} template ${template}`));

  const url = databaseUrl(harness.adminUrl, name);
  const database = createDatabase(url, { max: options.max ?? 10, applicationName: `glisk-test-${name}` });
  let dropping: Promise<void> | undefined;
  const drop = () => {
    dropping ??= (async () => {
      await database.close();
      await withAdmin(harness.adminUrl, (sql) => sql.unsafe(`drop database if exists ${name} with (force)`));
    })();
    return dropping;
  };
  return { url, db: database.db, sql: database.sql, database, drop };
}

function harnessEnvironment(): { adminUrl: string; template: string; prefix: string } {
  const adminUrl = process.env[TEST_ENV.adminUrl];
  const template = process.env[TEST_ENV.template];
  const prefix = process.env[TEST_ENV.prefix];
  if (!adminUrl || !template || !prefix) {
    throw new Error(
      'createTestDatabase() runs under the test runner, which starts PostgreSQL and migrates the template: ' +
        'use `npm test` or `npm test -- tests/<area>/<file>.test.ts`, not `node --test` directly.',
    );
  }
  return { adminUrl, template, prefix };
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(adminUrl: string, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'glisk-test-admin' },
  });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * now() of a transaction of its own, as text: the database's microsecond precision (a Date keeps milliseconds,
 * so two stamps a few microseconds apart would compare equal). Compare in SQL: `col > ${before}::timestamptz`.
 */
export async function databaseNow(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ now: string }[]>`select now()::text as now`;
  if (row === undefined) throw new Error('select now() returned no row');
  return row.now;
}

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { getTableName } from 'drizzle-orm';
import { tokens } from '../../src/db/schema.js';
import { DEFAULT_MIGRATIONS_FOLDER, MIGRATION_LOCK_KEY, migrateDatabase } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function journalTags(): Promise<string[]> {
  const journal = JSON.parse(
    await readFile(path.join(DEFAULT_MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8'),
  ) as { entries: Array<{ tag: string }> };
  return journal.entries.map((entry) => entry.tag);
}

async function recordedMigrationCount(t: TestDatabase): Promise<number> {
  const [row] = await t.sql<
    [{ count: number }]
  >`select count(*)::int as count from drizzle.__drizzle_migrations`;
  return row?.count ?? -1;
}

async function publicTables(t: TestDatabase): Promise<string[]> {
  const rows = await t.sql<Array<{ name: string }>>`
    select table_name as name from information_schema.tables where table_schema = 'public' order by 1`;
  return rows.map((row) => row.name);
}

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('migrateDatabase', () => {
  it('3 concurrent runs on an empty database all succeed and apply each migration once', async () => {
    const t = await createTestDatabase({ migrated: false });
    after(() => t.drop());
    const tags = await journalTags();
    assert.ok(tags.length > 0, 'the journal lists migrations');
    assert.deepEqual(await publicTables(t), [], 'the database starts empty');

    const results = await Promise.all([1, 2, 3].map(() => migrateDatabase(t.url)));

    assert.deepEqual(
      results.flatMap((result) => result.applied).sort(),
      [...tags].sort(),
      'the three runs together applied every migration exactly once',
    );
    assert.equal(results.filter((result) => result.applied.length > 0).length, 1, 'one run did the work');
    for (const result of results) assert.equal(result.total, tags.length);
    assert.equal(await recordedMigrationCount(t), tags.length);
    assert.ok((await publicTables(t)).includes(getTableName(tokens)));

    const again = await migrateDatabase(t.url);
    assert.deepEqual(again.applied, []);
    assert.equal(again.total, tags.length);
    assert.equal(await recordedMigrationCount(t), tags.length);
  });

  it('3 concurrent `db:migrate` processes on an empty database all exit 0 and apply each migration once', async () => {
    const t = await createTestDatabase({ migrated: false });
    after(() => t.drop());
    const tags = await journalTags();

    const runs = await Promise.all([1, 2, 3].map(() => runCli([], { DATABASE_URL: t.url })));

    for (const run of runs) assert.equal(run.code, 0, run.output);
    const appliedCounts = runs.map((run) => Number(/applied (\d+) migration/.exec(run.output)?.[1] ?? NaN));
    assert.deepEqual(
      [...appliedCounts].sort(),
      [0, 0, tags.length],
      runs.map((run) => run.output).join('\n'),
    );
    assert.equal(await recordedMigrationCount(t), tags.length);
  });

  it('waits for the advisory lock held by another session, then finds nothing to apply', async () => {
    const t = await createTestDatabase();
    after(() => t.drop());
    const holder = await t.sql.reserve();
    try {
      await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      let settled = false;
      const pending = migrateDatabase(t.url).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(settled, false, 'migrateDatabase must block while another session holds the lock');
      await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      const result = await pending;
      assert.deepEqual(result.applied, []);
      assert.ok(result.lockWaitMs >= 250, `lockWaitMs ${result.lockWaitMs}`);
    } finally {
      holder.release();
    }
  });

  it('gives up with a clear error when the lock is held past lockTimeoutMs', async () => {
    const t = await createTestDatabase();
    after(() => t.drop());
    const holder = await t.sql.reserve();
    try {
      await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      await assert.rejects(
        migrateDatabase(t.url, { lockTimeoutMs: 100 }),
        /another process has been migrating/,
      );
    } finally {
      await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      holder.release();
    }
  });

  it('fails on an unreachable server and on a missing migrations folder', async () => {
    const t = await createTestDatabase({ migrated: false });
    after(() => t.drop());
    await assert.rejects(
      migrateDatabase(t.url, { migrationsFolder: path.join(ROOT, 'no-such-folder') }),
      /journal/,
    );
    const unreachable = new URL(t.url);
    unreachable.port = '1';
    await assert.rejects(migrateDatabase(unreachable.toString()), /ECONNREFUSED/);
  });

  it('db:migrate --help prints usage and exits 0; a bad DATABASE_URL exits 1 with a message', async () => {
    const help = await runCli(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.output, /Usage: npm run db:migrate/);

    const bad = await runCli([], { DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' });
    assert.equal(bad.code, 1);
    assert.match(bad.output, /db:migrate failed/);
    assert.doesNotMatch(bad.output, /secret/, 'the password is never printed');
  });
});

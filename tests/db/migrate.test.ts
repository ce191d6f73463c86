import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getTableName } from 'drizzle-orm';
import { main as migrateMain } from '../../src/cli/migrate.js';
import { tokens } from '../../src/db/schema.js';
import { LOCK_KEYS } from '../../src/db/lock-keys.js';
import { DEFAULT_MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';

const MIGRATION_LOCK_KEY = LOCK_KEYS.migration;
import { compiledEntry } from '../helpers/compiled.js';
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

/** Resolves once a session of t's database waits for (has requested, not been granted) the migration lock. */
async function waitForMigrationLockWaiter(t: TestDatabase, timeoutMs = 10_000): Promise<void> {
  // pg_locks shows a bigint advisory key as classid (high 32 bits), objid (low 32 bits) and objsubid 1.
  const high = Number(MIGRATION_LOCK_KEY >> 32n);
  const low = Number(MIGRATION_LOCK_KEY & 0xffffffffn);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = await t.sql`
      select 1 from pg_locks
      where locktype = 'advisory' and not granted and classid = ${high} and objid = ${low} and objsubid = 1
        and database = (select oid from pg_database where datname = current_database())`;
    if (waiting.length > 0) return;
    if (Date.now() > deadline)
      throw new Error(`no session waited for the migration lock within ${timeoutMs} ms`);
    await sleep(10);
  }
}

type CliResult = { code: number | null; output: string };

/**
 * `npm run db:migrate` as a process of its own: what the concurrency test is about. The command compiled
 * (dist/, tests/helpers/compiled.ts), the same code without tsx's ~1.5 s of CPU per process.
 */
function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...compiledEntry('cli/migrate.ts'), ...args], {
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

// Every test has its own database (advisory locks are per database), so they run at once.
/** The same command's main in this process, with exactly `env`: no process start (node + tsx + viem, ~1.5 s of CPU). */
async function runCliInProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  let output = '';
  const write = (text: string) => (output += text);
  const code = await migrateMain(args, { stdout: { write }, stderr: { write }, env });
  return { code, output };
}

describe('migrateDatabase', { concurrency: true }, () => {
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
      // Handled here so that a failing wait below does not also report an unhandled rejection.
      pending.catch(() => undefined);
      await waitForMigrationLockWaiter(t);
      const waitingSince = performance.now();
      assert.equal(settled, false, 'migrateDatabase must block while another session holds the lock');
      // Held a while longer, so that lockWaitMs has a known lower bound: the call was waiting all along.
      await sleep(100);
      const heldWhileWaiting = performance.now() - waitingSince;
      await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      const result = await pending;
      assert.deepEqual(result.applied, []);
      assert.ok(
        result.lockWaitMs >= heldWhileWaiting,
        `lockWaitMs ${result.lockWaitMs} < ${heldWhileWaiting} ms held while it waited`,
      );
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
    // In-process: exit statuses are main's return values (runCli sets process.exitCode from them), and the
    // process path itself is exercised by the concurrent test above.
    const [help, bad] = await Promise.all([
      runCliInProcess(['--help'], {}),
      runCliInProcess([], { DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' }),
    ]);
    assert.equal(help.code, 0);
    assert.match(help.output, /Usage: npm run db:migrate/);

    assert.equal(bad.code, 1);
    assert.match(bad.output, /db:migrate failed/);
    assert.doesNotMatch(bad.output, /secret/, 'the password is never printed');
  });
});

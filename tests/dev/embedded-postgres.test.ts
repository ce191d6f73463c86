import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';
import { isPostmasterAlive } from '../../src/dev/postmaster.js';
import { createTemporaryDirectory } from '../../src/dev/temporary-directory.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function query<T extends object>(url: string, text: string): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql.unsafe<T[]>(text);
  } finally {
    await sql.end();
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Each test has its own data directory and port, so they run at once: most of their time is initdb and
// server start, much of it waiting on the disk.
describe('startEmbeddedPostgres', { concurrency: true }, () => {
  let dir: string;
  before(async () => {
    dir = await createTemporaryDirectory('glisk-embedded-test-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a throwaway server runs PostgreSQL 17 without fsync; stop() is idempotent and deletes its data', async () => {
    const dataDir = path.join(dir, 'throwaway');
    const server = await startEmbeddedPostgres({ dataDir, persistent: false });
    const [row] = await query<{ version: string; fsync: string }>(
      server.url,
      "select current_setting('server_version_num') as version, current_setting('fsync') as fsync",
    );
    assert.equal(row?.version.slice(0, 2), '17');
    assert.equal(row?.fsync, 'off');
    assert.equal(new URL(server.url).hostname, '127.0.0.1');

    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    assert.equal(isPostmasterAlive(server.pid, dataDir), false);
    assert.equal(existsSync(dataDir), false);
  });

  // One after the other: the second test reuses the cluster the first one leaves.
  describe('a persistent cluster', { concurrency: false }, () => {
    const persistentDir = () => path.join(dir, 'persistent');

    it('a persistent server keeps its data and its log across restarts and removes a stale postmaster.pid', async () => {
      const dataDir = persistentDir();
      const first = await startEmbeddedPostgres({ dataDir, persistent: true });
      await query(first.url, 'create table kept (id int); insert into kept values (42)');
      await first.stop();
      assert.equal(existsSync(path.join(dataDir, 'PG_VERSION')), true);
      assert.match(await readFile(path.join(dataDir, 'server.log'), 'utf8'), /database system is shut down/);

      // What a crash leaves: a pid file naming a process that is not this cluster's postmaster.
      await writeFile(
        path.join(dataDir, 'postmaster.pid'),
        `${process.pid}\n${dataDir}\n0\n5432\n\n127.0.0.1\n0 0\nready   \n`,
      );
      const second = await startEmbeddedPostgres({ dataDir, persistent: true });
      try {
        const [row] = await query<{ fsync: string }>(second.url, "select current_setting('fsync') as fsync");
        assert.equal(row?.fsync, 'on');
        assert.deepEqual([...(await query(second.url, 'select id from kept'))], [{ id: 42 }]);
      } finally {
        await second.stop();
      }
    });

    it('an explicit port that is taken fails with a message naming it', async () => {
      // The cluster of the test above: reaching the bind needs an initialised cluster, not a fresh one (an
      // initdb is ~0.5 s of CPU). Port 0: the port is ours at once, so no server starting meanwhile can take it.
      const blocker: Server = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      assert.ok(address !== null && typeof address === 'object');
      const port = address.port;
      try {
        await assert.rejects(
          startEmbeddedPostgres({ dataDir: persistentDir(), persistent: false, port }),
          new RegExp(`port ${port} on 127.0.0.1 is already in use`),
        );
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    });
  });

  it('refuses to initialise over a directory that holds other files', async () => {
    const dataDir = path.join(dir, 'not-a-cluster');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'notes.txt'), 'mine');
    await assert.rejects(
      startEmbeddedPostgres({ dataDir, persistent: true }),
      /neither empty nor a PostgreSQL/,
    );
    assert.equal(await readFile(path.join(dataDir, 'notes.txt'), 'utf8'), 'mine');
  });

  it('stop() of a throwaway server also removes its now empty temporary directory', async () => {
    const own = await createTemporaryDirectory('glisk-embedded-own-');
    const server = await startEmbeddedPostgres({ dataDir: path.join(own, 'data'), persistent: false });
    await server.stop();
    assert.equal(existsSync(own), false);
  });

  for (const mode of ['exit', 'wait'] as const) {
    const how = mode === 'exit' ? 'process.exit() without stop()' : 'an unhandled SIGTERM';
    it(`${how} stops the server and deletes a throwaway cluster`, async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'tests/dev/fixtures/embedded-postgres-owner.ts', path.join(dir, mode), mode],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
        child.once('exit', () => reject(new Error('fixture exited before starting its server')));
      });
      const started = JSON.parse(line) as { pid: number; dataDir: string };
      if (mode === 'wait') {
        assert.equal(isPostmasterAlive(started.pid, started.dataDir), true);
        child.kill('SIGTERM');
      }
      const result = await exited;
      if (mode === 'wait') assert.equal(result.signal, 'SIGTERM', 'the signal is re-raised after cleanup');
      else assert.equal(result.code, 0);
      await waitFor(() => !isPostmasterAlive(started.pid, started.dataDir), 'the server to stop');
      await waitFor(() => !existsSync(started.dataDir), 'the throwaway cluster to be deleted');
    });
  }
});

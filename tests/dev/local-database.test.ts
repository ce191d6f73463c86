// The shared embedded server of .data/ (here a temp dir): processes join a running server, the last one out
// stops it, and a server orphaned by a SIGKILLed process is restarted by the next one.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { findFreePort } from '../../src/dev/ports.js';
import { isPostmasterAlive, readPostmasterPidSync } from '../../src/dev/postmaster.js';
import { createTemporaryDirectory } from '../../src/dev/temporary-directory.js';
import { openLocalDatabase } from '../../src/dev/local-database.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURE = 'tests/dev/fixtures/local-database-user.ts';

type Message = { event: string; url?: string; joined?: boolean; backend?: number };

/** A fixture process, started at once; it opens the database when told (`open()`), so it can load ahead. */
class User {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly messages: Message[] = [];
  private readonly waiters: Array<(message: Message) => void> = [];
  readonly exited: Promise<number | null>;
  /** Resolves once the process has loaded and waits for `open`. */
  readonly ready: Promise<void>;
  stderr = '';

  constructor(dataDir: string, port: number, portMode: 'port' | 'preferredPort' = 'port') {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dataDir, String(port), portMode], {
      cwd: ROOT,
      env,
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as Message;
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.messages.push(message);
    });
    this.ready = this.next().then((message) => {
      if (message.event !== 'ready') throw new Error(`fixture said ${JSON.stringify(message)}, not ready`);
    });
    // Awaited by open(); a process killed before it loaded must not count as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  async open(): Promise<Message> {
    await this.ready;
    this.child.stdin.write('open\n');
    return this.next();
  }

  async next(): Promise<Message> {
    const queued = this.messages.shift();
    if (queued) return queued;
    return Promise.race([
      new Promise<Message>((resolve) => this.waiters.push(resolve)),
      this.exited.then((code) => {
        throw new Error(`fixture exited (${code}) before answering:\n${this.stderr}`);
      }),
    ]);
  }

  async send(command: 'query' | 'stop' | 'exit'): Promise<Message | undefined> {
    this.child.stdin.write(`${command}\n`);
    if (command === 'exit') {
      await this.exited;
      return undefined;
    }
    return this.next();
  }
}

function postmaster(dataDir: string): number | undefined {
  const info = readPostmasterPidSync(dataDir);
  return info && isPostmasterAlive(info.pid, dataDir) ? info.pid : undefined;
}

async function waitForStop(dataDir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (postmaster(dataDir) !== undefined) {
    if (Date.now() > deadline) throw new Error(`server in ${dataDir} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('openLocalDatabase (shared embedded server)', () => {
  let dir: string;
  let dataDir: string;
  let port: number;
  const users: User[] = [];

  before(async () => {
    dir = await createTemporaryDirectory('glisk-local-db-');
    dataDir = path.join(dir, 'postgres');
    port = await findFreePort();
  });

  after(async () => {
    for (const user of users) user.child.kill('SIGKILL');
    await Promise.all(users.map((user) => user.exited));
    const info = readPostmasterPidSync(dataDir);
    if (info && isPostmasterAlive(info.pid, dataDir)) process.kill(info.pid, 'SIGQUIT');
    await waitForStop(dataDir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const user = (portMode: 'port' | 'preferredPort' = 'port') => {
    const created = new User(dataDir, port, portMode);
    users.push(created);
    return created;
  };

  it('two processes opening at once share one server; it stops only when the last one leaves', async () => {
    const [a, b] = [user(), user()];
    // Both loaded first, so that the two opens really race for the start.
    await Promise.all([a.ready, b.ready]);
    const [openedA, openedB] = await Promise.all([a.open(), b.open()]);
    assert.equal(openedA.url, openedB.url);
    assert.deepEqual([openedA.joined, openedB.joined].sort(), [false, true], 'one started, one joined');
    const serverPid = postmaster(dataDir);
    assert.ok(serverPid, 'the server runs');

    const [starter, joiner] = openedA.joined ? [b, a] : [a, b];
    assert.deepEqual(await starter.send('stop'), { event: 'stopped' });
    assert.equal(await starter.exited, 0);
    assert.equal(
      postmaster(dataDir),
      serverPid,
      'the starter leaving does not stop the server of the joiner',
    );
    assert.equal((await joiner.send('query'))?.event, 'queried');

    assert.deepEqual(await joiner.send('stop'), { event: 'stopped' });
    assert.equal(postmaster(dataDir), undefined, 'the last user stopped the server');
    assert.equal(existsSync(path.join(dataDir, 'PG_VERSION')), true, 'the cluster is kept');
  });

  it('a server left by a SIGKILLed process is restarted by the next open; process.exit leaves cleanly', async () => {
    // Both load now; `next` opens only after the kill.
    // The default port is only preferred (a free one is taken when it is busy), as with `npm start`.
    const [killed, next] = [user('preferredPort'), user('preferredPort')];
    const first = await killed.open();
    assert.equal(new URL(first.url ?? '').port, String(port));
    const orphan = postmaster(dataDir);
    assert.ok(orphan);
    killed.child.kill('SIGKILL');
    await killed.exited;
    assert.equal(postmaster(dataDir), orphan, 'SIGKILL cannot stop the server');

    const opened = await next.open();
    assert.equal(opened.joined, false, 'a dead process is not a user to join');
    const restarted = postmaster(dataDir);
    assert.ok(restarted && restarted !== orphan, 'the orphan was replaced by a fresh server');
    assert.equal(isPostmasterAlive(orphan, dataDir), false);
    assert.equal(opened.url, first.url, 'the orphan is stopped before the port check: same port, same URL');

    // No stop(): the exit hook leaves, and as the last user stops the server.
    await next.send('exit');
    await waitForStop(dataDir);
  });

  it('uses DATABASE_URL as given, without starting anything', async () => {
    const database = await openLocalDatabase({
      databaseUrl: 'postgres://u:p@db.example:5432/glisk',
      dataDir,
    });
    assert.deepEqual(
      { url: database.url, embedded: database.embedded },
      {
        url: 'postgres://u:p@db.example:5432/glisk',
        embedded: false,
      },
    );
    await database.stop();
    assert.equal(postmaster(dataDir), undefined);
  });

  it('in process: stop() is idempotent and the explicit port is honoured', async () => {
    const database = await openLocalDatabase({ databaseUrl: '', dataDir, port });
    try {
      assert.equal(new URL(database.url).port, String(port));
      assert.equal(database.embedded, true);
    } finally {
      await Promise.all([database.stop(), database.stop()]);
      await database.stop();
    }
    assert.equal(postmaster(dataDir), undefined);
  });
});

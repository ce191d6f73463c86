// npm run db:studio: Drizzle Studio's local server comes up on the database the service would use, and stops on
// SIGTERM (a real process, as a user starts it); bad arguments are refused with exit 1 and --help prints the
// usage (the command's main in this process: the same code without a process and tsx start-up each).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from '../../src/cli/studio.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { closedPort, REPO_ROOT } from '../helpers/http.js';

const TSX = pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const STUDIO = path.join(REPO_ROOT, 'src/cli/studio.ts');

function studio(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', TSX, STUDIO, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? REPO_ROOT, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/** The command's main in this process, with captured output and exactly `env`. */
async function studioInProcess(args: string[], env: Record<string, string>) {
  let output = '';
  const write = (text: string) => (output += text);
  const code = await main(args, { stdout: { write }, stderr: { write }, env });
  return { code, output };
}

describe('npm run db:studio', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase();
  });
  after(() => testDb.drop());

  it('starts Drizzle Studio on DATABASE_URL and stops on SIGTERM', async () => {
    const port = await closedPort();
    const run = studio(['--port', String(port)], { DATABASE_URL: testDb.url });
    try {
      const deadline = Date.now() + 30_000;
      while (!run.output().includes('Drizzle Studio is up and running')) {
        if (Date.now() > deadline || run.child.exitCode !== null)
          assert.fail(`Studio did not start:\n${run.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.match(run.output(), /db:studio: starting Drizzle Studio on postgres:\/\/postgres:\*\*\*@/);
      // Studio's local server answers HTTP on the chosen port.
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      assert.ok(res.status > 0);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });

  it('refuses unknown arguments with exit 1, and prints --help', async () => {
    const bad = await studioInProcess(['--bogus'], { DATABASE_URL: testDb.url });
    assert.equal(bad.code, 1);
    assert.match(bad.output, /unknown argument --bogus/);
    const help = await studioInProcess(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.output, /^Usage: npm run db:studio/);
  });
});

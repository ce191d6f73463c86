// npm run dev: --help and bad arguments in-process; then the one real run, in a copy of the project (so its
// embedded PostgreSQL lives in the copy's .data/, not the developer's): a change to a source file restarts
// the service, which joins the same PostgreSQL server instead of starting a new one; Ctrl-C stops both.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/dev.js';
import { isPostmasterAlive, readPostmasterPidSync } from '../../src/dev/postmaster.js';
import { REPO_ROOT } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
  });
  return { code, stdout, stderr };
}

describe('npm run dev', () => {
  it('--help prints the usage and exits 0 (nothing is started or watched)', async () => {
    const result = await run(['--', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: npm run dev \[-- --help\]/);
    assert.match(result.stdout, /kept running across the restarts/);
  });

  it('refuses an unknown argument with exit 2', async () => {
    const result = await run(['--port', '1']);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'dev: unknown argument --port 1 (see --help)\n');
  });

  describe('running', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'glisk-dev-'));
    // Run as root, the embedded server runs as the postgres user, who must be able to pass through.
    chmodSync(root, 0o755);
    for (const item of ['src', 'drizzle', 'package.json', 'tsconfig.json']) {
      cpSync(path.join(REPO_ROOT, item), path.join(root, item), { recursive: true });
    }
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
    const dataDir = path.join(root, '.data/postgres');
    let postmaster: number | undefined;
    after(() => {
      // A failed assertion must not leave the copy's PostgreSQL running.
      if (postmaster !== undefined && isPostmasterAlive(postmaster, dataDir))
        process.kill(postmaster, 'SIGQUIT');
      rmSync(root, { recursive: true, force: true });
    });

    it('keeps the embedded PostgreSQL across a restart on change; Ctrl-C stops the service and it', async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/dev.ts')], {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? root,
          HOST: '127.0.0.1',
          PORT: '0',
          LOG_FORMAT: 'json',
          WORKERS: 'none',
          GAP_SCAN_ENABLED: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, signalled as a whole like Ctrl-C in a terminal.
        detached: true,
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const listening = () => out.match(/"message":"http\.listening"/g)?.length ?? 0;
      try {
        await waitUntil(() => listening() === 1 || child.exitCode !== null, {
          what: 'the first start',
          timeoutMs: 60_000,
        });
        assert.match(out, /dev: the embedded PostgreSQL on port \d+ .* stays up while the service restarts/);
        // The service joined the server dev started: it is not the one that stops it.
        assert.match(out, /joined the embedded PostgreSQL 17 already running for this checkout/);
        postmaster = readPostmasterPidSync(dataDir)?.pid;
        assert.ok(postmaster !== undefined, out);

        appendFileSync(path.join(root, 'src/main.ts'), '\n// changed\n');
        await waitUntil(() => listening() === 2 || child.exitCode !== null, {
          what: 'the restart after a change',
          timeoutMs: 60_000,
        });
        assert.equal(out.match(/joined the embedded PostgreSQL 17 already running/g)?.length, 2, out);
        assert.doesNotMatch(out, /embedded PostgreSQL on port \d+ stopped/);
        assert.equal(readPostmasterPidSync(dataDir)?.pid, postmaster, 'the same server');
        assert.ok(isPostmasterAlive(postmaster, dataDir));

        process.kill(-(child.pid ?? 0), 'SIGINT');
        assert.equal(await exited, 0, out);
        assert.equal(isPostmasterAlive(postmaster, dataDir), false, 'the server stopped with dev');
      } finally {
        if (child.exitCode === null) process.kill(-(child.pid ?? 0), 'SIGKILL');
      }
    });
  });
});

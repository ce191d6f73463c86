// `npm run demo`: one real run as a user starts it (a child process, small N), which must verify every token on
// chain and leave nothing running; --help and bad arguments through the command's main in this process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/demo.js';
import { compiledEntry } from '../helpers/compiled.js';
import { REPO_ROOT } from '../helpers/http.js';

type Run = { code: number | null; stdout: string; stderr: string };

const children = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function runDemo(args: string[], timeoutMs: number): Promise<Run> {
  // The command's source bundled (tests/helpers/compiled.ts): the same code as through tsx.
  const child = spawn(process.execPath, [...compiledEntry('cli/demo.ts'), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the demo did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function inProcess(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
  });
  return { code, stdout, stderr };
}

describe('npm run demo', () => {
  it('mints, reveals and verifies 3 tokens on chain, reports the gas, and stops everything it started', async () => {
    const run = await runDemo(['--tokens', '3', '--batch-wait', '1'], 100_000);
    const output = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    assert.equal(run.code, 0, output);
    assert.match(run.stdout, /minting 3 tokens in 2 mints \(2, 1\)/, output);
    // Not a terminal: plain progress lines, one per state seen at least every few seconds, none rewritten.
    assert.match(run.stdout, /^\[#+\.*\] \d\/3 revealed \| detected \d+ .* \| [\d.]+ s$/m, output);
    assert.doesNotMatch(run.stdout, /\r/);
    assert.match(
      run.stdout,
      /summary: reveal transactions: 2 confirmed \(batch sizes 2, 1\), 0 not confirmed/,
    );
    assert.match(
      run.stdout,
      /summary: keeper: 2 transactions on chain, 2 known to the service, 0 revealed nothing/,
    );
    assert.match(run.stdout, /summary: batch of 1: 117488 gas per token .*with CIDv1 URIs 139957 per token/);
    assert.match(run.stdout, /summary: gas spent on transactions that revealed nothing: 0$/m);
    assert.match(run.stdout, /summary: verified for all 3 tokens/);
    assert.match(run.stdout, /demo: OK in/);

    const logFile = /service log (\S+)/.exec(run.stdout)?.[1];
    const postgresPort = Number(/PostgreSQL on port (\d+)/.exec(run.stdout)?.[1]);
    const servicePort = Number(/service http:\/\/127\.0\.0\.1:(\d+) ready/.exec(run.stdout)?.[1]);
    assert.ok(logFile !== undefined && postgresPort > 0 && servicePort > 0, output);
    assert.equal(existsSync(path.dirname(logFile)), false, 'the working directory is removed');
    assert.equal(await listening(postgresPort), false, 'the embedded PostgreSQL is stopped');
    assert.equal(await listening(servicePort), false, 'the service is stopped');
  });

  it('--help describes the command and exits 0', async () => {
    const run = await inProcess(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: npm run demo -- \[--tokens 200\]/);
    assert.match(run.stdout, /--batch-wait <s>/);
    assert.match(run.stdout, /Exit status: 0 every check held/);
  });

  for (const [argv, message] of [
    [['--tokens', '0'], /--tokens must be a whole number from 1 to 2000, got "0"/],
    [['--tokens', '2.5'], /--tokens must be a whole number from 1 to 2000, got "2.5"/],
    [['--timeout', 'soon'], /--timeout must be a whole number from 10 to 3600, got "soon"/],
    [['--batch-wait', '61'], /--batch-wait must be a whole number from 1 to 60, got "61"/],
    [['--colour'], /Unknown option '--colour'/],
    [['200'], /Unexpected argument '200'/],
  ] as const) {
    it(`refuses ${argv.join(' ')} with exit 2 and starts nothing`, async () => {
      const run = await inProcess([...argv]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /\(see --help\)$/m);
      assert.equal(run.stdout, '');
    });
  }
});

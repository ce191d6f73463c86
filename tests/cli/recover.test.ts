// `npm run recover` with its help, progress, summary and exit codes (0 complete, 2 partial, 1 failed) against the
// test chain and database. One run is a real child process, as an operator starts it (argv, environment, output
// and exit status wired to the process); the others call the command's main in this process, which is the same
// code without ~1.5 s of process and tsx start-up each.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { encodeFunctionData } from 'viem';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { main } from '../../src/cli/recover.js';
import { compiledEntry } from '../helpers/compiled.js';
import { type TestDatabase } from '../helpers/database.js';
import { assertScenarioRecorded, countRows } from '../helpers/mint-scenario.js';
import { mineOneByOne, scenarioChain } from '../helpers/scenario-chain.js';

type Run = { code: number | null; stdout: string; stderr: string; both?: string };

/** The command in this process: its main, with captured output and exactly this environment. */
async function recover(args: string[], env: Record<string, string>): Promise<Run> {
  let stdout = '';
  let stderr = '';
  // Both streams in the order written, as a terminal shows them.
  let both = '';
  const code = await main(args, {
    stdout: { write: (text: string) => ((stdout += text), (both += text)) },
    stderr: { write: (text: string) => ((stderr += text), (both += text)) },
    env,
  });
  return { code, stdout, stderr, both };
}

/**
 * The command as a process, as `npm run recover` starts it without npm in between: its source bundled
 * (tests/helpers/compiled.ts), the same code as through tsx without its ~2.4 s of CPU.
 */
function recoverProcess(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...compiledEntry('cli/recover.ts'), ...args], {
      env: { PATH: process.env.PATH ?? '', TZ: 'UTC', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run recover', () => {
  const onChain = scenarioChain({ after: (chain) => mineOneByOne(chain, 3) });
  let t: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    t = await onChain.database();
    env = {
      DATABASE_URL: t.url,
      RPC_URL: onChain.proxy.url,
      GLISK_NFT_CONTRACT_ADDRESS: onChain.chain.contractAddress,
      CONFIRMATIONS: '2',
    };
  });

  it('--help explains the command and exits 0; a bad argument exits 1', async () => {
    const help = await recover(['--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: npm run recover -- \[--dry-run\] \[--limit N\]/);
    assert.match(help.stdout, /Exit status: 0 .*2 partial/s);
    const bad = await recover(['--limit', 'ten'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--limit must be a whole number/);
    const unknown = await recover(['--force'], env);
    assert.equal(unknown.code, 1);
  });

  it('--dry-run reports what it would record and writes nothing', async () => {
    const run = await recover(['--dry-run'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /58 missing/);
    assert.match(run.stdout, /would record 58: 1-58/);
    assert.match(run.stderr, /recover: trace 58\/58/);
    // It says what it found before its progress, and has no write phase to report.
    assert.match(run.both ?? '', /^recover: nextTokenId 59 at block \d+; 58 missing\nrecover: read /);
    assert.doesNotMatch(run.stderr, /write/);
    assert.deepEqual(await countRows(t.db), { tokens: 0, events: 0, authors: 0 });
  });

  it('exits 2 when an id fails, naming it, and 0 once everything is recovered', async () => {
    const failing = encodeFunctionData({ abi: gliskS0Abi, functionName: 'isRevealed', args: [7n] });
    onChain.proxy.refuse = (request) =>
      request.method === 'eth_call' && JSON.stringify(request.params).includes(failing);
    let partial: Run;
    try {
      // The one child process: exit status 2 can only come from main's answer reaching the process.
      partial = await recoverProcess(['--limit', '30'], env);
    } finally {
      onChain.proxy.refuse = undefined;
    }
    assert.equal(partial.code, 2, partial.stderr);
    assert.match(partial.stdout, /recorded 29/);
    assert.match(partial.stdout, /token 7 failed: .*execution aborted/);
    assert.equal((await countRows(t.db)).tokens, 29);

    const rest = await recover([], env);
    assert.equal(rest.code, 0, rest.stderr);
    assert.match(rest.stdout, /recorded 29/);
    await assertScenarioRecorded(t.db, onChain.scenario);
    const again = await recover([], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /0 missing/);
  });

  it('exits 1 when the chain is unreachable', async () => {
    const run = await recover([], { ...env, RPC_URL: 'http://127.0.0.1:9' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /recover failed: /);
  });
});

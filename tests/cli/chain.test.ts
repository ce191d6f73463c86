// `npm run chain` and `npm run mint` against a real chain: exit codes and output. `npm run chain` and one mint run
// as real processes, as a user starts them (the chain's SIGINT handling, and that a mint process ends once
// done); the other mint cases call the command's main in this process, the same code without ~1.5 s of process
// and tsx start-up each.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getAddress, isHash, keccak256, toHex, type Address } from 'viem';
import { createChainPublicClient } from '../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { main as mintMain } from '../../src/cli/mint.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const children = new Set<ChildProcess>();
after(() => {
  // A failed assertion must not leave a chain process running.
  for (const child of children) child.kill('SIGKILL');
});

function launch(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finished(child: ChildProcess, timeoutMs = 30_000): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`process did not finish within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The mint command in this process: its main, with captured output and an empty environment. */
async function mintInProcess(args: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await mintMain(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
  });
  return { code, stdout, stderr };
}

// Independent cases (only the first one mints), so they run at once: each mostly waits on the chain.
describe('npm run mint', { concurrency: true }, () => {
  let chain: TestChain;
  let author: Address;
  const flags = () => ['--rpc-url', chain.rpcUrl, '--contract', chain.contractAddress];
  const mint = (...args: string[]) => mintInProcess([...flags(), ...args]);

  before(async () => {
    chain = await startTestChain();
    const authorAccount = chain.accounts.minters[5];
    assert.ok(authorAccount);
    author = authorAccount.address;
  });
  after(() => chain?.stop());

  it('mints and prints the tx hash, block and token ids', async () => {
    // The one mint process: a command whose clients keep polling would never exit and time out here.
    const result = await finished(
      launch('src/cli/mint.ts', [...flags(), '--author', author.toLowerCase(), '--quantity', '7']),
    );
    assert.equal(result.code, 0, result.stderr);
    const txHash = /^tx hash: +(0x[0-9a-f]{64})$/m.exec(result.stdout)?.[1];
    assert.ok(txHash !== undefined && isHash(txHash), result.stdout);
    assert.match(result.stdout, /^token ids: 1\.\.7$/m);
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: txHash });
    assert.match(result.stdout, new RegExp(`^block: +${receipt.blockNumber}$`, 'm'));
    const recorded = await chain.publicClient.readContract({
      address: chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'tokenPromptAuthor',
      args: [7n],
    });
    assert.equal(recorded, author);
  });

  it('quantity 51 fails with exit 1, naming ExceedsMaxBatchSize', async () => {
    const result = await mint('--author', author, '--quantity', '51');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ExceedsMaxBatchSize/);
  });

  it('a bad author address is a usage error (exit 2) and sends nothing', async () => {
    const result = await mint('--author', '0x1234', '--quantity', '1');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--author must be a 0x address/);
  });

  it('an unreachable chain fails with exit 1 and says so', async () => {
    const result = await mintInProcess([
      '--rpc-url',
      'http://127.0.0.1:9',
      '--contract',
      chain.contractAddress,
      '--author',
      author,
      '--quantity',
      '1',
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot reach the chain at http:\/\/127\.0\.0\.1:9/);
  });
});

describe('npm run chain', () => {
  it('serves a chain with the contract and keeper role, prints .env lines, and stops cleanly on SIGINT', async () => {
    const child = launch('src/cli/chain.ts', ['--port', '0']);
    let stdout = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chain did not start; output: ${stdout}`)), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Ctrl-C to stop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`chain exited early (${code}); output: ${stdout}`)));
    });
    const done = finished(child);
    await ready;

    const line = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(stdout)?.[1];
    const rpcUrl = line('RPC_URL');
    const contract = line('GLISK_NFT_CONTRACT_ADDRESS');
    const keeperKey = line('KEEPER_PRIVATE_KEY');
    assert.ok(rpcUrl && contract && keeperKey, stdout);
    assert.match(rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(contract, getAddress(contract), 'the address is printed checksummed');
    assert.match(keeperKey, /^0x[0-9a-f]{64}$/);

    const client = createChainPublicClient({ rpcUrl });
    const keeper = /keeper (0x[0-9a-fA-F]{40})/.exec(stdout)?.[1];
    assert.ok(keeper);
    const hasRole = await client.readContract({
      address: getAddress(contract),
      abi: gliskS0Abi,
      functionName: 'hasRole',
      args: [keccak256(toHex('KEEPER_ROLE')), getAddress(keeper)],
    });
    assert.equal(hasRole, true);

    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /chain: stopped/);
    await assert.rejects(client.getBlockNumber({ cacheTime: 0 }), 'the port is closed after stop');
  });
});

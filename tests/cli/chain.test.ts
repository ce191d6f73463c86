// `npm run chain` and `npm run mint` against a real chain: exit codes and output. `npm run chain` and one mint run
// as real processes, as a user starts them (the chain's SIGINT handling, and that a mint process ends once
// done); the other mint cases call the command's main in this process, the same code without ~1.5 s of process
// and tsx start-up each.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getAddress, isHash, keccak256, toHex, type Address } from 'viem';
import { createChainPublicClient } from '../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { main as mintMain } from '../../src/cli/mint.js';
import { findFreePort } from '../../src/dev/ports.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { compiledEntry } from '../helpers/compiled.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const children = new Set<ChildProcess>();
after(() => {
  // A failed assertion must not leave a chain process running.
  for (const child of children) child.kill('SIGKILL');
});

/** The command as a process, its source bundled (tests/helpers/compiled.ts): the same code as through tsx. */
function launch(source: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [...compiledEntry(source), ...args], {
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
  // --wait 0: these cases are about the mint, not the service it waits for (see the cases below).
  const flags = () => ['--rpc-url', chain.rpcUrl, '--contract', chain.contractAddress, '--wait', '0'];
  const mint = (...args: string[]) => mintInProcess([...flags(), ...args]);
  // The cases that mint run at once: each sends from its own account, so their nonces never collide.
  const mintAs = (minter: number, ...args: string[]) => {
    const key = chain.accounts.minters[minter]?.privateKey;
    assert.ok(key);
    return mintInProcess([...flags().slice(0, 4), '--private-key', key, ...args]);
  };

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
      launch('cli/mint.ts', [...flags(), '--author', author.toLowerCase(), '--quantity', '7']),
    );
    assert.equal(result.code, 0, result.stderr);
    const txHash = /^tx hash: +(0x[0-9a-f]{64})$/m.exec(result.stdout)?.[1];
    assert.ok(txHash !== undefined && isHash(txHash), result.stdout);
    // Other cases mint at the same time: the ids are 7 in a row, the author recorded on the last.
    const [, first, last] = /^token ids: (\d+)\.\.(\d+)$/m.exec(result.stdout) ?? [];
    assert.equal(Number(last) - Number(first), 6, result.stdout);
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: txHash });
    assert.match(result.stdout, new RegExp(`^block: +${receipt.blockNumber}$`, 'm'));
    const recorded = await chain.publicClient.readContract({
      address: chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'tokenPromptAuthor',
      args: [BigInt(last ?? 0)],
    });
    assert.equal(recorded, author);
  });

  it('then waits until the service has the tokens, and says so', async () => {
    // The service's read API as mint sees it: 404 until the follower has ingested the mint, then 200.
    const paths: string[] = [];
    const api = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(paths.length < 3 ? 404 : 200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
      const result = await mintAs(1, '--api-url', apiUrl, '--author', author, '--quantity', '2');
      assert.equal(result.code, 0, result.stderr);
      const [, first, last] = /^token ids: (\d+)\.\.(\d+)$/m.exec(result.stdout) ?? [];
      assert.match(
        result.stdout,
        new RegExp(
          `^service: +has token ids ${first}\\.\\.${last} after [\\d.]+ s \\(${apiUrl}/api/tokens/${last}\\)$`,
          'm',
        ),
      );
      assert.deepEqual(
        paths,
        [1, 2, 3].map(() => `/api/tokens/${last}`),
      );
    } finally {
      api.close();
    }
  });

  it('gives up after --wait seconds when the service never has them, saying why it may not', async () => {
    const api = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
      const result = await mintAs(
        2,
        '--api-url',
        apiUrl,
        '--wait',
        '1',
        '--author',
        author,
        '--quantity',
        '1',
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        /the service at http:\/\/127\.0\.0\.1:\d+ does not have token \d+ after 1 s \(it answers 404\): does it follow this chain/,
      );
    } finally {
      api.close();
    }
  });

  it('says when no service answers, and still exits 0 (the mint succeeded)', async () => {
    const apiUrl = `http://127.0.0.1:${await findFreePort()}`;
    const result = await mintAs(3, '--api-url', apiUrl, '--author', author, '--quantity', '1');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^token ids: \d+$/m);
    assert.ok(result.stderr.includes(`no service answers at ${apiUrl}, so not waiting`), result.stderr);
  });

  it('a bad --wait is a usage error (exit 2)', async () => {
    const result = await mintInProcess(['--author', author, '--quantity', '1', '--wait', '601']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--wait must be a whole number of seconds from 0 to 600, got "601"/);
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
    const child = launch('cli/chain.ts', ['--port', '0']);
    let stdout = '';
    const ready = new Promise<void>((resolve, reject) => {
      // Generous: a tsx process that starts hardhat and deploys took over 30 s at load ~20.
      const timer = setTimeout(() => reject(new Error(`chain did not start; output: ${stdout}`)), 90_000);
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
    // The follower of a service with these lines sees a mint within about a second.
    assert.equal(line('POLL_INTERVAL_SECONDS'), '1');

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

// The reveal sender on a real local chain (hardhat in-process) and a real PostgreSQL, with a JSON-RPC proxy in
// front of the chain that answers like hosted nodes do (already known, replacement underpriced, nonce too low,
// missing receipts). Every test mints real tokens and checks the chain, not only the database.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createTestClient, http, keccak256, parseTransaction, decodeFunctionData, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { gliskS0Abi } from '../../../src/providers/chain/glisk-s0.abi.js';
import { createChainWalletClient } from '../../../src/providers/chain/client.js';
import { eq, inArray } from 'drizzle-orm';
import { revealAttempts, revealTransactions, tokens } from '../../../src/db/schema.js';
import { computeCid, toCidV0 } from '../../../src/lib/cid.js';
import { createLogger } from '../../../src/logger.js';
import { connectRevealChain } from '../../../src/providers/chain/reveal-chain.js';
import { STAGES } from '../../../src/domain/stages.js';
import * as tokenClaims from '../../../src/repositories/token-claims.repository.js';
import { gweiToWei } from '../../../src/stages/reveal/fees.js';
import {
  RevealSender,
  type BatchToken,
  type RevealSettings,
} from '../../../src/stages/reveal/reveal-sender.js';
import { startTestChain, type TestChain } from '../../helpers/chain.js';
import { mintReadyTokens } from '../../helpers/reveal-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { insertAuthor, insertTokens } from '../../helpers/db-fixtures.js';
import { startTestApp } from '../../helpers/http.js';
import { metricDeltas, readMetric } from '../../helpers/metrics.js';
import { startRpcProxy, type JsonRpcRequest, type RpcProxy } from '../../helpers/rpc-proxy.js';

let chain: TestChain;
let proxy: RpcProxy;
let database: TestDatabase;
let logs: string[];
let controller: AbortController;

const settings: RevealSettings = {
  gasBuffer: 1.2,
  maxGasPriceWei: undefined,
  transactionTimeoutMs: 60_000,
  maxFeeBumps: 3,
  maxAttempts: 3,
  pollIntervalMs: 20,
  retryBaseSeconds: 0,
  retryCapSeconds: 0,
};

let snapshot: Hex;

// One chain for the file, rewound to the deployment after each test (hardhat's evm_snapshot/evm_revert).
before(async () => {
  chain = await startTestChain();
});
after(async () => {
  controller?.abort();
  await chain?.stop();
});

beforeEach(async () => {
  snapshot = await testClient().snapshot();
  proxy = await startRpcProxy(chain.rpcUrl);
  database = await createTestDatabase();
  logs = [];
  controller = new AbortController();
});
afterEach(async () => {
  controller.abort();
  await proxy.stop();
  await testClient().setAutomine(true);
  await testClient().revert({ id: snapshot });
  // Nor any error recorded in the database (the API serves these), nor any log line (below).
  const key = chain.accounts.keeper.privateKey.slice(2).toLowerCase();
  const [recorded] = await database.sql<{ text: string }[]>`
    select coalesce(string_agg(e::text, ' '), '') as text from (
      select error_data as e from reveal_transactions union all
      select broadcast_error from reveal_attempts union all select error_data from tokens_s0) errors`;
  assert.ok(
    !(recorded?.text ?? '').toLowerCase().includes(key),
    'an error recorded in the database carries the key',
  );
  await database.drop();
  // The keeper's key never reaches a log line, whatever happened in the test.
  for (const line of logs)
    assert.ok(!line.toLowerCase().includes(key), `a log line carries the key: ${line}`);
});

function logger() {
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) =>
    logs.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    ),
  );
  return createLogger({ level: 'debug', format: 'json', stream });
}

async function sender(overrides: Partial<RevealSettings> = {}, rpcUrl = proxy.url): Promise<RevealSender> {
  const revealChain = await connectRevealChain({
    rpcUrl,
    contractAddress: chain.contractAddress,
    account: privateKeyToAccount(chain.accounts.keeper.privateKey),
  });
  return new RevealSender({
    database: database.database,
    chain: revealChain,
    settings: { ...settings, ...overrides },
    logger: logger(),
  });
}

/** Mints `count` tokens on chain and records them `ready` with real metadata CIDs. */
const readyTokens = (count: number) => mintReadyTokens(chain, database.db, count, metadataCidOf);

async function metadataCidOf(tokenId: number): Promise<string> {
  return computeCid(new TextEncoder().encode(JSON.stringify({ name: `GLISK #${tokenId}` })), 'dag-pb');
}

async function claim(limit = 50): Promise<BatchToken[]> {
  return tokenClaims
    .claimTokens(database.db, STAGES.reveal, {
      owner: 'test-worker',
      leaseSeconds: 60,
      limit,
    })
    .then((c) => c.tokens);
}

const contract = () => ({ address: chain.contractAddress, abi: gliskS0Abi }) as const;

async function assertRevealedOnChain(ids: readonly number[]): Promise<void> {
  for (const id of ids) {
    const uri = await chain.publicClient.readContract({
      ...contract(),
      functionName: 'tokenURI',
      args: [BigInt(id)],
    });
    assert.equal(uri, `ipfs://${toCidV0(await metadataCidOf(id))}`, `tokenURI of ${id}`);
  }
}

async function statuses(): Promise<Map<number, string>> {
  const rows = await database.db.select({ tokenId: tokens.tokenId, status: tokens.status }).from(tokens);
  return new Map(rows.map((r) => [r.tokenId, r.status]));
}

/** Reveal transactions the keeper sent that reached the chain (mined), by nonce. */
async function keeperNonce(): Promise<number> {
  return chain.publicClient.getTransactionCount({
    address: chain.accounts.keeper.address,
    blockTag: 'latest',
  });
}

const sendRaw = (r: JsonRpcRequest) => r.method === 'eth_sendRawTransaction';
const receiptOf = (r: JsonRpcRequest) => r.method === 'eth_getTransactionReceipt';

function testClient() {
  return createTestClient({ mode: 'hardhat', chain: chain.chain, transport: http(chain.rpcUrl) });
}

/** Polls a condition (a database or chain read) until it holds; fails after a bound. */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The reveal's metrics (src/metrics/reveal-metrics.ts), read as differences around a test's reveal. */
const REVEAL_SERIES = {
  confirmed: ['glisk_reveal_transactions_total', { outcome: 'confirmed' }],
  reverted: ['glisk_reveal_transactions_total', { outcome: 'reverted' }],
  replaced: ['glisk_reveal_transactions_total', { outcome: 'replaced' }],
  gasUsed: ['glisk_reveal_gas_used_total', {}],
  feesWei: ['glisk_reveal_fees_paid_wei_total', {}],
  batches: ['glisk_reveal_batch_tokens_count', {}],
  batchTokens: ['glisk_reveal_batch_tokens_sum', {}],
  revealedByTransaction: ['glisk_revealed_tokens_total', { via: 'transaction' }],
  revealedSynced: ['glisk_revealed_tokens_total', { via: 'synced' }],
} satisfies Record<string, [string, Record<string, string>]>;
const NO_REVEAL_CHANGE = Object.fromEntries(Object.keys(REVEAL_SERIES).map((key) => [key, 0]));

describe('reveal sender', () => {
  it('reveals a batch of 50 in one transaction, tokenURI = ipfs:// + the metadata CID in v0 form', async () => {
    const ids = await readyTokens(50);
    const revealSender = await sender();
    const delta = await metricDeltas(REVEAL_SERIES);
    const result = await revealSender.revealBatch(await claim(), controller.signal);
    assert.deepEqual(result.revealed, ids);
    assert.ok(result.txHash);
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: result.txHash });
    assert.deepEqual(await delta(), {
      ...NO_REVEAL_CHANGE,
      confirmed: 1,
      gasUsed: Number(receipt.gasUsed),
      feesWei: Number(receipt.gasUsed * receipt.effectiveGasPrice),
      batches: 1,
      batchTokens: 50,
      revealedByTransaction: 50,
    });
    assert.ok(receipt.gasUsed > 0n && receipt.effectiveGasPrice > 0n);
    assert.ok((await readMetric('glisk_keeper_balance_wei')) > 0, 'the keeper balance read before sending');
    await assertRevealedOnChain(ids);
    const [row] = await database.db.select().from(revealTransactions);
    assert.equal(row?.status, 'confirmed');
    assert.equal(row?.txHash, result.txHash);
    assert.equal(row?.nonce, 0);
    assert.ok((row?.gasUsed ?? 0) > 0);
    assert.equal(row?.tokenRowIds.length, 50);
    const attempts = await database.db.select().from(revealAttempts);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.txHash, keccak256(attempts[0]?.rawTransaction as Hex));
    const rows = await database.db.select().from(tokens).where(inArray(tokens.tokenId, ids));
    assert.ok(
      rows.every((t) => t.status === 'revealed' && t.revealTxHash === result.txHash && t.leaseOwner === null),
    );
    assert.equal(await keeperNonce(), 1);
  });

  it('syncs a token revealed by someone else without resending it, reading isRevealed in one batch', async () => {
    const ids = await readyTokens(5);
    const [first] = ids;
    assert.ok(first !== undefined);
    // The admin (deployer) reveals one token directly, outside the service.
    await chain.reveal([first], ['ipfs://elsewhere'], chain.accounts.deployer);
    proxy.requests.length = 0;
    const synced = await metricDeltas({ synced: REVEAL_SERIES.revealedSynced });
    const result = await (await sender()).revealBatch(await claim(), controller.signal);
    assert.deepEqual(result.synced, [first]);
    assert.deepEqual(await synced(), { synced: 1 });
    assert.deepEqual(result.revealed, ids.slice(1));
    // The sent transaction names only the other four.
    const raw = proxy.requests.find(sendRaw)?.params?.[0] as Hex;
    const { data } = parseTransaction(raw);
    assert.ok(data);
    const decoded = decodeFunctionData({ abi: gliskS0Abi, data });
    assert.deepEqual(decoded.args?.[0], ids.slice(1).map(BigInt));
    // isRevealed of the five candidates went out as one JSON-RPC batch (one HTTP request): the proxy saw them
    // together, before the first estimate.
    const isRevealedCalls = proxy.requests.filter((r) => r.method === 'eth_call').length;
    assert.ok(isRevealedCalls >= 6, 'nextTokenId + 5 isRevealed reads');
    const states = await statuses();
    assert.ok(ids.every((id) => states.get(id) === 'revealed'));
    const uri = await chain.publicClient.readContract({
      ...contract(),
      functionName: 'tokenURI',
      args: [BigInt(first)],
    });
    assert.equal(uri, 'ipfs://elsewhere', 'the token revealed elsewhere keeps its URI');
  });

  it('never includes an id that was not minted', async () => {
    const ids = await readyTokens(2);
    // The contract's next id (the first not minted: the edge) and one far past it.
    const next = Number(
      await chain.publicClient.readContract({ ...contract(), functionName: 'nextTokenId' }),
    );
    const author = await insertAuthor(database.db, 999);
    for (const id of [next, 999]) {
      const cid = await metadataCidOf(id);
      await insertTokens(database.db, author, [id], { status: 'ready', imageCid: cid, metadataCid: cid });
    }
    const result = await (await sender()).revealBatch(await claim(), controller.signal);
    assert.deepEqual(result.revealed, ids);
    assert.deepEqual(result.deferred, [next, 999]);
    for (const id of [next, 999]) {
      const [token] = await database.db.select().from(tokens).where(eq(tokens.tokenId, id));
      assert.equal(token?.status, 'ready');
      assert.equal(token?.errorData?.code, 'NOT_MINTED');
      assert.equal(token?.leaseOwner, null, `${id} is given back, not left leased`);
    }
  });

  it('leaves out a token whose lease another claimer took before the batch was recorded', async () => {
    const [kept, taken] = await readyTokens(2);
    assert.ok(kept !== undefined && taken !== undefined);
    const claimed = await claim();
    // Still `ready`, but leased to someone else now (our lease expired and was reclaimed).
    await database.db.update(tokens).set({ leaseOwner: 'other-worker' }).where(eq(tokens.tokenId, taken));
    const result = await (await sender()).revealBatch(claimed, controller.signal);
    assert.deepEqual(result.revealed, [kept]);
    const [row] = await database.db.select().from(revealTransactions);
    assert.equal(row?.tokenRowIds.length, 1, 'the batch row names only the token still held');
    const onChain = await chain.publicClient.readContract({
      ...contract(),
      functionName: 'isRevealed',
      args: [BigInt(taken)],
    });
    assert.equal(onChain, false, 'the token held by the other claimer was not sent');
    const [other] = await database.db.select().from(tokens).where(eq(tokens.tokenId, taken));
    assert.equal(other?.status, 'ready');
    assert.equal(other?.leaseOwner, 'other-worker');
    assert.ok(logs.some((l) => l.includes('reveal.lease_lost') && l.includes(String(taken))));
  });

  it('signs the next batch at the nonce after our last one, even when a lagging node reports an older count', async () => {
    const ids = await readyTokens(2);
    const revealSender = await sender();
    const first = await revealSender.revealBatch(await claim(1), controller.signal);
    assert.deepEqual(first.revealed, ids.slice(0, 1));
    // A load-balanced node one block behind: the keeper's mined count before the first batch.
    proxy.override = (r) =>
      r.method === 'eth_getTransactionCount' && r.params?.[1] === 'latest' ? { result: '0x0' } : undefined;
    const running = revealSender.revealBatch(await claim(1), controller.signal);
    running.catch(() => undefined);
    await until(
      'the second batch signed',
      async () => (await database.db.select().from(revealAttempts)).length === 2,
    );
    const nonces = (await database.db.select({ nonce: revealAttempts.nonce }).from(revealAttempts))
      .map((a) => a.nonce)
      .sort();
    assert.deepEqual(nonces, [0, 1], 'a nonce already used is never signed again');
    assert.deepEqual((await running).revealed, ids.slice(1));
    assert.equal(await keeperNonce(), 2);
  });

  it('replaces a stuck transaction (mining paused) with bumped fees; exactly one lands, every hash kept', async () => {
    const ids = await readyTokens(3);
    await testClient().setAutomine(false);
    const revealSender = await sender({ transactionTimeoutMs: 100, maxFeeBumps: 2 });
    const replaced = await metricDeltas({ replaced: REVEAL_SERIES.replaced });
    const running = revealSender.revealBatch(await claim(), controller.signal);
    await until(
      'two replacements',
      async () => (await database.db.select().from(revealAttempts)).length === 3,
    );
    // Let the last replacement be seen waiting a moment, then mine.
    await testClient().mine({ blocks: 1 });
    const result = await running;
    assert.deepEqual(result.revealed, ids);
    const attempts = await database.db.select().from(revealAttempts).orderBy(revealAttempts.bump);
    assert.equal(attempts.length, 3);
    assert.deepEqual(await replaced(), { replaced: 2 });
    assert.ok(attempts.every((a) => a.nonce === 0));
    for (let i = 1; i < attempts.length; i += 1) {
      const previous = attempts[i - 1];
      const current = attempts[i];
      assert.ok(previous && current);
      assert.ok(BigInt(current.maxFeePerGasWei) >= (BigInt(previous.maxFeePerGasWei) * 115n) / 100n + 1n);
      assert.ok(
        BigInt(current.maxPriorityFeePerGasWei) >=
          (BigInt(previous.maxPriorityFeePerGasWei) * 115n) / 100n + 1n,
      );
    }
    const landed = [];
    for (const attempt of attempts) {
      const receipt = await chain.publicClient
        .getTransactionReceipt({ hash: attempt.txHash as Hex })
        .catch(() => undefined);
      if (receipt) landed.push(attempt.txHash);
    }
    assert.deepEqual(landed, [result.txHash], 'exactly one of the hashes landed, the one recorded');
    assert.equal(await keeperNonce(), 1);

    // Operators see the batch with every hash; nothing in the answer carries the keeper's key.
    const app = await startTestApp({ testDb: database });
    try {
      const answer = await fetch(`${app.url}/api/reveal-transactions`);
      assert.equal(answer.status, 200);
      const text = await answer.text();
      assert.ok(!text.toLowerCase().includes(chain.accounts.keeper.privateKey.slice(2).toLowerCase()));
      const body = JSON.parse(text) as {
        items: {
          status: string;
          tokenIds: number[];
          txHash: string;
          attempts: { txHash: string; bump: number }[];
        }[];
        nextCursor: string | null;
      };
      assert.equal(body.items.length, 1);
      const [item] = body.items;
      assert.equal(item?.status, 'confirmed');
      assert.deepEqual(item?.tokenIds, ids);
      assert.equal(item?.txHash, result.txHash);
      assert.deepEqual(
        item?.attempts.map((a) => a.txHash),
        attempts.map((a) => a.txHash),
      );
      assert.equal(body.nextCursor, null);
      const bad = await fetch(`${app.url}/api/reveal-transactions?cursor=nope`);
      assert.equal(bad.status, 400);
    } finally {
      await app.close();
    }
  });

  it('splits a batch not included after every fee bump into halves at its nonce; every token revealed exactly once', async () => {
    const ids = await readyTokens(4);
    await testClient().setAutomine(false);
    const tokensOf = (a: { rawTransaction: string }) =>
      decodeFunctionData({ abi: gliskS0Abi, data: parseTransaction(a.rawTransaction as Hex).data ?? '0x' })
        .args?.[0] as readonly bigint[];
    // One fee bump allowed: 4 tokens, 4 tokens bumped, then 2, then 1, each replacing the last at nonce 0.
    const revealSender = await sender({ transactionTimeoutMs: 100, maxFeeBumps: 1 });
    const running = revealSender.revealBatch(await claim(), controller.signal);
    // An attempt is stored before it is broadcast: mine only once the node holds the one-token replacement, or
    // the block takes the two-token transaction it has not yet replaced.
    await until('split down to one token, broadcast', async () => {
      const single = (await database.db.select().from(revealAttempts)).find((a) => tokensOf(a).length === 1);
      if (!single) return false;
      return chain.publicClient.getTransaction({ hash: single.txHash as Hex }).then(
        () => true,
        () => false,
      );
    });
    // The token in flight is not claimable, nor are the ones left out while the batch can still land.
    assert.deepEqual(await claim(), []);
    await testClient().mine({ blocks: 1 });
    const result = await running;
    assert.deepEqual(result.revealed, [ids[0]]);
    assert.deepEqual(
      [...result.deferred].sort((a, b) => a - b),
      ids.slice(1),
    );
    const attempts = await database.db.select().from(revealAttempts).orderBy(revealAttempts.bump);
    assert.deepEqual(
      attempts.map((a) => tokensOf(a).map(Number)),
      [ids, ids, ids.slice(0, 2), ids.slice(0, 1)],
    );
    assert.ok(attempts.every((a) => a.nonce === 0));
    for (let i = 1; i < attempts.length; i += 1) {
      const [previous, current] = [attempts[i - 1], attempts[i]];
      assert.ok(previous && current);
      assert.ok(BigInt(current.maxFeePerGasWei) >= (BigInt(previous.maxFeePerGasWei) * 115n) / 100n + 1n);
    }
    const [row] = await database.db.select().from(revealTransactions);
    assert.equal(row?.status, 'confirmed');
    assert.equal(row?.tokenRowIds.length, 1, 'the batch row names the token its transaction revealed');
    const after = await database.db.select().from(tokens).orderBy(tokens.tokenId);
    assert.deepEqual(
      after.map((t) => [t.tokenId, t.status, t.leaseOwner, t.errorData?.code ?? null]),
      ids.map((id, i) => (i === 0 ? [id, 'revealed', null, null] : [id, 'ready', null, 'BATCH_SPLIT'])),
    );

    // The tokens left out go in the next batch; on chain each token is revealed by exactly one transaction.
    await testClient().setAutomine(true);
    const second = await (await sender()).revealBatch(await claim(), controller.signal);
    assert.deepEqual(second.revealed, ids.slice(1));
    await assertRevealedOnChain(ids);
    assert.equal(await keeperNonce(), 2, 'two transactions mined: one per nonce');
    const events = await chain.publicClient.getContractEvents({
      ...contract(),
      eventName: 'TokensRevealed',
      fromBlock: 0n,
    });
    const revealedIds = events.flatMap((e) => (e.args.tokenIds ?? []).map(Number)).sort((a, b) => a - b);
    assert.deepEqual(revealedIds, ids, 'each token in exactly one TokensRevealed event');
  });

  it('resumes after a stop between signing and broadcasting with the stored bytes, at the same nonce', async () => {
    const ids = await readyTokens(4);
    // The first broadcast never reaches the node (the process "dies" right after storing it).
    proxy.override = (r) =>
      sendRaw(r) ? { error: { code: -32603, message: 'connection reset' } } : undefined;
    const first = await sender();
    const running = first.revealBatch(await claim(), controller.signal);
    await until(
      'the attempt stored',
      async () => (await database.db.select().from(revealAttempts)).length === 1,
    );
    controller.abort();
    const stopped = await running;
    assert.deepEqual(stopped.inFlight.sort(), ids);
    assert.equal(await keeperNonce(), 0, 'nothing reached the chain');
    const [stored] = await database.db.select().from(revealAttempts);
    assert.ok(stored);

    // A new process: its claim sees nothing (the in-flight batch holds the tokens); resume sends the same bytes.
    proxy.override = undefined;
    proxy.requests.length = 0;
    controller = new AbortController();
    assert.deepEqual(await claim(), []);
    const second = await sender();
    assert.equal(await second.resume(controller.signal), true);
    const broadcasts = proxy.requests.filter(sendRaw).map((r) => r.params?.[0]);
    assert.deepEqual(broadcasts, [stored.rawTransaction], 'the stored bytes, nothing re-signed');
    assert.equal(await keeperNonce(), 1);
    assert.deepEqual((await database.db.select().from(revealAttempts)).length, 1);
    const [row] = await database.db.select().from(revealTransactions);
    assert.equal(row?.status, 'confirmed');
    assert.equal(row?.txHash, stored.txHash);
    await assertRevealedOnChain(ids);
  });

  it('resumes after a stop after broadcasting: waits for the same transaction, never a second nonce', async () => {
    const ids = await readyTokens(2);
    await testClient().setAutomine(false);
    const first = await sender();
    const running = first.revealBatch(await claim(), controller.signal);
    await until(
      'sent',
      async () => (await database.db.select().from(revealTransactions))[0]?.status === 'sent',
    );
    controller.abort();
    await running;

    controller = new AbortController();
    proxy.requests.length = 0;
    const second = await sender();
    const resumed = second.resume(controller.signal);
    await until('rebroadcast', () => proxy.requests.some(sendRaw));
    await testClient().mine({ blocks: 1 });
    assert.equal(await resumed, true);
    assert.equal(await keeperNonce(), 1);
    const attempts = await database.db.select().from(revealAttempts);
    assert.equal(attempts.length, 1);
    assert.equal(proxy.requests.find(sendRaw)?.params?.[0], attempts[0]?.rawTransaction);
    const states = await statuses();
    assert.ok(ids.every((id) => states.get(id) === 'revealed'));
  });

  it('treats "already known", "replacement transaction underpriced" and "nonce too low" as ours, through missing receipts', async () => {
    const ids = await readyTokens(6);
    const lies = [
      { code: -32000, message: 'already known' },
      { code: -32000, message: 'replacement transaction underpriced' },
      { code: -32000, message: 'nonce too low' },
    ];
    for (const [round, lie] of lies.entries()) {
      const batchIds = ids.slice(round * 2, round * 2 + 2);
      let receiptsToDrop = 8;
      // The node takes the transaction (forward) but answers with the error, then has no receipt for a while.
      proxy.override = (r) => {
        if (sendRaw(r)) return { forward: true, error: lie };
        if (receiptOf(r) && receiptsToDrop > 0) {
          receiptsToDrop -= 1;
          return { result: null };
        }
        return undefined;
      };
      const claimed = (await claim()).filter((t) => batchIds.includes(t.tokenId));
      const result = await (await sender()).revealBatch(claimed, controller.signal);
      assert.deepEqual(result.revealed, batchIds, lie.message);
      assert.equal(receiptsToDrop, 0, 'receipts were missing for a while');
      // Release the tokens this round did not take.
      await database.db
        .update(tokens)
        .set({ leaseOwner: null, leaseExpiresAt: null })
        .where(eq(tokens.status, 'ready'));
    }
    assert.equal(await keeperNonce(), 3, 'one transaction per batch, no resend at a new nonce');
    const rows = await database.db.select().from(revealTransactions);
    assert.ok(rows.every((r) => r.status === 'confirmed'));
    assert.equal((await database.db.select().from(revealAttempts)).length, 3);
    await assertRevealedOnChain(ids);
  });

  it('a revert (keeper role revoked): failed row with the decoded reason, tokens back to ready, then failed', async () => {
    const ids = await readyTokens(2);
    const admin = createChainWalletClient({
      rpcUrl: chain.rpcUrl,
      chain: chain.chain,
      privateKey: chain.accounts.deployer.privateKey,
    });
    const role = await chain.publicClient.readContract({ ...contract(), functionName: 'KEEPER_ROLE' });
    const hash = await admin.writeContract({
      ...contract(),
      functionName: 'revokeRole',
      args: [role, chain.accounts.keeper.address],
    });
    await chain.publicClient.waitForTransactionReceipt({ hash });

    const revealSender = await sender({ maxAttempts: 2 });
    const first = await revealSender.revealBatch(await claim(), controller.signal);
    assert.deepEqual(first.reverted, ids);
    let rows = await database.db.select().from(revealTransactions);
    assert.equal(rows[0]?.status, 'failed');
    assert.equal(rows[0]?.errorData?.revert, 'AccessControlUnauthorizedAccount');
    assert.match(String(rows[0]?.errorData?.message), /AccessControlUnauthorizedAccount/);
    let states = await statuses();
    assert.ok(ids.every((id) => states.get(id) === 'ready'));

    const second = await revealSender.revealBatch(await claim(), controller.signal);
    assert.deepEqual(second.failed, ids);
    states = await statuses();
    assert.ok(ids.every((id) => states.get(id) === 'failed'));
    rows = await database.db.select().from(revealTransactions);
    assert.equal(rows.length, 2);
    assert.equal(await keeperNonce(), 0, 'nothing was sent: no gas wasted on a known revert');
    const [token] = await database.db
      .select()
      .from(tokens)
      .where(eq(tokens.tokenId, ids[0] ?? 0));
    assert.equal(token?.revealAttempts, 2);
    assert.equal(token?.errorData?.stage, 'reveal');
  });

  it('a revert on chain (role revoked while the transaction is pending): failed row with the decoded reason', async () => {
    const ids = await readyTokens(2);
    await testClient().setAutomine(false);
    const delta = await metricDeltas(REVEAL_SERIES);
    const running = (await sender()).revealBatch(await claim(), controller.signal);
    await until(
      'sent',
      async () => (await database.db.select().from(revealTransactions))[0]?.status === 'sent',
    );
    const admin = createChainWalletClient({
      rpcUrl: chain.rpcUrl,
      chain: chain.chain,
      privateKey: chain.accounts.deployer.privateKey,
    });
    const role = await chain.publicClient.readContract({ ...contract(), functionName: 'KEEPER_ROLE' });
    // A far higher tip: mined first in the same block, so the reveal runs without the role.
    await admin.writeContract({
      ...contract(),
      functionName: 'revokeRole',
      args: [role, chain.accounts.keeper.address],
      maxPriorityFeePerGas: gweiToWei(50),
      maxFeePerGas: gweiToWei(100),
    });
    await testClient().mine({ blocks: 1 });
    const result = await running;
    assert.deepEqual(result.reverted, ids);
    const [row] = await database.db.select().from(revealTransactions);
    assert.equal(row?.status, 'failed');
    assert.equal(row?.errorData?.revert, 'AccessControlUnauthorizedAccount');
    assert.ok((row?.gasUsed ?? 0) > 0);
    assert.ok(row?.blockNumber);
    const changed = await delta();
    assert.equal(changed.gasUsed, row?.gasUsed, 'a reverted transaction still burns gas');
    assert.ok((changed.feesWei ?? 0) > 0);
    assert.deepEqual(
      { ...changed, gasUsed: 0, feesWei: 0 },
      { ...NO_REVEAL_CHANGE, reverted: 1, batches: 1, batchTokens: 2 },
    );
  });

  it('waits while fees are above REVEAL_MAX_GAS_PRICE_GWEI, and sends once they drop', async () => {
    const ids = await readyTokens(2);
    const client = testClient();
    await client.setNextBlockBaseFeePerGas({ baseFeePerGas: gweiToWei(100) });
    await client.mine({ blocks: 1 });
    const revealSender = await sender({ maxGasPriceWei: gweiToWei(10) });
    const running = revealSender.revealBatch(await claim(), controller.signal);
    // The status turns 'waiting' in memory at once; the line saying why follows only once that status is stored
    // (RevealStatusStore writes it to the database first): wait for the line as well, not only the state.
    const saidWhy = () =>
      logs.some((l) => l.includes('reveal.waiting') && l.includes('REVEAL_MAX_GAS_PRICE_GWEI'));
    await until('waiting, and said why', () => revealSender.status().state === 'waiting' && saidWhy());
    assert.equal(revealSender.status().code, 'GAS_PRICE_ABOVE_CAP');
    assert.equal(
      (await database.db.select().from(revealAttempts)).length,
      0,
      'nothing signed while above the cap',
    );
    await client.setNextBlockBaseFeePerGas({ baseFeePerGas: gweiToWei(1) });
    await client.mine({ blocks: 1 });
    const result = await running;
    assert.deepEqual(result.revealed, ids);
    const [attempt] = await database.db.select().from(revealAttempts);
    assert.ok(BigInt(attempt?.maxFeePerGasWei ?? '0') <= gweiToWei(10));
  });

  it('waits while the keeper cannot pay for the batch, and says so', async () => {
    await readyTokens(2);
    await testClient().setBalance({ address: chain.accounts.keeper.address, value: 1000n });
    const revealSender = await sender();
    const running = revealSender.revealBatch(await claim(), controller.signal);
    await until('waiting', () => revealSender.status().state === 'waiting');
    assert.equal(revealSender.status().code, 'KEEPER_BALANCE_LOW');
    assert.equal(revealSender.status().keeperBalanceWei, '1000');
    assert.equal(await readMetric('glisk_keeper_balance_wei'), 1000);
    await testClient().setBalance({ address: chain.accounts.keeper.address, value: 10n ** 18n });
    const result = await running;
    assert.equal(result.revealed.length, 2);
  });

  it('one batch in flight per keeper: a second sender finds the keeper busy and does nothing', async () => {
    await readyTokens(2);
    await testClient().setAutomine(false);
    const one = await sender();
    const two = await sender();
    const running = one.revealBatch(await claim(1), controller.signal);
    await until(
      'sent',
      async () => (await database.db.select().from(revealTransactions))[0]?.status === 'sent',
    );
    const other = await two.revealBatch(await claim(1), controller.signal);
    assert.equal(other.keeperBusy, true);
    await testClient().mine({ blocks: 1 });
    assert.equal((await running).revealed.length, 1);
    assert.equal((await database.db.select().from(revealTransactions)).length, 1);
  });
});

// The reveal stage as an operator sees it through GET /api/pipeline/stats of ANOTHER app instance (its own pool,
// no sender of its own): stalled with the reason when the chain does not answer, waiting with the reason when
// fees are above REVEAL_MAX_GAS_PRICE_GWEI or the keeper cannot pay, the keeper's balance, the nonce in flight
// and the last transaction's age. The stage runs on the stage runtime against a real local chain, built from its
// configuration as a worker process builds it.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createTestClient, http, type Hex } from 'viem';
import { inArray } from 'drizzle-orm';
import { loadConfig } from '../../../src/config.js';
import { revealAttempts, tokens } from '../../../src/db/schema.js';
import { gweiToWei } from '../../../src/stages/reveal/fees.js';
import { createRevealStage } from '../../../src/stages/reveal/reveal.stage.js';
import { startStageRunner } from '../../../src/workers/stage-runner.js';
import { startTestChain, type TestChain } from '../../helpers/chain.js';
import { mintReadyTokens } from '../../helpers/reveal-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { startTcpProxy, startTestApp, type TcpProxy, type TestApp } from '../../helpers/http.js';
import { captureLogs, type LogCapture } from '../../helpers/logs.js';
import { waitUntil } from '../../helpers/wait.js';

const KEY = 'reveal-stats-admin-key-0123456789';

type KeeperStats = {
  keeperAddress: string;
  state: string;
  code: string | null;
  reason: string | null;
  since: string | null;
  nextRetryAt: string | null;
  keeperBalanceWei: string | null;
  balanceCheckedAt: string | null;
  pendingNonce: number | null;
  batchesInFlight: number;
  lastTransactionHash: string | null;
  lastTransactionAt: string | null;
  lastTransactionAgeSeconds: number | null;
};
type ChainStats = { source: string; reachable: boolean; code: string | null; endpoint: string | null };

let chain: TestChain;
let database: TestDatabase;
let app: TestApp;
let snapshot: Hex;

before(async () => {
  chain = await startTestChain();
  database = await createTestDatabase();
  app = await startTestApp({ testDb: database, env: { ADMIN_API_KEY: KEY } });
});
after(async () => {
  await app?.close();
  await chain?.stop();
  await database?.drop();
});
beforeEach(async () => {
  snapshot = await testClient().snapshot();
});
afterEach(async () => {
  await testClient().setAutomine(true);
  await testClient().revert({ id: snapshot });
  await database.sql`truncate reveal_attempts, reveal_transactions, tokens_s0, authors, system_state cascade`;
});

function testClient() {
  return createTestClient({ mode: 'hardhat', chain: chain.chain, transport: http(chain.rpcUrl) });
}

async function stats(): Promise<{ reveal: KeeperStats[]; chain: ChainStats[] }> {
  const response = await fetch(`${app.url}/api/pipeline/stats`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { reveal: KeeperStats[]; chain: ChainStats[] };
}

const keeper = () => chain.accounts.keeper.address.toLowerCase();

async function keeperStats(): Promise<KeeperStats | undefined> {
  return (await stats()).reveal.find((k) => k.keeperAddress === keeper());
}

const readyTokens = (count: number) => mintReadyTokens(chain, database.db, count);

/** The reveal stage on the runtime, as `npm run worker -- --stages reveal` builds it from its configuration. */
function startReveal(env: Record<string, string>, logs: LogCapture) {
  const config = loadConfig({
    APP_ENV: 'test',
    KEEPER_PRIVATE_KEY: chain.accounts.keeper.privateKey,
    RPC_URL: chain.rpcUrl,
    GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
    BATCH_REVEAL_WAIT_SECONDS: '0.05',
    POLL_INTERVAL_SECONDS: '0.05',
    ...env,
  });
  const stage = createRevealStage({
    config,
    database: database.database,
    logger: logs.logger,
    settings: { ...config.pipeline, concurrency: 1, maxAttempts: 3, batchSize: 50 },
  });
  return startStageRunner(stage, { database: database.database, logger: logs.logger });
}

async function statusesOf(ids: readonly number[]): Promise<string[]> {
  const rows = await database.db
    .select({ status: tokens.status })
    .from(tokens)
    .where(inArray(tokens.tokenId, [...ids]));
  return rows.map((r) => r.status);
}

describe('reveal status in GET /api/pipeline/stats', () => {
  it('chain unreachable: stalled with the reason and the endpoint, nothing claimed; revealed once it is back', async () => {
    const ids = await readyTokens(2);
    const node: TcpProxy = await startTcpProxy(chain.rpcUrl);
    await node.refuse();
    const logs = captureLogs([chain.accounts.keeper.privateKey]);
    // Credentials and a path (where an API key would be) that must never be shown.
    const rpcUrl = node
      .urlFor(chain.rpcUrl)
      .replace('http://', 'http://user:s3cret@')
      .replace(/\/?$/, '/v2/KEYPATH');
    const runner = startReveal({ RPC_URL: rpcUrl }, logs);
    try {
      await waitUntil(async () => (await keeperStats())?.state === 'stalled', {
        what: 'the stats showing the reveal stalled',
        timeoutMs: 20_000,
      });
      const stalled = await keeperStats();
      assert.equal(stalled?.code, 'CHAIN_UNREACHABLE');
      const origin = `http://127.0.0.1:${node.port}`;
      assert.ok(stalled?.reason?.includes(origin), `the reason names the endpoint: ${stalled?.reason}`);
      assert.ok(stalled?.reason?.includes('ECONNREFUSED'), `and the cause: ${stalled?.reason}`);
      assert.ok(stalled?.nextRetryAt !== null && Date.parse(stalled?.nextRetryAt ?? '') > 0);
      const chainEntry = (await stats()).chain.find((c) => c.source === 'reveal');
      assert.deepEqual(
        [chainEntry?.reachable, chainEntry?.code, chainEntry?.endpoint],
        [false, 'CHAIN_UNREACHABLE', origin],
      );
      const text = JSON.stringify(await stats());
      for (const secret of ['s3cret', 'KEYPATH'])
        assert.ok(!text.includes(secret), `the stats show ${secret}`);
      // Nothing was claimed for a chain that does not answer: no attempt counted, nothing signed.
      const rows = await database.db.select().from(tokens);
      assert.deepEqual(
        rows.map((r) => [r.status, r.revealAttempts, r.leaseOwner]),
        ids.map(() => ['ready', 0, null]),
      );
      assert.equal((await database.db.select().from(revealAttempts)).length, 0);
      // One short line per failure; viem's stack only at debug.
      const line = await logs.waitFor('reveal.stalled');
      assert.equal(line.code, 'CHAIN_UNREACHABLE');
      assert.equal(line.endpoint, origin);
      assert.equal(typeof line.retryInMs, 'number');
      for (const l of logs.lines.filter((l) => l.level !== 'debug')) {
        const json = JSON.stringify(l);
        assert.ok(json.length < 400, `a ${String(l.message)} line of ${json.length} characters`);
        assert.ok(!json.includes('s3cret') && !json.includes('KEYPATH'), json);
      }
      assert.ok(logs.lines.some((l) => l.message === 'reveal.stalled_stack' && l.level === 'debug'));

      await node.accept();
      await waitUntil(async () => (await statusesOf(ids)).every((s) => s === 'revealed'), {
        what: 'the tokens revealed once the chain is back',
        timeoutMs: 30_000,
      });
      await waitUntil(async () => (await keeperStats())?.state === 'idle', { what: 'the stats idle again' });
      const back = await stats();
      assert.equal(back.chain.find((c) => c.source === 'reveal')?.reachable, true);
      const [attempt] = await database.db.select().from(revealAttempts);
      const keeperNow = back.reveal.find((k) => k.keeperAddress === keeper());
      assert.equal(keeperNow?.lastTransactionHash, attempt?.txHash);
      assert.ok((keeperNow?.lastTransactionAgeSeconds ?? -1) >= 0);
      assert.equal(keeperNow?.pendingNonce, null);
    } finally {
      await runner.stop(5_000);
      await node.close();
    }
  });

  it('gas price above REVEAL_MAX_GAS_PRICE_GWEI: waiting with the reason; a transaction in flight shows its nonce and age', async () => {
    const ids = await readyTokens(2);
    const client = testClient();
    await client.setNextBlockBaseFeePerGas({ baseFeePerGas: gweiToWei(100) });
    await client.mine({ blocks: 1 });
    const logs = captureLogs([chain.accounts.keeper.privateKey]);
    const runner = startReveal({ REVEAL_MAX_GAS_PRICE_GWEI: '10' }, logs);
    try {
      await waitUntil(async () => (await keeperStats())?.state === 'waiting', {
        what: 'the stats showing the reveal waiting',
        timeoutMs: 20_000,
      });
      const waiting = await keeperStats();
      assert.equal(waiting?.code, 'GAS_PRICE_ABOVE_CAP');
      assert.match(waiting?.reason ?? '', /REVEAL_MAX_GAS_PRICE_GWEI/);
      assert.equal(waiting?.pendingNonce, null, 'nothing signed while above the cap');
      assert.equal(waiting?.lastTransactionHash, null);

      // Fees drop, mining is paused: the batch is sent and stays in flight at nonce 0.
      await client.setAutomine(false);
      await client.setNextBlockBaseFeePerGas({ baseFeePerGas: gweiToWei(1) });
      await client.mine({ blocks: 1 });
      await waitUntil(async () => (await keeperStats())?.pendingNonce === 0, {
        what: 'the nonce in flight in the stats',
        timeoutMs: 20_000,
      });
      const inFlight = await keeperStats();
      const [attempt] = await database.db.select().from(revealAttempts);
      assert.equal(inFlight?.batchesInFlight, 1);
      assert.equal(inFlight?.lastTransactionHash, attempt?.txHash);
      assert.ok(inFlight?.lastTransactionAt !== null);
      assert.ok((inFlight?.lastTransactionAgeSeconds ?? -1) >= 0);
      assert.notEqual(inFlight?.state, 'waiting');
      assert.ok(inFlight?.keeperBalanceWei !== null && BigInt(inFlight?.keeperBalanceWei ?? '0') > 0n);

      await client.mine({ blocks: 1 });
      await waitUntil(async () => (await statusesOf(ids)).every((s) => s === 'revealed'), {
        what: 'the batch revealed',
        timeoutMs: 20_000,
      });
      await waitUntil(async () => (await keeperStats())?.pendingNonce === null, {
        what: 'no nonce in flight',
      });
    } finally {
      await runner.stop(5_000);
    }
  });

  it('keeper balance below the batch cost: waiting with the reason and the balance', async () => {
    const ids = await readyTokens(2);
    await testClient().setBalance({ address: chain.accounts.keeper.address, value: 1000n });
    const logs = captureLogs([chain.accounts.keeper.privateKey]);
    const runner = startReveal({}, logs);
    try {
      await waitUntil(async () => (await keeperStats())?.state === 'waiting', {
        what: 'the stats showing the reveal waiting',
        timeoutMs: 20_000,
      });
      const waiting = await keeperStats();
      assert.equal(waiting?.code, 'KEEPER_BALANCE_LOW');
      assert.match(waiting?.reason ?? '', /keeper balance 1000 wei is below/);
      assert.equal(waiting?.keeperBalanceWei, '1000');
      assert.ok(Date.parse(waiting?.balanceCheckedAt ?? '') > 0);
      assert.equal((await database.db.select().from(revealAttempts)).length, 0, 'nothing signed');

      await testClient().setBalance({ address: chain.accounts.keeper.address, value: 10n ** 18n });
      await waitUntil(async () => (await statusesOf(ids)).every((s) => s === 'revealed'), {
        what: 'the batch revealed once the keeper can pay',
        timeoutMs: 20_000,
      });
      await waitUntil(async () => (await keeperStats())?.state === 'idle', { what: 'the stats idle again' });
      assert.notEqual((await keeperStats())?.keeperBalanceWei, '1000', 'the balance read again');
    } finally {
      await runner.stop(5_000);
    }
  });
});

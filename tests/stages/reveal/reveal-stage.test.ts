// The reveal stage on the stage runtime: a batch waits for BATCH_REVEAL_WAIT_SECONDS unless full, is revealed in
// one transaction, and the runtime writes nothing over the sender's results. And its configuration.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ConfigError } from '../../../src/errors.js';
import { loadConfig, type Config } from '../../../src/config.js';
import type { Logger } from '../../../src/logger.js';
import * as tokenClaims from '../../../src/repositories/token-claims.repository.js';
import { STAGES } from '../../../src/domain/stages.js';
import { eq, inArray } from 'drizzle-orm';
import { revealAttempts, revealTransactions, tokens } from '../../../src/db/schema.js';
import { connectRevealChain } from '../../../src/providers/chain/reveal-chain.js';
import { createRevealStage } from '../../../src/stages/reveal/reveal.stage.js';
import { RevealSender } from '../../../src/stages/reveal/reveal-sender.js';
import { startStageRunner } from '../../../src/workers/stage-runner.js';
import { startTestChain, type TestChain } from '../../helpers/chain.js';
import { mintReadyTokens } from '../../helpers/reveal-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { captureLogs } from '../../helpers/logs.js';
import { startRpcProxy } from '../../helpers/rpc-proxy.js';
import { waitUntil } from '../../helpers/wait.js';

let chain: TestChain;
let database: TestDatabase;

before(async () => {
  chain = await startTestChain();
  database = await createTestDatabase();
});
after(async () => {
  await chain?.stop();
  await database?.drop();
});

const readyTokens = (count: number) => mintReadyTokens(chain, database.db, count);

function revealConfig() {
  return loadConfig({
    APP_ENV: 'test',
    KEEPER_PRIVATE_KEY: chain.accounts.keeper.privateKey,
    RPC_URL: chain.rpcUrl,
    GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
    BATCH_REVEAL_WAIT_SECONDS: '0.5',
    POLL_INTERVAL_SECONDS: '0.05',
  });
}

async function revealSender(logger: Logger, rpcUrl = chain.rpcUrl): Promise<RevealSender> {
  return new RevealSender({
    database: database.database,
    chain: await connectRevealChain({
      rpcUrl,
      contractAddress: chain.contractAddress,
      account: privateKeyToAccount(chain.accounts.keeper.privateKey),
    }),
    logger,
    settings: {
      gasBuffer: 1.2,
      maxGasPriceWei: undefined,
      transactionTimeoutMs: 60_000,
      maxFeeBumps: 3,
      maxAttempts: 3,
      pollIntervalMs: 20,
      retryBaseSeconds: 0,
      retryCapSeconds: 0,
    },
  });
}

function revealStage(config: Config, logger: Logger, sender: RevealSender) {
  return createRevealStage({
    config,
    database: database.database,
    logger,
    settings: { ...config.pipeline, concurrency: 1, maxAttempts: 3, batchSize: 50 },
    sender,
  });
}

async function statusesOf(ids: readonly number[]): Promise<string[]> {
  const rows = await database.db
    .select({ status: tokens.status })
    .from(tokens)
    .where(inArray(tokens.tokenId, [...ids]));
  return rows.map((r) => r.status);
}

function keeperNonce(): Promise<number> {
  return chain.publicClient.getTransactionCount({
    address: chain.accounts.keeper.address,
    blockTag: 'latest',
  });
}

describe('reveal stage', () => {
  it('a backlog of exactly BATCH_REVEAL_MAX_TOKENS is a full batch: claimed at once, without waiting', async () => {
    const ids = await readyTokens(3);
    try {
      const config = loadConfig({
        APP_ENV: 'test',
        KEEPER_PRIVATE_KEY: chain.accounts.keeper.privateKey,
        RPC_URL: chain.rpcUrl,
        GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
        BATCH_REVEAL_MAX_TOKENS: '3',
        BATCH_REVEAL_WAIT_SECONDS: '600',
      });
      const logs = captureLogs(config.secrets);
      const stage = revealStage(config, logs.logger, await revealSender(logs.logger));
      const signal = new AbortController().signal;
      assert.equal(await stage.readyToClaim?.(database.db, signal), true, '3 of 3: full');
      await database.db.delete(tokens).where(inArray(tokens.tokenId, ids.slice(0, 1)));
      const partial = await stage.readyToClaim?.(database.db, signal);
      assert.ok(partial !== true && partial !== undefined && partial.waitMs > 500_000, '2 of 3: waits');
    } finally {
      await database.db.delete(tokens).where(inArray(tokens.tokenId, ids));
    }
  });

  it('waits for the oldest ready token to have waited, then reveals the batch in one transaction', async () => {
    await readyTokens(3);
    const config = revealConfig();
    const logs = captureLogs(config.secrets);
    const stage = revealStage(config, logs.logger, await revealSender(logs.logger));
    assert.equal(stage.definition, STAGES.reveal);
    const started = Date.now();
    const runner = startStageRunner(stage, { database: database.database, logger: logs.logger });
    try {
      for (;;) {
        const rows = await database.db.select({ status: tokens.status }).from(tokens);
        // The runner counts a completion after the handler returns, a moment after the rows say revealed.
        if (rows.every((r) => r.status === 'revealed') && runner.stats().completed === 3) break;
        assert.ok(Date.now() - started < 20_000, 'revealed in time');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(Date.now() - started >= 400, 'the batch waited for BATCH_REVEAL_WAIT_SECONDS');
      const rows = await database.db.select().from(revealTransactions);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.tokenRowIds.length, 3);
      assert.equal(runner.stats().completed, 3);
      assert.equal(runner.stats().leasesLost, 0);
    } finally {
      await runner.stop(2_000);
    }
    assert.ok(!logs.text().toLowerCase().includes(chain.accounts.keeper.privateKey.slice(2).toLowerCase()));
  });

  it('at start, settles a batch a stopped process left in flight (its stored bytes, its nonce) with no other token ready', async () => {
    const ids = await readyTokens(2);
    const config = revealConfig();
    const logs = captureLogs(config.secrets);
    const proxy = await startRpcProxy(chain.rpcUrl);
    const nonceBefore = await keeperNonce();
    const earlier = new Set((await database.db.select().from(revealAttempts)).map((a) => a.id));
    const newAttempts = async () =>
      (await database.db.select().from(revealAttempts)).filter((a) => !earlier.has(a.id));
    try {
      // The first process signs and stores the batch, its broadcast never reaches the node, and it stops.
      proxy.override = (r) =>
        r.method === 'eth_sendRawTransaction'
          ? { error: { code: -32603, message: 'connection reset' } }
          : undefined;
      const dead = new AbortController();
      const claimed = await tokenClaims
        .claimTokens(database.db, STAGES.reveal, {
          owner: 'stopped-process',
          leaseSeconds: 60,
          limit: 50,
        })
        .then((c) => c.tokens);
      assert.deepEqual(claimed.map((t) => t.tokenId).sort(), ids);
      const first = (await revealSender(logs.logger, proxy.url)).revealBatch(claimed, dead.signal);
      await waitUntil(async () => (await newAttempts()).length === 1, {
        what: 'the attempt stored',
      });
      dead.abort();
      await first;
      const [stored] = await newAttempts();
      assert.ok(stored);
      assert.equal(await keeperNonce(), nonceBefore, 'nothing reached the chain');

      // A new process starts the stage: nothing is claimable, yet the batch is settled with the stored bytes.
      proxy.override = undefined;
      proxy.requests.length = 0;
      const runner = startStageRunner(
        revealStage(config, logs.logger, await revealSender(logs.logger, proxy.url)),
        {
          database: database.database,
          logger: logs.logger,
        },
      );
      try {
        await waitUntil(async () => (await statusesOf(ids)).every((s) => s === 'revealed'), {
          what: 'the in-flight batch revealed',
        });
      } finally {
        await runner.stop(2_000);
      }
      const broadcasts = proxy.requests.filter((r) => r.method === 'eth_sendRawTransaction');
      assert.deepEqual(
        broadcasts.map((r) => r.params?.[0]),
        [stored.rawTransaction],
        'the stored bytes, nothing re-signed',
      );
      assert.equal(await keeperNonce(), nonceBefore + 1, 'one transaction, at the stored nonce');
      const [row] = await database.db
        .select()
        .from(revealTransactions)
        .where(eq(revealTransactions.id, stored.revealTransactionId));
      assert.equal(row?.status, 'confirmed');
      assert.equal(row?.txHash, stored.txHash);
      assert.equal((await newAttempts()).length, 1, 'no second attempt');
      assert.equal(runner.stats().claimed, 0, 'nothing new was claimed');
    } finally {
      await proxy.stop();
    }
  });

  it('a chain failure while its batch is in flight counts no attempt against the tokens; the batch lands later', async () => {
    const ids = await readyTokens(2);
    const config = revealConfig();
    const logs = captureLogs(config.secrets);
    const proxy = await startRpcProxy(chain.rpcUrl);
    const testClient = createTestClient({
      mode: 'hardhat',
      chain: chain.chain,
      transport: http(chain.rpcUrl),
    });
    const inFlight = async () =>
      (await database.db.select().from(revealTransactions)).find(
        (r) => r.status === 'sent' && r.tokenRowIds.length === ids.length,
      );
    await testClient.setAutomine(false);
    // MAX_ATTEMPTS_REVEAL 1: one attempt counted for the failure would fail the tokens at once.
    const stage = createRevealStage({
      config,
      database: database.database,
      logger: logs.logger,
      settings: { ...config.pipeline, concurrency: 1, maxAttempts: 1, batchSize: 50 },
      sender: await revealSender(logs.logger, proxy.url),
    });
    const runner = startStageRunner(stage, { database: database.database, logger: logs.logger });
    try {
      await waitUntil(async () => (await inFlight()) !== undefined, { what: 'the batch sent' });
      // The node becomes unreachable while the transaction is pending.
      proxy.refuse = () => true;
      const claimEnded = async () =>
        (await database.db.select().from(tokens).where(inArray(tokens.tokenId, ids))).every(
          (r) => r.leaseOwner === null,
        );
      await waitUntil(claimEnded, { what: 'the claim ended by the outage', timeoutMs: 20_000 });
      const rows = await database.db.select().from(tokens).where(inArray(tokens.tokenId, ids));
      assert.deepEqual(
        rows.map((r) => [r.status, r.revealAttempts, r.leaseOwner]),
        ids.map(() => ['ready', 0, null]),
        'back to ready, no attempt counted, no lease',
      );
      assert.ok(logs.lines.some((l) => l.message === 'reveal.interrupted'));
      assert.ok(await inFlight(), 'the batch is still in flight');
      // The node is back and mines the pending transaction: the resume settles the batch.
      proxy.refuse = undefined;
      await testClient.setAutomine(true);
      await testClient.mine({ blocks: 1 });
      await waitUntil(async () => (await statusesOf(ids)).every((s) => s === 'revealed'), {
        what: 'the batch revealed after the outage',
        timeoutMs: 20_000,
      });
    } finally {
      proxy.refuse = undefined;
      await testClient.setAutomine(true);
      await runner.stop(2_000);
      await proxy.stop();
    }
  });

  it('KEEPER_PRIVATE_KEY is a secret in every spelling, and a bad one is refused without being shown', () => {
    const key = `0x${'ab'.repeat(32)}`;
    const config = loadConfig({ APP_ENV: 'test', KEEPER_PRIVATE_KEY: key.toUpperCase().replace('0X', '') });
    assert.equal(config.reveal.keeperPrivateKey, key);
    assert.ok(config.secrets.includes(key));
    assert.ok(config.secrets.includes(key.slice(2)));
    const bad = 'cd'.repeat(31);
    assert.throws(
      () => loadConfig({ APP_ENV: 'test', KEEPER_PRIVATE_KEY: bad }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /KEEPER_PRIVATE_KEY/.test(error.message) &&
        !error.message.includes(bad),
    );
  });
});

// The reveal stage on the stage runtime: a batch waits for BATCH_REVEAL_WAIT_SECONDS unless full, is revealed in
// one transaction, and the runtime writes nothing over the sender's results. And its configuration.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { STAGES } from '../../src/domain/stages.js';
import { revealTransactions, tokens } from '../../src/db/schema.js';
import { computeCid } from '../../src/lib/cid.js';
import { connectRevealChain } from '../../src/providers/chain/reveal-chain.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createRevealStage } from '../../src/stages/reveal/reveal.stage.js';
import { RevealSender } from '../../src/stages/reveal/reveal-sender.js';
import { startStageRunner } from '../../src/workers/stage-runner.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { insertAuthor } from '../helpers/db-fixtures.js';
import { captureLogs } from '../helpers/logs.js';

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

describe('reveal stage', () => {
  it('waits for the oldest ready token to have waited, then reveals the batch in one transaction', async () => {
    const minter = chain.accounts.minters[0];
    assert.ok(minter);
    const minted = await chain.mint({ from: minter, author: minter.address, quantity: 3 });
    const author = await insertAuthor(database.db, 1);
    const ids = minted.tokenIds.map(Number);
    for (const tokenId of ids) {
      const cid = await computeCid(new TextEncoder().encode(`metadata ${tokenId}`), 'dag-pb');
      await tokensRepository.addMany(database.db, [
        {
          tokenId,
          authorId: author.id,
          minterAddress: author.walletAddress,
          mintTimestamp: new Date(),
          status: 'ready',
          imageCid: cid,
          metadataCid: cid,
          readyAt: new Date(),
        },
      ]);
    }
    const config = loadConfig({
      APP_ENV: 'test',
      KEEPER_PRIVATE_KEY: chain.accounts.keeper.privateKey,
      RPC_URL: chain.rpcUrl,
      GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
      BATCH_REVEAL_WAIT_SECONDS: '0.5',
      POLL_INTERVAL_SECONDS: '0.05',
    });
    const logs = captureLogs(config.secrets);
    const sender = new RevealSender({
      database: database.database,
      chain: await connectRevealChain({
        rpcUrl: chain.rpcUrl,
        contractAddress: chain.contractAddress,
        account: privateKeyToAccount(chain.accounts.keeper.privateKey),
      }),
      logger: logs.logger,
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
    const stage = createRevealStage({
      config,
      database: database.database,
      logger: logs.logger,
      settings: { ...config.pipeline, concurrency: 1, maxAttempts: 3, batchSize: 50 },
      sender,
    });
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

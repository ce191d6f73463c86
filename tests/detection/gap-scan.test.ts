// The gap scan alone, against the local chain: recovers deleted tokens (a revealed one as revealed with its CID)
// with their real minter, block time and mint event; a dry run writes nothing; one failing id loses no other.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { encodeFunctionData } from 'viem';
import { createChainPublicClient } from '../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { scanGaps, type GapScanOptions } from '../../src/stages/detection/gap-scan.js';
import { createLogger } from '../../src/logger.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf } from '../helpers/db-fixtures.js';
import {
  assertScenarioRecorded,
  countRows,
  mintScenario,
  tokenRows,
  type Scenario,
} from '../helpers/mint-scenario.js';
import { startRpcProxy, type RpcProxy } from '../helpers/rpc-proxy.js';

// hardhat_mine with n > 1 reserves blocks whose historical state eth_call does not see (the contract reads as
// absent there); one block per call keeps every block real, as on a live chain.
async function mineOneByOne(chain: TestChain, blocks: number): Promise<void> {
  for (let i = 0; i < blocks; i++) await chain.mine(1);
}

describe('gap scan', () => {
  let chain: TestChain;
  let proxy: RpcProxy;
  let scenario: Scenario;
  let t: TestDatabase;
  const revealed = new Map([
    [3, cidOf(3)],
    [52, cidOf(52)],
  ]);

  before(async () => {
    chain = await startTestChain();
    proxy = await startRpcProxy(chain.rpcUrl);
    t = await createTestDatabase();
    // Some history before the scenario so the trace has blocks to search through.
    await mineOneByOne(chain, 40);
    scenario = await mintScenario(chain);
    await mineOneByOne(chain, 10);
    await chain.reveal(
      [...revealed.keys()],
      [...revealed.values()].map((cid) => `ipfs://${cid}`),
    );
    await mineOneByOne(chain, 3);
  });
  after(async () => {
    await t?.drop();
    await proxy?.stop();
    await chain?.stop();
  });

  const scan = (overrides: Partial<GapScanOptions> = {}) =>
    scanGaps({
      db: t.db,
      client: createChainPublicClient({ rpcUrl: proxy.url, chain: chain.chain, cacheTimeMs: 0 }),
      contractAddress: chain.contractAddress,
      confirmations: 2,
      concurrency: 4,
      logger: createLogger({ level: 'error', format: 'json', stream: new PassThrough() }),
      ...overrides,
    });

  it('recovers every token of an empty database from the chain alone', async () => {
    const progress: string[] = [];
    const report = await scan({ onProgress: (p) => progress.push(p.phase) });
    assert.equal(report.nextTokenId, 59);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(
      report.created,
      Array.from({ length: 58 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      report.revealed.sort((a, b) => a - b),
      [3, 52],
    );
    assert.deepEqual(report.failed, []);
    await assertScenarioRecorded(t.db, scenario, { revealed });
    assert.ok(progress.includes('read') && progress.includes('trace') && progress.includes('write'));
  });

  it('recreates exactly the deleted rows, revealed one included; a second scan finds nothing', async () => {
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id BETWEEN 2 AND 11 OR token_id IN (52, 58)`);
    await t.db.execute(sql`DELETE FROM mint_events WHERE token_id = 52`);
    const report = await scan();
    assert.deepEqual(report.missing, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 52, 58]);
    assert.deepEqual(report.created, report.missing);
    await assertScenarioRecorded(t.db, scenario, { revealed });
    const again = await scan();
    assert.deepEqual(again.missing, []);
    assert.deepEqual(await countRows(t.db), { tokens: 58, events: 3, authors: 2 });
  });

  it('a dry run reports and writes nothing; --limit takes the lowest ids', async () => {
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id >= 40`);
    const dry = await scan({ dryRun: true, limit: 5 });
    assert.deepEqual(dry.missing, [40, 41, 42, 43, 44]);
    assert.deepEqual(dry.recovered, [40, 41, 42, 43, 44]);
    assert.deepEqual(dry.created, []);
    assert.equal((await countRows(t.db)).tokens, 39);
    const limited = await scan({ limit: 5 });
    assert.deepEqual(limited.created, [40, 41, 42, 43, 44]);
    assert.equal((await countRows(t.db)).tokens, 44);
  });

  it('one id whose reads fail is reported; every other id is recovered', async () => {
    const failing = encodeFunctionData({ abi: gliskS0Abi, functionName: 'tokenPromptAuthor', args: [50n] });
    proxy.refuse = (request) =>
      request.method === 'eth_call' && JSON.stringify(request.params ?? []).includes(failing);
    try {
      const report = await scan();
      assert.deepEqual(
        report.failed.map((f) => f.tokenId),
        [50],
      );
      assert.match(report.failed[0]?.error ?? '', /execution aborted/);
      assert.deepEqual(report.created, [45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58]);
    } finally {
      proxy.refuse = undefined;
    }
    const rows = await tokenRows(t.db);
    assert.equal(rows.length, 57);
    assert.equal(rows.find((r) => r.token_id === 52)?.status, 'revealed');
    const report = await scan();
    assert.deepEqual(report.created, [50]);
    await assertScenarioRecorded(t.db, scenario, { revealed });
  });
});

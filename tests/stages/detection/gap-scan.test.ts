// The gap scan alone, against the local chain: recovers deleted tokens (a revealed one as revealed with its CID)
// with their real minter, block time and mint event; a dry run writes nothing; one failing id or batch loses no
// other; nothing above head - confirmations is read. Each test has its own database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { encodeFunctionData } from 'viem';
import { createChainPublicClient } from '../../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../../src/providers/chain/glisk-s0.abi.js';
import { scanGaps, type GapScanOptions } from '../../../src/stages/detection/gap-scan.js';
import { ingestMints } from '../../../src/stages/detection/mint-ingest.js';
import { startTestChain, type TestChain } from '../../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { captureLogs } from '../../helpers/logs.js';
import { cidOf } from '../../helpers/db-fixtures.js';
import {
  AUTHOR_A,
  assertScenarioRecorded,
  countRows,
  scenarioMints,
  tokenRows,
} from '../../helpers/mint-scenario.js';
import { mineOneByOne, scenarioChain } from '../../helpers/scenario-chain.js';

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('gap scan', () => {
  const revealed = new Map([
    [3, cidOf(3)],
    [52, cidOf(52)],
  ]);
  const onChain = scenarioChain({
    // Some history before the scenario so the trace has blocks to search through.
    before: (chain) => mineOneByOne(chain, 40),
    after: async (chain) => {
      await mineOneByOne(chain, 10);
      await chain.reveal(
        [...revealed.keys()],
        [...revealed.values()].map((cid) => `ipfs://${cid}`),
      );
      await mineOneByOne(chain, 3);
    },
  });

  /** Each test its own database: empty, or holding the scenario as the other paths would have recorded it. */
  async function database(contents: 'empty' | 'recorded'): Promise<TestDatabase> {
    const t = await onChain.database();
    if (contents === 'recorded') {
      await t.db.transaction((tx) =>
        ingestMints(tx, scenarioMints(onChain.scenario, onChain.chain), { revealed }),
      );
      await assertScenarioRecorded(t.db, onChain.scenario, { revealed });
    }
    return t;
  }

  const scan = (t: TestDatabase, overrides: Partial<GapScanOptions> = {}) =>
    scanGaps({
      db: t.db,
      client: createChainPublicClient({
        rpcUrl: onChain.proxy.url,
        chain: onChain.chain.chain,
        cacheTimeMs: 0,
      }),
      contractAddress: onChain.chain.contractAddress,
      confirmations: 2,
      concurrency: 4,
      logger: captureLogs([], 'error').logger,
      ...overrides,
    });

  it('recovers every token of an empty database from the chain alone', async () => {
    const t = await database('empty');
    const progress: string[] = [];
    const report = await scan(t, { onProgress: (p) => progress.push(p.phase) });
    assert.equal(report.nextTokenId, 59);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.created, ids(1, 58));
    assert.deepEqual(
      report.revealed.sort((a, b) => a - b),
      [3, 52],
    );
    await assertScenarioRecorded(t.db, onChain.scenario, { revealed });
    assert.ok(progress.includes('read') && progress.includes('trace') && progress.includes('write'));
  });

  it('recreates exactly the deleted rows, revealed one included; a second scan finds nothing', async () => {
    const t = await database('recorded');
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id BETWEEN 2 AND 11 OR token_id IN (52, 58)`);
    await t.db.execute(sql`DELETE FROM mint_events WHERE token_id = 52`);
    const report = await scan(t);
    assert.deepEqual(report.missing, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 52, 58]);
    assert.deepEqual(report.created, report.missing);
    await assertScenarioRecorded(t.db, onChain.scenario, { revealed });
    const again = await scan(t);
    assert.deepEqual(again.missing, []);
    assert.deepEqual(await countRows(t.db), { tokens: 58, events: 3, authors: 2 });
  });

  it('a dry run reports and writes nothing; --limit takes the lowest ids', async () => {
    const t = await database('recorded');
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id >= 40`);
    const dry = await scan(t, { dryRun: true, limit: 5 });
    assert.deepEqual(dry.missing, [40, 41, 42, 43, 44]);
    assert.deepEqual(dry.recovered, [40, 41, 42, 43, 44]);
    assert.deepEqual(dry.created, []);
    assert.equal((await countRows(t.db)).tokens, 39);
    const limited = await scan(t, { limit: 5 });
    assert.deepEqual(limited.created, [40, 41, 42, 43, 44]);
    assert.equal((await countRows(t.db)).tokens, 44);
  });

  it('one id whose reads fail is reported; every other id is recovered', async () => {
    const t = await database('recorded');
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id >= 45`);
    const failing = encodeFunctionData({ abi: gliskS0Abi, functionName: 'tokenPromptAuthor', args: [50n] });
    onChain.proxy.refuse = (request) =>
      request.method === 'eth_call' && JSON.stringify(request.params ?? []).includes(failing);
    try {
      const report = await scan(t);
      assert.deepEqual(
        report.failed.map((f) => f.tokenId),
        [50],
      );
      assert.match(report.failed[0]?.error ?? '', /execution aborted/);
      assert.deepEqual(report.created, [45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58]);
    } finally {
      onChain.proxy.refuse = undefined;
    }
    const rows = await tokenRows(t.db);
    assert.equal(rows.length, 57);
    assert.equal(rows.find((r) => r.token_id === 52)?.status, 'revealed');
    const report = await scan(t);
    assert.deepEqual(report.created, [50]);
    await assertScenarioRecorded(t.db, onChain.scenario, { revealed });
  });

  it('a batch whose mint cannot be traced is reported; the batches before and after it are recovered', async () => {
    const t = await database('recorded');
    // One missing id in each of the three batches (1, 2..51, 52..58); traced in ascending order, one
    // eth_getLogs each: the second one, batch 2..51's, is refused.
    await t.db.execute(sql`DELETE FROM tokens_s0 WHERE token_id IN (1, 20, 55)`);
    let getLogsCalls = 0;
    onChain.proxy.refuse = (request) => request.method === 'eth_getLogs' && ++getLogsCalls === 2;
    try {
      const report = await scan(t);
      assert.deepEqual(report.missing, [1, 20, 55]);
      assert.deepEqual(
        report.failed.map((f) => f.tokenId),
        [20],
      );
      assert.match(report.failed[0]?.error ?? '', /execution aborted/);
      assert.deepEqual(report.created, [1, 55]);
    } finally {
      onChain.proxy.refuse = undefined;
    }
    assert.deepEqual((await scan(t)).created, [20]);
    await assertScenarioRecorded(t.db, onChain.scenario, { revealed });
  });
});

describe('gap scan below the confirmations', () => {
  let chain: TestChain;
  let t: TestDatabase;
  before(async () => {
    chain = await startTestChain();
    t = await createTestDatabase();
    await mineOneByOne(chain, 5);
  });
  after(async () => {
    await t?.drop();
    await chain?.stop();
  });

  it('reads at head - confirmations: a mint fewer blocks deep is neither missing nor created until it is deep enough', async () => {
    const scan = () =>
      scanGaps({
        db: t.db,
        client: chain.publicClient,
        contractAddress: chain.contractAddress,
        confirmations: 3,
        logger: captureLogs([], 'error').logger,
      });
    const minted = await chain.mint({ from: chain.accounts.deployer, author: AUTHOR_A, quantity: 2 });
    await mineOneByOne(chain, 2);
    const head = await chain.publicClient.getBlockNumber();
    assert.equal(head, minted.blockNumber + 2n);
    const early = await scan();
    assert.equal(early.atBlock, head - 3n);
    assert.equal(early.nextTokenId, 1, 'nextTokenId as of head - 3');
    assert.deepEqual([early.missing, early.created], [[], []]);
    assert.equal((await countRows(t.db)).tokens, 0);

    await mineOneByOne(chain, 1);
    const deep = await scan();
    assert.equal(deep.atBlock, minted.blockNumber);
    assert.deepEqual(deep.created, [1, 2]);
  });
});

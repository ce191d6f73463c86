// The log follower against the local chain through a provider-like JSON-RPC proxy: records the scenario's 58
// tokens alone, halves refused ranges, never reads past head - confirmations, and follows one process at a time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createChainPublicClient } from '../../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../../src/providers/chain/glisk-s0.abi.js';
import { createDatabase } from '../../../src/db/client.js';
import {
  LAST_PROCESSED_BLOCK_KEY,
  LogFollower,
  type LogFollowerOptions,
} from '../../../src/stages/detection/log-follower.js';
import * as systemState from '../../../src/repositories/system-state.repository.js';
import { followerLagBlocks } from '../../../src/metrics/registry.js';
import { type TestDatabase } from '../../helpers/database.js';
import { captureLogs } from '../../helpers/logs.js';
import { AUTHOR_A, assertScenarioRecorded, countRows } from '../../helpers/mint-scenario.js';
import { type GetLogsCall } from '../../helpers/rpc-proxy.js';
import { scenarioChain } from '../../helpers/scenario-chain.js';

/** Answered (not refused) ranges must be contiguous from `from` and never overlap. */
function assertContiguous(calls: readonly GetLogsCall[], from: bigint, to: bigint): void {
  const answered = calls.filter((c) => !c.refused).sort((a, b) => (a.fromBlock < b.fromBlock ? -1 : 1));
  let expected = from;
  for (const call of answered) {
    assert.equal(
      call.fromBlock,
      expected,
      `range ${call.fromBlock}-${call.toBlock} starts where the last ended`,
    );
    expected = call.toBlock + 1n;
  }
  assert.equal(expected, to + 1n);
}

describe('log follower', () => {
  const onChain = scenarioChain();
  const freshDatabase = () => onChain.database();

  function follower(t: TestDatabase, overrides: Partial<LogFollowerOptions> = {}) {
    const client = createChainPublicClient({
      rpcUrl: onChain.proxy.url,
      chain: onChain.chain.chain,
      cacheTimeMs: 0,
    });
    return new LogFollower({
      db: t.db,
      client,
      contractAddress: onChain.chain.contractAddress,
      confirmations: 2,
      startBlock: 0n,
      maxBlockRange: 1000,
      logger: captureLogs([], 'warn').logger,
      ...overrides,
    });
  }

  it('records exactly the 58 tokens alone, halving refused ranges and checkpointing the safe head', async () => {
    const t = await freshDatabase();
    await onChain.chain.mine(2);
    onChain.proxy.getLogsCalls.length = 0;
    onChain.proxy.maxRange = 3;
    const f = follower(t);
    const result = await f.catchUp();
    onChain.proxy.maxRange = undefined;
    const head = await onChain.chain.publicClient.getBlockNumber();
    assert.equal(result.stoppedBecause, 'caught_up');
    assert.equal(result.created, 58);
    await assertScenarioRecorded(t.db, onChain.scenario);
    assert.ok(
      onChain.proxy.getLogsCalls.some((c) => c.refused),
      'the proxy refused the first wide range',
    );
    assert.ok(
      onChain.proxy.getLogsCalls.filter((c) => !c.refused).every((c) => c.toBlock - c.fromBlock < 3n),
    );
    assert.ok(f.currentRange <= 3);
    assertContiguous(onChain.proxy.getLogsCalls, 0n, head - 2n);
    const checkpoint = await systemState.get(t.db, LAST_PROCESSED_BLOCK_KEY);
    assert.equal(checkpoint?.stateValue, Number(head - 2n));

    // Caught up: a second pass reads nothing new and creates nothing.
    const again = await f.catchUp();
    assert.equal(again.chunks, 0);
    assert.deepEqual(await countRows(t.db), { tokens: 58, events: 3, authors: 2 });
  });

  it('never reads past head - CONFIRMATIONS, and records a mint once it is deep enough', async () => {
    const t = await freshDatabase();
    const f = follower(t, { confirmations: 5 });
    await f.catchUp();
    const minted = await onChain.chain.mint({
      from: onChain.chain.accounts.minters[3] ?? onChain.chain.accounts.deployer,
      author: AUTHOR_A,
      quantity: 2,
    });
    onChain.proxy.getLogsCalls.length = 0;
    await onChain.chain.mine(3);
    const head = await onChain.chain.publicClient.getBlockNumber();
    assert.equal(head, minted.blockNumber + 3n);
    await f.catchUp();
    assert.ok(
      onChain.proxy.getLogsCalls.every((c) => c.toBlock <= head - 5n),
      'no range beyond head - 5',
    );
    assert.equal((await countRows(t.db)).tokens, 58, 'the unconfirmed mint is not recorded');
    await onChain.chain.mine(2);
    const later = await f.catchUp();
    assert.equal(later.created, 2);
    assert.equal((await countRows(t.db)).tokens, 60);
  });

  it('sets glisk_follower_lag_blocks to the safe head minus the checkpoint after each chunk', async () => {
    const lag = async () => (await followerLagBlocks.get()).values[0]?.value;
    const t = await freshDatabase();
    const f = follower(t, { maxBlockRange: 2 });
    const first = await f.step();
    assert.equal(first.kind, 'ingested');
    if (first.kind !== 'ingested') return;
    assert.equal(first.toBlock, 1n);
    assert.ok(first.safeBlock > 2n, 'the scenario left more than one chunk to read');
    assert.equal(await lag(), Number(first.safeBlock - 1n));
    await f.catchUp();
    assert.equal(await lag(), 0);
    await onChain.chain.mine(3);
    await f.step();
    assert.equal(await lag(), 1, 'three new blocks read two at a time: one chunk left');
  });

  it('two followers on one database follow one at a time: no block range is read twice', async () => {
    const t = await freshDatabase();
    // Two pools, as two processes would have.
    const other = createDatabase(t.url, { max: 2 });
    try {
      onChain.proxy.getLogsCalls.length = 0;
      onChain.proxy.maxRange = 1;
      const head = await onChain.chain.publicClient.getBlockNumber();
      const run = async (f: LogFollower) => {
        let chunks = 0;
        let locked = 0;
        for (;;) {
          const step = await f.step();
          if (step.kind === 'caught_up') return { chunks, locked };
          if (step.kind === 'locked') {
            locked += 1;
            await new Promise((resolve) => setTimeout(resolve, 2));
          } else chunks += 1;
        }
      };
      const [a, b] = await Promise.all([
        run(follower(t, { maxBlockRange: 1 })),
        run(follower({ ...t, db: other.db }, { maxBlockRange: 1 })),
      ]);
      onChain.proxy.maxRange = undefined;
      assert.equal(a.chunks + b.chunks, Number(head - 2n) + 1, 'each block read by exactly one follower');
      assertContiguous(onChain.proxy.getLogsCalls, 0n, head - 2n);
      assert.equal((await countRows(t.db)).tokens, 60);
    } finally {
      await other.close();
    }
  });

  it('stores no checkpoint when its chunk fails after the logs were read; the next pass records every token', async () => {
    const t = await freshDatabase();
    await onChain.chain.mine(2);
    // The block timestamps are read after eth_getLogs and before the ingest and the checkpoint.
    onChain.proxy.refuse = (request) => request.method === 'eth_getBlockByNumber';
    try {
      await assert.rejects(follower(t).catchUp(), /execution aborted/);
    } finally {
      onChain.proxy.refuse = undefined;
    }
    assert.equal(await systemState.get(t.db, LAST_PROCESSED_BLOCK_KEY), undefined, 'no checkpoint');
    assert.equal((await countRows(t.db)).tokens, 0);

    const head = await onChain.chain.publicClient.getBlockNumber();
    const minted = await onChain.chain.publicClient.readContract({
      address: onChain.chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'nextTokenId',
      blockNumber: head - 2n,
    });
    const result = await follower(t).catchUp();
    assert.equal(result.created, Number(minted) - 1, 'every token minted up to the safe head');
    assert.equal((await countRows(t.db)).tokens, Number(minted) - 1);
    assert.equal((await systemState.get(t.db, LAST_PROCESSED_BLOCK_KEY))?.stateValue, Number(head - 2n));
  });

  it('a refused single block is an error, not an endless halving', async () => {
    const t = await freshDatabase();
    onChain.proxy.refuse = (request) => request.method === 'eth_getLogs';
    try {
      await assert.rejects(follower(t, { maxBlockRange: 4 }).catchUp(), /execution aborted/);
    } finally {
      onChain.proxy.refuse = undefined;
    }
    const [row] = await t.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM system_state`);
    assert.equal(row?.n, 0, 'the failed chunk rolled back: no checkpoint');
  });
});

// The mint-detection workers as main starts them (startWorkers with the service config): the gap scan runs at
// start, the follower survives RPC failures with backoff, and both stay off without an RPC endpoint.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startWorkers } from '../../src/workers/index.js';
import { gapScanWorker, logFollowerWorker } from '../../src/workers/mint-detection.worker.js';
import { type TestDatabase } from '../helpers/database.js';
import { captureLogs } from '../helpers/logs.js';
import { assertScenarioRecorded } from '../helpers/mint-scenario.js';
import { scenarioChain } from '../helpers/scenario-chain.js';

describe('mint-detection workers', () => {
  const onChain = scenarioChain({ after: (chain) => chain.mine(3) });

  function setup(t: TestDatabase, env: Record<string, string>) {
    const config = loadConfig({
      APP_ENV: 'test',
      RPC_URL: onChain.proxy.url,
      GLISK_NFT_CONTRACT_ADDRESS: onChain.chain.contractAddress,
      CONFIRMATIONS: '2',
      FOLLOWER_START_BLOCK: '0',
      POLL_INTERVAL_SECONDS: '0.05',
      ...env,
    });
    const logs = captureLogs([], 'info');
    return { deps: { config, logger: logs.logger, database: t.database }, logs };
  }

  it('the follower survives a failing RPC with backoff and then records the 58 tokens', async () => {
    const t = await onChain.database();
    const { deps, logs } = setup(t, {
      CHAIN_FOLLOWER_ENABLED: 'true',
      GAP_SCAN_ENABLED: 'false',
    });
    // viem retries twice per call, so 6 failed HTTP requests fail at least one whole pass.
    onChain.proxy.failNext(6);
    const workers = startWorkers(deps, [logFollowerWorker, gapScanWorker]);
    try {
      assert.deepEqual(workers.names, ['log-follower']);
      // The recovery is logged once a pass returns after the failures: that pass caught up past the scenario's
      // block and committed, so the tokens are there. (Waiting on the token count raced this line.)
      await logs.waitFor('worker.recovered', 15_000);
      await assertScenarioRecorded(t.db, onChain.scenario);
      assert.ok(
        logs.lines.some((l) => l.message === 'worker.failed'),
        'the failure was logged',
      );
    } finally {
      assert.deepEqual(await workers.stop(5_000), { forced: false });
    }
  });

  it('the gap scan runs at start and records the 58 tokens', async () => {
    const t = await onChain.database();
    const { deps, logs } = setup(t, {
      CHAIN_FOLLOWER_ENABLED: 'false',
      GAP_SCAN_INTERVAL_SECONDS: '3600',
    });
    const workers = startWorkers(deps, [logFollowerWorker, gapScanWorker]);
    try {
      assert.deepEqual(workers.names, ['gap-scan']);
      // The scan's last line, written after its writes.
      await logs.waitFor('gap_scan.finished', 15_000);
      await assertScenarioRecorded(t.db, onChain.scenario);
    } finally {
      assert.deepEqual(await workers.stop(5_000), { forced: false });
    }
  });

  it('neither starts without an RPC endpoint', async () => {
    const t = await onChain.database();
    const config = loadConfig({ APP_ENV: 'test', GLISK_NFT_CONTRACT_ADDRESS: onChain.chain.contractAddress });
    const { logger } = captureLogs([], 'error');
    const workers = startWorkers({ config, logger, database: t.database }, [
      logFollowerWorker,
      gapScanWorker,
    ]);
    assert.deepEqual(workers.names, []);
    await workers.stop(1_000);
  });
});

// RPC_URL on a port nothing listens on (issue 10.7): each failure of the mint-detection workers is one short log
// line (what failed, the node's origin without credentials or key, when it is tried again), viem's stack only at
// debug, in the JSON and the readable format; GET /api/pipeline/stats of another instance says the chain is
// unreachable, and says so no longer once it answers.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startTcpProxy, startTestApp, type TestApp } from '../helpers/http.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorkers } from '../../src/workers/index.js';
import { gapScanWorker, logFollowerWorker } from '../../src/workers/mint-detection.worker.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureLogs } from '../helpers/logs.js';
import { waitUntil } from '../helpers/wait.js';

const KEY = 'chain-down-admin-key-0123456789abc';

type ChainStats = {
  source: string;
  reachable: boolean;
  code: string | null;
  endpoint: string | null;
  detail: string | null;
  nextRetryAt: string | null;
};

let chain: TestChain;
let database: TestDatabase;
let app: TestApp;

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

async function chainStats(): Promise<ChainStats[]> {
  const response = await fetch(`${app.url}/api/pipeline/stats`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { chain: ChainStats[] }).chain;
}

describe('chain unreachable', () => {
  it('one short line per failure, the stack at debug; the stats say the chain is unreachable, then reachable', async () => {
    const node = await startTcpProxy(chain.rpcUrl);
    await node.refuse();
    const origin = `http://127.0.0.1:${node.port}`;
    const config = loadConfig({
      APP_ENV: 'test',
      RPC_URL: `http://glisk:pa55word@127.0.0.1:${node.port}/v2/ALCHEMYKEY`,
      GLISK_NFT_CONTRACT_ADDRESS: chain.contractAddress,
      CHAIN_FOLLOWER_ENABLED: 'true',
      FOLLOWER_START_BLOCK: '0',
      POLL_INTERVAL_SECONDS: '0.05',
    });
    const logs = captureLogs(config.secrets);
    const workers = startWorkers({ config, logger: logs.logger, database: database.database }, [
      logFollowerWorker,
      gapScanWorker,
    ]);
    try {
      await waitUntil(() => logs.lines.filter((l) => l.message === 'worker.failed').length >= 3, {
        what: 'three worker.failed lines',
        timeoutMs: 20_000,
      });
      const failed = logs.lines.filter((l) => l.message === 'worker.failed');
      for (const line of failed) {
        assert.equal(line.code, 'CHAIN_UNREACHABLE');
        assert.equal(line.endpoint, origin);
        assert.match(String(line.detail), /ECONNREFUSED/);
        assert.equal(typeof line.retryInMs, 'number');
        assert.equal(line.error, undefined, 'no error object (its stack) at error level');
        const json = JSON.stringify(line);
        assert.ok(json.length < 400, `${json.length} characters: ${json}`);
        for (const secret of ['pa55word', 'ALCHEMYKEY', '/v2/']) assert.ok(!json.includes(secret), json);
      }
      const stacks = logs.lines.filter((l) => l.message === 'worker.failed_stack');
      assert.ok(stacks.length > 0 && stacks.every((l) => l.level === 'debug'));
      // Another instance's stats say which parts found the chain unreachable, where and when they try again.
      await waitUntil(async () => (await chainStats()).filter((c) => !c.reachable).length === 2, {
        what: 'both workers reported in the stats',
      });
      const down = await chainStats();
      assert.deepEqual(down.map((c) => c.source).sort(), ['gap-scan', 'log-follower']);
      for (const entry of down) {
        assert.equal(entry.code, 'CHAIN_UNREACHABLE');
        assert.equal(entry.endpoint, origin);
        assert.ok(Date.parse(entry.nextRetryAt ?? '') > 0);
      }
      const text = JSON.stringify(down);
      assert.ok(!text.includes('pa55word') && !text.includes('ALCHEMYKEY'), text);

      // The readable format (LOG_FORMAT=pretty): one line too.
      const pretty: string[] = [];
      const stream = new PassThrough();
      stream.on('data', (chunk: Buffer) =>
        pretty.push(...chunk.toString('utf8').split('\n').filter(Boolean)),
      );
      const prettyLogger = createLogger({ level: 'info', format: 'pretty', secrets: config.secrets, stream });
      const scan = startWorkers({ config, logger: prettyLogger, database: database.database }, [
        gapScanWorker,
      ]);
      await waitUntil(() => pretty.some((l) => l.includes('worker.failed')), { what: 'a readable line' });
      assert.deepEqual(await scan.stop(5_000), { forced: false });
      for (const line of pretty.filter((l) => l.includes('worker.failed'))) {
        assert.ok(line.length < 300, `a readable line of ${line.length} characters: ${line}`);
        assert.ok(line.includes('CHAIN_UNREACHABLE') && line.includes(origin), line);
        assert.ok(!line.includes('pa55word') && !line.includes('ALCHEMYKEY'), line);
      }

      // The node comes back: the follower's next pass succeeds and says so.
      await node.accept();
      await waitUntil(
        async () => (await chainStats()).find((c) => c.source === 'log-follower')?.reachable === true,
        { what: 'the follower reachable again in the stats', timeoutMs: 20_000 },
      );
    } finally {
      assert.deepEqual(await workers.stop(5_000), { forced: false });
      await node.close();
    }
  });
});

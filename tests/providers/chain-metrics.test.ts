// Chain RPC calls are provider calls: each JSON-RPC request of the chain clients (follower, reveal) is timed by
// method, and failures are counted by method and error class; labels never carry anything but the method.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createChainPublicClient } from '../../src/providers/chain/client.js';
import { rpcMethodLabel } from '../../src/providers/chain/observed-transport.js';
import { metricDeltas, readMetric } from '../helpers/metrics.js';

// A JSON-RPC node on loopback: eth_blockNumber answers 0x10, eth_getBalance a JSON-RPC error.
let server: Server;
let rpcUrl: string;
before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const { id, method } = JSON.parse(body) as { id: number; method: string };
      const answer =
        method === 'eth_blockNumber'
          ? { jsonrpc: '2.0', id, result: '0x10' }
          : { jsonrpc: '2.0', id, error: { code: -32000, message: 'header not found' } };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rpcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('chain RPC metrics', () => {
  it('times each call as provider="chain", operation=<method>, and counts failures by error class', async () => {
    const client = createChainPublicClient({ rpcUrl, cacheTimeMs: 0 });
    const ok = { provider: 'chain', operation: 'eth_blockNumber', outcome: 'ok' };
    const failed = { provider: 'chain', operation: 'eth_getBalance', outcome: 'error' };
    const delta = await metricDeltas({
      ok: ['glisk_provider_request_duration_seconds', ok],
      failed: ['glisk_provider_request_duration_seconds', failed],
      errors: ['glisk_provider_errors_total', { provider: 'chain', operation: 'eth_getBalance' }],
    });
    assert.equal(await client.getBlockNumber(), 16n);
    await assert.rejects(client.getBalance({ address: `0x${'11'.repeat(20)}` }), /header not found/);
    assert.deepEqual(await delta(), { ok: 1, failed: 1, errors: 1 });
    const classes = await readMetric('glisk_provider_errors_total', {
      provider: 'chain',
      operation: 'eth_getBalance',
      error_class: 'InvalidInputRpcError',
    });
    assert.equal(classes, 1, 'the error class is the one viem gives code -32000, never the message');
  });

  it('labels only method-shaped names; anything else is "other"', () => {
    assert.equal(rpcMethodLabel('eth_getLogs'), 'eth_getLogs');
    assert.equal(rpcMethodLabel('eth_getLogs 0xdeadbeef'), 'other');
    assert.equal(rpcMethodLabel(`eth_${'a'.repeat(100)}`), 'other');
    assert.equal(rpcMethodLabel(42), 'other');
  });
});

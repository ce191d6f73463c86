// Issue 13.10 (and the topic0 case of 13.9): real Alchemy deliveries. The documented heartbeat (an empty block
// result, no number, no timestamp) gets 200 and writes nothing; the transaction-shaped query's payload is
// ingested like the block-shaped one; upper-case hex is compared case-insensitively. Bodies are signed and
// posted byte for byte.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { batchMintedLog, postWebhook, signedHeaders } from '../helpers/alchemy-webhook.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

const SECRET = 'whsec_deliveries_0123456789abcdef';
const CONTRACT = '0x5fbdb2315678afecb367f642d30ab7ba0be3e0aa';
const MINTER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const AUTHOR = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';

// Alchemy's documented heartbeat, exactly as the issue quotes it.
const HEARTBEAT =
  '{"webhookId":"wh_...","id":"whevt_...","createdAt":"2023-02-02T23:11:24.585Z","type":"GRAPHQL","event":{"data":{"block":{"logs":[]}},"sequenceNumber":"10000000000579857000"}}';

describe('Alchemy delivery shapes', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      env: { ALCHEMY_WEBHOOK_SECRET: SECRET, GLISK_NFT_CONTRACT_ADDRESS: CONTRACT },
    });
  });
  after(() => app?.close());

  const count = async (table: string): Promise<number> => {
    const rows = await app.testDb.db.execute<{ n: number }>(
      sql.raw(`select count(*)::int as n from ${table}`),
    );
    return rows[0]?.n ?? -1;
  };
  const mintLog = (startTokenId: bigint, index: number, hashByte: string) =>
    batchMintedLog({
      contract: CONTRACT,
      minter: MINTER,
      author: AUTHOR,
      startTokenId,
      quantity: 2n,
      txHash: `0x${hashByte.repeat(32)}`,
      index,
    });

  it('the heartbeat gets 200 and writes nothing', async () => {
    const answer = await postWebhook(app.url, HEARTBEAT, signedHeaders(HEARTBEAT, SECRET));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual(answer.json, { created: [], skipped: [], mints: 0, ignored: 0 });
    assert.equal(await count('mint_events'), 0);
    assert.equal(await count('tokens_s0'), 0);
  });

  it('a block with logs but without number or timestamp is refused with the field path', async () => {
    const body = JSON.stringify({
      webhookId: 'wh_x',
      id: 'whevt_x',
      createdAt: '2026-01-01T00:00:00.000Z',
      type: 'GRAPHQL',
      event: { data: { block: { logs: [mintLog(1n, 0, 'a1')] } } },
    });
    const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(answer.status, 400);
    const paths = (answer.json as { error: { details: { path: string }[] } }).error.details.map(
      (d) => d.path,
    );
    assert.deepEqual(paths.sort(), ['body.event.data.block.number', 'body.event.data.block.timestamp']);
  });

  it('ingests the transaction-shaped query (logs under block.transactions[])', async () => {
    const { transaction: _t1, ...first } = mintLog(11n, 3, 'b2');
    const { transaction: _t2, ...reverted } = mintLog(21n, 0, 'c3');
    const body = JSON.stringify({
      webhookId: 'wh_x',
      id: 'whevt_tx',
      createdAt: '2026-01-01T00:00:00.000Z',
      type: 'GRAPHQL',
      event: {
        data: {
          block: {
            number: 200,
            timestamp: 1_760_000_000,
            transactions: [
              { hash: `0x${'b2'.repeat(32)}`, status: 1, logs: [first] },
              { hash: `0x${'c3'.repeat(32)}`, status: 0, logs: [reverted] },
            ],
          },
        },
      },
    });
    const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual(answer.json, { created: [11, 12], skipped: [], mints: 1, ignored: 1 });
    const [event] = await app.testDb.db.execute<{ tx_hash: string; log_index: number }>(
      sql`select tx_hash, log_index from mint_events where token_id = 11`,
    );
    assert.deepEqual(event, { tx_hash: `0x${'b2'.repeat(32)}`, log_index: 3 });
  });

  it('accepts upper-case hex in topics, data, address and hash', async () => {
    const log = mintLog(31n, 1, 'd4');
    const upper = {
      ...log,
      topics: log.topics.map((t) => `0x${t.slice(2).toUpperCase()}`),
      data: `0x${log.data.slice(2).toUpperCase()}`,
      account: { address: `0x${CONTRACT.slice(2).toUpperCase()}` },
      transaction: { ...log.transaction, hash: `0x${log.transaction.hash.slice(2).toUpperCase()}` },
    };
    const body = JSON.stringify({
      webhookId: 'wh_x',
      id: 'whevt_upper',
      createdAt: '2026-01-01T00:00:00.000Z',
      type: 'GRAPHQL',
      event: { data: { block: { number: 300, timestamp: 1_760_000_100, logs: [upper] } } },
    });
    const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual((answer.json as { created: number[] }).created, [31, 32]);
  });
});

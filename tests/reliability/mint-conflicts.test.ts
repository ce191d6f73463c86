// Issue 13.6: no token without its event. A second delivery reusing a (tx_hash, log_index) with another token
// range is a conflict: logged, counted in the answer, nothing created from it. And a log `removed` by a reorg
// after its tokens exist is ignored: the tokens stay (README, Mint detection).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { alchemyPayload, batchMintedLog, postWebhook, signedHeaders } from '../helpers/alchemy-webhook.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

const SECRET = 'whsec_conflicts_0123456789abcdef';
const CONTRACT = '0x5fbdb2315678afecb367f642d30ab7ba0be3e0aa';
const MINTER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const AUTHOR = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const HASH: `0x${string}` = `0x${'e5'.repeat(32)}`;

describe('conflicting (tx_hash, log_index) content', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      env: { ALCHEMY_WEBHOOK_SECRET: SECRET, GLISK_NFT_CONTRACT_ADDRESS: CONTRACT },
    });
  });
  after(() => app?.close());

  const deliver = async (startTokenId: bigint, quantity: bigint, removed?: boolean) => {
    const body = JSON.stringify(
      alchemyPayload({
        number: 500,
        timestamp: 1_760_000_000,
        logs: [
          batchMintedLog({
            contract: CONTRACT,
            minter: MINTER,
            author: AUTHOR,
            startTokenId,
            quantity,
            txHash: HASH,
            index: 4,
            ...(removed === undefined ? {} : { removed }),
          }),
        ],
      }),
    );
    return postWebhook(app.url, body, signedHeaders(body, SECRET));
  };

  it('creates nothing from a log whose key is stored with another token range, and says so', async () => {
    const first = await deliver(1n, 2n);
    assert.deepEqual(first.json, { created: [1, 2], skipped: [], mints: 1, ignored: 0 });
    const second = await deliver(3n, 8n);
    assert.equal(second.status, 200);
    assert.deepEqual(second.json, { created: [], skipped: [], mints: 1, ignored: 0, conflicts: 1 });
    // Every token is covered by a recorded event.
    const orphans = await app.testDb.db.execute<{ token_id: number }>(sql`
      select t.token_id from tokens_s0 t
      where not exists (
        select 1 from mint_events e where t.token_id between e.token_id and e.token_id + e.quantity - 1)`);
    assert.deepEqual([...orphans], []);
    const conflict = app.logs.lines.find((l) => l.message === 'webhook.conflict');
    assert.ok(conflict, 'the conflict is logged');
    assert.equal(conflict.txHash, HASH);
    assert.equal(conflict.logIndex, 4);
    // The same content again is a plain replay, not a conflict.
    assert.deepEqual((await deliver(1n, 2n)).json, { created: [], skipped: [1, 2], mints: 1, ignored: 0 });
  });

  it('a log removed by a reorg after its tokens exist is ignored and the tokens stay', async () => {
    const removed = await deliver(1n, 2n, true);
    assert.deepEqual(removed.json, { created: [], skipped: [], mints: 0, ignored: 1 });
    const rows = await app.testDb.db.execute<{ n: number }>(
      sql`select count(*)::int as n from tokens_s0 where token_id in (1, 2)`,
    );
    assert.equal(rows[0]?.n, 2);
  });
});

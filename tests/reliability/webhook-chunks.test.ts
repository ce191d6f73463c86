// Issue 13.4: a delivery's mints are written in transactions of about WEBHOOK_CHUNK_TOKENS tokens each. A delivery
// cut between chunks (a fault in chunk k) keeps chunks 1..k-1 and answers 5xx; its redelivery creates exactly the
// rest. Concurrent copies of a chunked delivery still create every token once. (Times and /health latency
// during a 1 MB delivery: `npm run bench:webhook`.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { getAddress, type Hex } from 'viem';
import { chunkMints, type DecodedMint } from '../../src/stages/detection/mint-ingest.js';
import { alchemyPayload, batchMintedLog, postWebhook, signedHeaders } from '../helpers/alchemy-webhook.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

const SECRET = 'whsec_chunks_0123456789abcdef';
const CONTRACT = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const MINTER = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const BATCH = 50;
const CHUNK_TOKENS = 100;

/** `logs` mints of 50 tokens from `firstTokenId`, in blocks of their own tx hashes (ascending with the ids). */
function delivery(block: number, firstTokenId: number, logs: number): string {
  const payloadLogs = Array.from({ length: logs }, (_, k) =>
    batchMintedLog({
      contract: CONTRACT,
      minter: MINTER,
      author: getAddress(`0x${(0xa000 + (k % 7)).toString(16).padStart(40, '0')}`),
      startTokenId: BigInt(firstTokenId + k * BATCH),
      quantity: BigInt(BATCH),
      txHash: `0x${block.toString(16).padStart(8, '0')}${k.toString(16).padStart(56, '0')}`,
      index: k,
    }),
  );
  return JSON.stringify(alchemyPayload({ number: block, timestamp: 1_760_000_000, logs: payloadLogs }));
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('chunkMints', () => {
  const mint = (txHash: string, logIndex: number, quantity: number): DecodedMint => ({
    txHash: txHash as Hex,
    logIndex,
    quantity,
    startTokenId: 1,
    blockNumber: 1,
    blockTimestamp: new Date(0),
    minter: MINTER,
    author: MINTER,
    totalPaid: 0n,
  });

  it('cuts at about the token budget, in key order, never between two mints of one key', () => {
    const a = `0x${'0a'.repeat(32)}`;
    const b = `0x${'0b'.repeat(32)}`;
    const chunks = chunkMints(
      [mint(b, 1, 50), mint(a, 10, 50), mint(a, 2, 50), mint(a, 2, 40), mint(b, 0, 50)],
      100,
    );
    assert.deepEqual(
      chunks.map((chunk) => chunk.map((m) => `${m.txHash.slice(2, 4)}#${m.logIndex}:${m.quantity}`)),
      [
        ['0a#2:50', '0a#2:40', '0a#10:50'],
        ['0b#0:50', '0b#1:50'],
      ],
    );
    assert.deepEqual(chunkMints([], 100), []);
  });
});

describe('chunked webhook deliveries', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      env: {
        ALCHEMY_WEBHOOK_SECRET: SECRET,
        GLISK_NFT_CONTRACT_ADDRESS: CONTRACT,
        WEBHOOK_CHUNK_TOKENS: String(CHUNK_TOKENS),
      },
    });
  });
  after(() => app?.close());

  const counts = async (): Promise<{ tokens: number; events: number }> => {
    const [row] = await app.testDb.db.execute<{ tokens: number; events: number }>(
      sql`select (select count(*)::int from tokens_s0) as tokens, (select count(*)::int from mint_events) as events`,
    );
    assert.ok(row);
    return row;
  };

  it('a delivery cut by a fault in its 6th chunk keeps chunks 1-5; the redelivery creates exactly the rest', async () => {
    // 20 mints of 50 tokens = 10 chunks of 100 tokens. Token 501 is the first of the 6th chunk.
    await app.testDb.db.execute(sql`
      create function fail_on_token_501() returns trigger language plpgsql as $$
      begin
        if new.token_id = 501 then raise exception 'injected fault at token 501'; end if;
        return new;
      end $$`);
    await app.testDb.db.execute(sql`
      create trigger fail_on_token_501 before insert on tokens_s0
      for each row execute function fail_on_token_501()`);
    const body = delivery(10, 1, 20);
    const headers = signedHeaders(body, SECRET);

    const cut = await postWebhook(app.url, body, headers);
    assert.equal(cut.status, 500, 'the delivery failed, so Alchemy redelivers it');
    assert.deepEqual(await counts(), { tokens: 500, events: 10 }, 'chunks 1-5 were committed, chunk 6 not');

    await app.testDb.db.execute(sql`drop trigger fail_on_token_501 on tokens_s0`);
    const redelivered = await postWebhook(app.url, body, headers);
    assert.equal(redelivered.status, 200);
    assert.deepEqual(redelivered.json, {
      created: range(501, 1000),
      skipped: range(1, 500),
      mints: 20,
      ignored: 0,
    });
    assert.deepEqual(await counts(), { tokens: 1000, events: 20 });
    const ingested = app.logs.lines.findLast((l) => l.message === 'webhook.ingested');
    assert.equal(ingested?.chunks, 10, 'ten transactions of 100 tokens');
  });

  it('concurrent copies of a chunked delivery create every token exactly once between them', async () => {
    const body = delivery(11, 1001, 12);
    const headers = signedHeaders(body, SECRET);
    const answers = await Promise.all(range(1, 4).map(() => postWebhook(app.url, body, headers)));
    const created: number[] = [];
    for (const answer of answers) {
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      const json = answer.json as { created: number[]; skipped: number[] };
      assert.equal(json.created.length + json.skipped.length, 600);
      created.push(...json.created);
    }
    assert.deepEqual(
      created.sort((a, b) => a - b),
      range(1001, 1600),
      'each id created by exactly one copy',
    );
    assert.deepEqual(await counts(), { tokens: 1600, events: 32 });
  });
});

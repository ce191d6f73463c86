// The read API over real HTTP: token listing (filters, cursor pages, newest first), one token, mint events by
// block range, and their place in the OpenAPI document.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { getAddress, type Address, type Hex } from 'viem';
import { ingestMints, type DecodedMint } from '../../src/stages/detection/mint-ingest.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { cidOf, txHashOf } from '../helpers/db-fixtures.js';

const AUTHOR_1: Address = getAddress('0xa11ce00000000000000000000000000000000a11');
const AUTHOR_2: Address = getAddress('0xb0b0000000000000000000000000000000000b0b');
const MINTER: Address = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');

function mint(n: number, startTokenId: number, quantity: number, author: Address): DecodedMint {
  return {
    txHash: txHashOf(n) as Hex,
    logIndex: 0,
    blockNumber: 100 + n,
    blockTimestamp: new Date(Date.UTC(2026, 0, 1, 12, 0, n)),
    minter: MINTER,
    author,
    startTokenId,
    quantity,
    totalPaid: 123n,
  };
}

type TokenBody = Record<string, unknown> & { tokenId: number };
type Page = { items: TokenBody[]; nextCursor: string | null };

describe('read API', () => {
  let t: TestDatabase;
  let app: TestApp;
  const get = async (path: string): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`${app.url}${path}`);
    return { status: response.status, json: await response.json() };
  };

  before(async () => {
    t = await createTestDatabase();
    app = await startTestApp({ testDb: t, env: { LOG_LEVEL: 'warn' } });
    // 1..5 by author 1, 6..25 by author 2, 26..30 by author 1; 3 revealed on chain.
    await t.db.transaction((tx) =>
      ingestMints(tx, [mint(1, 1, 5, AUTHOR_1), mint(2, 6, 20, AUTHOR_2), mint(3, 26, 5, AUTHOR_1)], {
        revealed: new Map([[3, cidOf(3)]]),
      }),
    );
    await t.db.execute(
      sql`UPDATE tokens_s0 SET error_data = '{"code":"IMAGE_TIMEOUT","message":"timed out","at":"2026-01-02T00:00:00Z"}' WHERE token_id = 7`,
    );
  });
  after(async () => {
    await app?.close();
    await t?.drop();
  });

  it('lists newest first and pages with the cursor through every token exactly once', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const answer = await get(`/api/tokens?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(answer.status, 200);
      const page = answer.json as Page;
      seen.push(...page.items.map((item) => item.tokenId));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null);
    assert.equal(pages, 5);
    assert.deepEqual(
      seen,
      Array.from({ length: 30 }, (_, i) => 30 - i),
    );
  });

  it('a page that ends exactly at the last token has no cursor', async () => {
    for (const path of ['/api/tokens?limit=30', '/api/tokens?limit=10&cursor=11']) {
      const page = (await get(path)).json as Page;
      assert.equal(page.items.at(-1)?.tokenId, 1, path);
      assert.equal(page.nextCursor, null, path);
    }
  });

  it('filters by status and by author, case-insensitively', async () => {
    const revealed = (await get('/api/tokens?status=revealed')).json as Page;
    assert.deepEqual(
      revealed.items.map((i) => i.tokenId),
      [3],
    );
    const byAuthor = (await get(`/api/tokens?author=${AUTHOR_1.toLowerCase()}&limit=100`)).json as Page;
    assert.deepEqual(
      byAuthor.items.map((i) => i.tokenId),
      [30, 29, 28, 27, 26, 5, 4, 3, 2, 1],
    );
    assert.equal(byAuthor.nextCursor, null);
    const both = (await get(`/api/tokens?author=${AUTHOR_2}&status=detected&limit=3`)).json as Page;
    assert.deepEqual(
      both.items.map((i) => i.tokenId),
      [25, 24, 23],
    );
    assert.equal(both.nextCursor, '23');
  });

  it('answers one token with its fields mapped, timestamps in UTC with Z', async () => {
    const answer = await get('/api/tokens/7');
    assert.equal(answer.status, 200);
    const token = answer.json as Record<string, unknown>;
    assert.deepEqual(Object.keys(token).sort(), [
      'attempts',
      'authorWallet',
      'createdAt',
      'imageCid',
      'imageUrl',
      'lastError',
      'metadataCid',
      'metadataUrl',
      'mintTimestamp',
      'minterAddress',
      'revealTxHash',
      'revealedAt',
      'status',
      'tokenId',
      'updatedAt',
    ]);
    assert.equal(token.tokenId, 7);
    assert.equal(token.status, 'detected');
    assert.equal(token.authorWallet, AUTHOR_2);
    assert.equal(token.minterAddress, MINTER);
    assert.equal(token.mintTimestamp, '2026-01-01T12:00:02.000Z');
    assert.deepEqual(token.attempts, { generation: 0, upload: 0, reveal: 0 });
    assert.deepEqual(token.lastError, {
      code: 'IMAGE_TIMEOUT',
      message: 'timed out',
      at: '2026-01-02T00:00:00.000Z',
    });
    assert.match(String(token.createdAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const revealed = (await get('/api/tokens/3')).json as Record<string, unknown>;
    assert.equal(revealed.status, 'revealed');
    assert.equal(revealed.metadataCid, cidOf(3));
  });

  it('answers 404 TOKEN_NOT_FOUND for an unknown id and 400 for bad input', async () => {
    const missing = await get('/api/tokens/999');
    assert.equal(missing.status, 404);
    assert.equal((missing.json as { error: { code: string } }).error.code, 'TOKEN_NOT_FOUND');
    for (const path of [
      '/api/tokens/abc',
      '/api/tokens/0',
      '/api/tokens?status=minted',
      '/api/tokens?limit=0',
      '/api/tokens?limit=101',
      '/api/tokens?cursor=abc',
      '/api/tokens?author=0x1234',
      '/api/mint-events?fromBlock=-1',
      '/api/mint-events?fromBlock=10&toBlock=5',
    ]) {
      const answer = await get(path);
      assert.equal(answer.status, 400, path);
      assert.equal((answer.json as { error: { code: string } }).error.code, 'VALIDATION_ERROR', path);
    }
  });

  it('lists mint events of a block range in chain order', async () => {
    const answer = await get('/api/mint-events?fromBlock=102&toBlock=103');
    assert.equal(answer.status, 200);
    const { items } = answer.json as { items: Record<string, unknown>[] };
    assert.deepEqual(
      items.map((e) => [e.blockNumber, e.startTokenId, e.quantity]),
      [
        [102, 6, 20],
        [103, 26, 5],
      ],
    );
    assert.deepEqual(items[0], {
      txHash: txHashOf(2),
      logIndex: 0,
      blockNumber: 102,
      blockTimestamp: '2026-01-01T12:00:02.000Z',
      startTokenId: 6,
      quantity: 20,
      minterAddress: MINTER,
      authorWallet: AUTHOR_2,
      totalPaidWei: '123',
      detectedAt: items[0]?.detectedAt,
    });
    const all = (await get('/api/mint-events')).json as { items: unknown[] };
    assert.equal(all.items.length, 3);
  });

  it('documents every detection route with its response schemas in the OpenAPI document', async () => {
    const doc = (await get('/openapi.json')).json as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    assert.ok(doc.paths['/api/tokens']?.get?.responses['200']);
    assert.ok(doc.paths['/api/tokens/{tokenId}']?.get?.responses['404']);
    assert.ok(doc.paths['/api/mint-events']?.get?.responses['200']);
    assert.ok(doc.paths['/webhooks/alchemy']?.post?.responses['401']);
    for (const name of ['Token', 'TokenPage', 'MintEvent', 'AlchemyWebhook', 'AlchemyWebhookResult']) {
      assert.ok(doc.components.schemas[name], name);
    }
  });
});

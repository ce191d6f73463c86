import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../../src/db/client.js';
import type { Author, NewMintEvent } from '../../src/db/schema.js';
import * as authorsRepository from '../../src/repositories/authors.repository.js';
import * as contentBlobsRepository from '../../src/repositories/content-blobs.repository.js';
import * as imageJobsRepository from '../../src/repositories/image-generation-jobs.repository.js';
import * as ipfsRecordsRepository from '../../src/repositories/ipfs-upload-records.repository.js';
import * as mintEventsRepository from '../../src/repositories/mint-events.repository.js';
import * as revealTransactionsRepository from '../../src/repositories/reveal-transactions.repository.js';
import * as systemStateRepository from '../../src/repositories/system-state.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createTestDatabase, databaseNow, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens, txHashOf, walletOf } from '../helpers/db-fixtures.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(() => t.drop());

async function count(table: string): Promise<number> {
  const [row] = await t.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
  return row?.n ?? -1;
}

/** Explicit creation times, `n` seconds into 2026: the order of rows never depends on how fast the test runs. */
function second(n: number): Date {
  return new Date(Date.UTC(2026, 0, 1, 0, 0, n));
}

// Ids in the opposite order of the creation times: rows must come back by created_at, not by id.
const FIRST_UUID = '00000000-0000-4000-8000-000000000001';
const LAST_UUID = 'ffffffff-ffff-4fff-bfff-ffffffffffff';

/** Whether the row's updated_at is later than `moment` (text from databaseNow), compared by PostgreSQL. */
async function stampedAfter(table: string, keyColumn: string, key: string, moment: string): Promise<boolean> {
  const [row] = await t.sql.unsafe<{ later: boolean }[]>(
    `select updated_at > $1::timestamptz as later from ${table} where ${keyColumn} = $2`,
    [moment, key],
  );
  return row?.later === true;
}

function mintEvent(n: number, overrides: Partial<NewMintEvent> = {}): NewMintEvent {
  return {
    txHash: txHashOf(n),
    logIndex: 0,
    blockNumber: 1000 + n,
    blockTimestamp: new Date('2026-01-01T00:00:00Z'),
    startTokenId: n,
    quantity: 1,
    minterAddress: walletOf(1),
    authorWallet: walletOf(2),
    totalPaidWei: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    ...overrides,
  };
}

describe('authors', { timeout: 30_000 }, () => {
  it('finds an author by wallet whatever the case of the query', async () => {
    const checksummed = '0xAbCdEf0123456789aBcDeF0123456789AbCdEf01';
    const author = await authorsRepository.add(t.db, { walletAddress: checksummed, promptText: 'a prompt' });
    assert.equal(author.walletAddress, checksummed, 'stored as given');
    for (const query of [checksummed, checksummed.toLowerCase(), `0x${checksummed.slice(2).toUpperCase()}`]) {
      const found = await authorsRepository.getByWallet(t.db, query);
      assert.equal(found?.id, author.id, query);
    }
    assert.equal(await authorsRepository.getByWallet(t.db, walletOf(0xdead)), undefined);
    assert.equal((await authorsRepository.getById(t.db, author.id))?.promptText, 'a prompt');
    assert.equal(await authorsRepository.getById(t.db, '00000000-0000-4000-8000-000000000000'), undefined);
  });

  it('looks wallets up through the lower() unique index', async () => {
    // Enough rows that a sequential scan is not the cheapest plan for the planner.
    await t.sql`insert into authors (wallet_address)
      select '0x' || lpad(to_hex(g), 40, '0') from generate_series(100000, 102000) g`;
    await t.sql`analyze authors`;
    const plan = await t.sql.unsafe<{ 'QUERY PLAN': string }[]>(
      `explain select * from authors where lower(wallet_address) = lower('0xABCDEF0123456789ABCDEF0123456789ABCDEF01')`,
    );
    assert.match(plan.map((row) => row['QUERY PLAN']).join('\n'), /authors_wallet_address_lower_uq/);
  });

  it('ensureByWallets creates the missing authors once and returns one row per wallet', async () => {
    const existing = await insertAuthor(t.db, 0x5001);
    const before = await count('authors');
    const wanted = [
      walletOf(0x5001).toUpperCase().replace('0X', '0x'),
      '0x' + 'A1'.repeat(20),
      '0x' + 'a1'.repeat(20),
      '0x' + 'B2'.repeat(20),
    ];
    const rows = await authorsRepository.ensureByWallets(t.db, wanted);
    assert.equal(rows.length, 3);
    assert.equal(await count('authors'), before + 2);
    const byKey = new Map(rows.map((row) => [row.walletAddress.toLowerCase(), row]));
    assert.equal(byKey.get(walletOf(0x5001))?.id, existing.id, 'the existing author is reused');
    assert.equal(
      byKey.get('0x' + 'a1'.repeat(20))?.walletAddress,
      '0x' + 'A1'.repeat(20),
      'first spelling kept',
    );
    assert.equal(byKey.get('0x' + 'b2'.repeat(20))?.promptText, null);

    const again = await authorsRepository.ensureByWallets(t.db, wanted);
    assert.deepEqual(again.map((row) => row.id).sort(), rows.map((row) => row.id).sort());
    assert.equal(await count('authors'), before + 2);
    assert.deepEqual(await authorsRepository.ensureByWallets(t.db, []), []);
  });

  it('ensureByWallets from concurrent transactions creates each author once and both see it', async () => {
    const wallets = Array.from({ length: 20 }, (_, i) => walletOf(0x7000 + i));
    const pools = [createDatabase(t.url, { max: 1 }), createDatabase(t.url, { max: 1 })];
    try {
      const results = await Promise.all(
        pools.map((pool, i) =>
          pool.db.transaction(async (tx) => {
            const rows = await authorsRepository.ensureByWallets(
              tx,
              i === 0 ? wallets : wallets.map((w) => w.toUpperCase().replace('0X', '0x')),
            );
            await tx.execute(sql`select pg_sleep(0.05)`);
            return rows;
          }),
        ),
      );
      for (const rows of results) assert.equal(rows.length, 20);
      assert.deepEqual(results[0]?.map((row) => row.id).sort(), results[1]?.map((row) => row.id).sort());
      const [stored] = await t.sql<{ n: number }[]>`
        select count(*)::int as n from authors where lower(wallet_address) in ${t.sql(wallets)}`;
      assert.equal(stored?.n, 20);
    } finally {
      await Promise.all(pools.map((pool) => pool.close()));
    }
  });

  it('lists authors page by page in creation order', async () => {
    const all = await authorsRepository.list(t.db, { limit: 10_000 });
    const first = await authorsRepository.list(t.db, { limit: 3 });
    const second = await authorsRepository.list(t.db, { limit: 3, offset: 3 });
    assert.deepEqual(
      [...first, ...second].map((row) => row.id),
      all.slice(0, 6).map((row) => row.id),
    );
    assert.equal(all.length, await count('authors'));
  });
});

describe('mint events', { timeout: 30_000 }, () => {
  it('detects a duplicate (tx_hash, log_index) and only that one', async () => {
    const event = await mintEventsRepository.add(t.db, mintEvent(1, { logIndex: 3 }));
    assert.equal(event.totalPaidWei, mintEvent(1).totalPaidWei, 'uint256 survives numeric(78,0)');
    assert.equal(await mintEventsRepository.exists(t.db, txHashOf(1), 3), true);
    assert.equal(await mintEventsRepository.exists(t.db, txHashOf(1), 4), false);
    assert.equal(await mintEventsRepository.exists(t.db, txHashOf(2), 3), false);
    assert.equal((await mintEventsRepository.getByTxHashAndLogIndex(t.db, txHashOf(1), 3))?.id, event.id);
    assert.equal(await mintEventsRepository.getByTxHashAndLogIndex(t.db, txHashOf(1), 9), undefined);
  });

  it('addMany inserts the new events, skips the recorded ones and returns only those inserted', async () => {
    await mintEventsRepository.add(t.db, mintEvent(10));
    const before = await count('mint_events');
    const inserted = await mintEventsRepository.addMany(t.db, [
      mintEvent(10),
      mintEvent(10, { logIndex: 1 }),
      mintEvent(11),
      mintEvent(11),
    ]);
    assert.deepEqual(inserted.map((row) => `${row.txHash}#${row.logIndex}`).sort(), [
      `${txHashOf(10)}#1`,
      `${txHashOf(11)}#0`,
    ]);
    assert.equal(await count('mint_events'), before + 2);
    assert.deepEqual(await mintEventsRepository.addMany(t.db, [mintEvent(10), mintEvent(11)]), []);
    assert.deepEqual(await mintEventsRepository.addMany(t.db, []), []);
  });

  it('lists the events of a block range, both ends included, in chain order', async () => {
    await mintEventsRepository.addMany(t.db, [
      mintEvent(500, { blockNumber: 90_000, logIndex: 2 }),
      mintEvent(501, { blockNumber: 90_000, logIndex: 1 }),
      mintEvent(502, { blockNumber: 90_001 }),
      mintEvent(503, { blockNumber: 90_002 }),
      mintEvent(504, { blockNumber: 89_999 }),
    ]);
    const rows = await mintEventsRepository.listByBlockRange(t.db, { fromBlock: 90_000, toBlock: 90_001 });
    assert.deepEqual(
      rows.map((row) => [row.blockNumber, row.logIndex, row.txHash]),
      [
        [90_000, 1, txHashOf(501)],
        [90_000, 2, txHashOf(500)],
        [90_001, 0, txHashOf(502)],
      ],
    );
    const limited = await mintEventsRepository.listByBlockRange(t.db, {
      fromBlock: 0,
      toBlock: 1e9,
      limit: 2,
    });
    assert.equal(limited.length, 2);
  });
});

describe('system state', { timeout: 30_000 }, () => {
  it('set inserts, then updates in place moving updated_at; remove deletes', async () => {
    assert.equal(await systemStateRepository.get(t.db, 'last_processed_block'), undefined);
    const first = await systemStateRepository.set(t.db, 'last_processed_block', 100);
    assert.equal(first.stateValue, 100);
    const moment = await databaseNow(t.sql);
    const second = await systemStateRepository.set(t.db, 'last_processed_block', 250);
    assert.equal(second.stateValue, 250);
    assert.equal(await stampedAfter('system_state', 'key', 'last_processed_block', moment), true);
    const [row] = await t.sql<
      { n: number }[]
    >`select count(*)::int as n from system_state where key = 'last_processed_block'`;
    assert.equal(row?.n, 1, 'one row, updated in place');
    assert.equal((await systemStateRepository.get(t.db, 'last_processed_block'))?.stateValue, 250);

    assert.equal((await systemStateRepository.remove(t.db, 'last_processed_block'))?.stateValue, 250);
    assert.equal(await systemStateRepository.get(t.db, 'last_processed_block'), undefined);
    assert.equal(await systemStateRepository.remove(t.db, 'last_processed_block'), undefined);
  });

  it('round-trips every JSON type through jsonb without double encoding', async () => {
    const values: [string, unknown, string][] = [
      [
        'json_object',
        { a: 1, nested: { list: [1, 'two', { three: null }], ok: true }, text: 'ünïcode ✓ "quoted"' },
        'object',
      ],
      ['json_array', [1, 'a', false, null, { b: [] }], 'array'],
      ['json_number', 37_432_900, 'number'],
      ['json_boolean', false, 'boolean'],
      ['json_string', 'replicate', 'string'],
    ];
    for (const [key, value, type] of values) {
      await systemStateRepository.set(t.db, key, value);
      assert.deepEqual((await systemStateRepository.get(t.db, key))?.stateValue, value, key);
      const [stored] = await t.sql<
        { type: string }[]
      >`select jsonb_typeof(state_value) as type from system_state where key = ${key}`;
      assert.equal(stored?.type, type, `${key} is stored as a JSON ${type}, not as a string`);
    }
  });
});

describe('tokens', { timeout: 30_000 }, () => {
  let author: Author;
  let other: Author;
  before(async () => {
    author = await insertAuthor(t.db, 0x9001);
    other = await authorsRepository.add(t.db, { walletAddress: '0x' + 'Cd'.repeat(20) });
  });

  it('gets a token by row id and by on-chain id, undefined when absent', async () => {
    const [token] = await insertTokens(t.db, author, [1]);
    assert.ok(token);
    assert.equal((await tokensRepository.getById(t.db, token.id))?.tokenId, 1);
    assert.equal((await tokensRepository.getByTokenId(t.db, 1))?.id, token.id);
    assert.equal(
      (await tokensRepository.getWithAuthorByTokenId(t.db, 1))?.authorWallet,
      author.walletAddress,
    );
    assert.equal(await tokensRepository.getByTokenId(t.db, 424_242), undefined);
    assert.equal(await tokensRepository.getWithAuthorByTokenId(t.db, 424_242), undefined);
    assert.equal(await tokensRepository.getById(t.db, '00000000-0000-4000-8000-000000000000'), undefined);
    assert.equal(token.status, 'detected');
    assert.equal(token.generationAttempts, 0);
  });

  it('addMany with a partial overlap inserts only the missing ids', async () => {
    const batch = Array.from({ length: 50 }, (_, i) => 1001 + i);
    await insertTokens(t.db, author, batch.slice(10, 20));
    const rows = batch.map((tokenId) => ({
      tokenId,
      authorId: author.id,
      minterAddress: author.walletAddress,
      mintTimestamp: new Date('2026-02-01T00:00:00Z'),
    }));
    const inserted = await tokensRepository.addMany(t.db, rows);
    assert.deepEqual(
      inserted.map((row) => row.tokenId).sort((a, b) => a - b),
      [...batch.slice(0, 10), ...batch.slice(20)],
    );
    assert.deepEqual(await tokensRepository.listTokenIdsIn(t.db, [...batch, 999_999]), batch);
    assert.deepEqual(await tokensRepository.addMany(t.db, rows), []);
    assert.deepEqual(await tokensRepository.listTokenIdsIn(t.db, []), []);
  });

  it('stores and returns error_data as jsonb', async () => {
    const errorData = {
      code: 'REPLICATE_TIMEOUT',
      message: 'no answer in 60 s',
      transient: true,
      at: '2026-01-01T00:00:00.000Z',
      details: { status: 504, tries: [1, 2, 3], body: null, text: 'ünïcode ✓' },
    };
    const [token] = await insertTokens(t.db, author, [2000], { errorData });
    assert.ok(token);
    assert.deepEqual((await tokensRepository.getById(t.db, token.id))?.errorData, errorData);
    const [stored] = await t.sql<{ type: string; code: string; tries: number }[]>`
      select jsonb_typeof(error_data) as type, error_data->>'code' as code,
             jsonb_array_length(error_data->'details'->'tries') as tries
      from tokens_s0 where id = ${token.id}`;
    assert.deepEqual({ ...stored }, { type: 'object', code: 'REPLICATE_TIMEOUT', tries: 3 });
  });

  it('lists by status oldest first and by author, page by page', async () => {
    const ids = [3003, 3001, 3002];
    for (const [i, id] of ids.entries()) {
      await insertTokens(t.db, other, [id], { status: 'uploading', createdAt: second(i) });
    }
    const page1 = await tokensRepository.listByStatus(t.db, 'uploading', { limit: 2 });
    const page2 = await tokensRepository.listByStatus(t.db, 'uploading', { limit: 2, offset: 2 });
    assert.deepEqual(
      [...page1, ...page2].map((row) => row.tokenId),
      ids,
    );
    assert.deepEqual(
      (await tokensRepository.listByAuthor(t.db, other.id, { limit: 10 })).map((row) => row.tokenId),
      [3001, 3002, 3003],
    );
    assert.deepEqual(await tokensRepository.listByStatus(t.db, 'revealed', { limit: 10 }), []);
  });

  it('pages newest first by cursor, filtered by status and by author wallet case-insensitively', async () => {
    await insertTokens(t.db, other, [4001, 4003, 4005, 4007, 4009]);
    await insertTokens(t.db, other, [4002, 4004], {
      status: 'failed',
      errorData: { code: 'X', message: 'x' },
    });
    await insertTokens(t.db, author, [4006, 4008]);

    const walletQuery = other.walletAddress.toLowerCase();
    const seen: number[] = [];
    let cursor: number | undefined;
    for (;;) {
      const page = await tokensRepository.listPage(t.db, {
        limit: 2,
        status: 'detected',
        authorWallet: walletQuery,
        ...(cursor === undefined ? {} : { beforeTokenId: cursor }),
      });
      for (const row of page) {
        assert.equal(row.authorWallet, other.walletAddress);
        assert.equal(row.status, 'detected');
      }
      seen.push(...page.map((row) => row.tokenId));
      if (page.length < 2) break;
      cursor = page.at(-1)?.tokenId;
    }
    assert.deepEqual(seen, [4009, 4007, 4005, 4003, 4001]);

    const newest = await tokensRepository.listPage(t.db, { limit: 3 });
    const [maxRow] = await t.sql<{ max: number }[]>`select max(token_id) as max from tokens_s0`;
    assert.equal(newest[0]?.tokenId, maxRow?.max);
    const failed = await tokensRepository.listPage(t.db, {
      limit: 10,
      status: 'failed',
      beforeTokenId: 4004,
    });
    assert.deepEqual(
      failed.map((row) => row.tokenId),
      [4002],
    );
  });
});

describe('image jobs and IPFS records', { timeout: 30_000 }, () => {
  it('adds attempts per token, lists them oldest first and returns the latest', async () => {
    const author = await insertAuthor(t.db, 0x9101);
    const [token, otherToken] = await insertTokens(t.db, author, [6001, 6002]);
    assert.ok(token && otherToken);
    assert.equal(await imageJobsRepository.getLatestByToken(t.db, token.id), undefined);

    const first = await imageJobsRepository.add(t.db, {
      tokenRowId: token.id,
      service: 'replicate',
      status: 'failed',
      createdAt: second(1),
      id: LAST_UUID,
    });
    const later = await imageJobsRepository.add(t.db, {
      tokenRowId: token.id,
      service: 'replicate',
      status: 'running',
      retryCount: 1,
      createdAt: second(2),
      id: FIRST_UUID,
    });
    await imageJobsRepository.add(t.db, { tokenRowId: otherToken.id, service: 'replicate' });
    assert.deepEqual(
      (await imageJobsRepository.listByToken(t.db, token.id)).map((row) => row.id),
      [first.id, later.id],
    );
    assert.equal((await imageJobsRepository.getLatestByToken(t.db, token.id))?.id, later.id);
    const completed = await imageJobsRepository.update(t.db, later.id, {
      status: 'completed',
      externalJobId: 'pred_123',
      completedAt: new Date('2026-01-01T00:00:05Z'),
    });
    assert.equal(completed?.status, 'completed');
    assert.equal((await imageJobsRepository.getById(t.db, later.id))?.externalJobId, 'pred_123');
    assert.equal(
      await imageJobsRepository.update(t.db, '00000000-0000-4000-8000-000000000000', { status: 'failed' }),
      undefined,
    );

    assert.equal(await ipfsRecordsRepository.getLatestByToken(t.db, token.id), undefined);
    const image = await ipfsRecordsRepository.add(t.db, {
      tokenRowId: token.id,
      recordType: 'image',
      status: 'completed',
      cid: cidOf(1),
      createdAt: second(1),
      id: LAST_UUID,
    });
    const metadata = await ipfsRecordsRepository.add(t.db, {
      tokenRowId: token.id,
      recordType: 'metadata',
      createdAt: second(2),
      id: FIRST_UUID,
    });
    assert.deepEqual(
      (await ipfsRecordsRepository.listByToken(t.db, token.id)).map((row) => row.id),
      [image.id, metadata.id],
    );
    assert.equal((await ipfsRecordsRepository.getLatestByToken(t.db, token.id))?.id, metadata.id);
    assert.equal((await ipfsRecordsRepository.getLatestByToken(t.db, token.id, 'image'))?.cid, cidOf(1));
    assert.deepEqual(await ipfsRecordsRepository.listByToken(t.db, otherToken.id), []);
    const done = await ipfsRecordsRepository.update(t.db, metadata.id, {
      status: 'completed',
      cid: cidOf(2),
    });
    assert.equal((await ipfsRecordsRepository.getById(t.db, metadata.id))?.cid, cidOf(2));
    assert.equal(done?.status, 'completed');
  });
});

describe('content store and IPFS records in one statement', { timeout: 30_000 }, () => {
  it('stores every byte value exactly (base64 on the wire), once per CID, out of line uncompressed', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 131 + (i >> 9)) & 0xff));
    const blob = { cid: cidOf(9101), mediaType: 'image/png', bytes } as const;
    assert.equal(await contentBlobsRepository.put(t.db, blob), true);
    assert.equal(await contentBlobsRepository.put(t.db, blob), false);
    // Inside a transaction too (the statement runs on the transaction's connection).
    const inTx = { cid: cidOf(9102), mediaType: 'image/png', bytes: bytes.subarray(1, 257) } as const;
    await t.db.transaction((tx) => contentBlobsRepository.put(tx, inTx));
    const stored = await contentBlobsRepository.get(t.db, blob.cid);
    assert.deepEqual(
      [stored?.sizeBytes, Buffer.compare(Buffer.from(stored?.bytes ?? []), bytes)],
      [bytes.byteLength, 0],
    );
    assert.equal(
      Buffer.compare(
        (await contentBlobsRepository.get(t.db, inTx.cid))?.bytes ?? Buffer.alloc(0),
        inTx.bytes,
      ),
      0,
    );
    // Migration 0009: already-compressed image bytes are not compressed again (STORAGE EXTERNAL).
    const [column] = await t.sql<{ attstorage: string }[]>`
      SELECT attstorage FROM pg_attribute WHERE attrelid = 'content_blobs'::regclass AND attname = 'bytes'`;
    assert.equal(column?.attstorage, 'e');
    const [size] = await t.sql<{ stored: number }[]>`
      SELECT pg_column_size(bytes) AS stored FROM content_blobs WHERE cid = ${blob.cid}`;
    assert.ok((size?.stored ?? 0) >= bytes.byteLength, `stored ${size?.stored} bytes of ${bytes.byteLength}`);
  });

  it('addRecords writes the records in order with the blob, or nothing', async () => {
    const author = await insertAuthor(t.db, 0x9102);
    const [token] = await insertTokens(t.db, author, [6101]);
    assert.ok(token);
    const base = { tokenRowId: token.id, provider: 'local', retryCount: 0 } as const;
    const blob = { cid: cidOf(9103), mediaType: 'application/json', bytes: Buffer.from('{"a":1}') } as const;
    const ids = await ipfsRecordsRepository.addRecords(
      t.db,
      [
        {
          ...base,
          recordType: 'image',
          computedCid: cidOf(1),
          cid: cidOf(1),
          status: 'completed',
          completedAt: second(3),
        },
        {
          ...base,
          recordType: 'metadata',
          computedCid: blob.cid,
          status: 'failed',
          errorData: { code: 'X', message: 'm' },
        },
      ],
      { storeBlob: blob },
    );
    const rows = await ipfsRecordsRepository.listByToken(t.db, token.id);
    // Written in one statement, listed in the order given (created_at: one microsecond apart).
    assert.deepEqual(
      rows.map((row) => row.id),
      ids,
    );
    assert.deepEqual(
      ids.map((id) => rows.find((row) => row.id === id)?.recordType),
      ['image', 'metadata'],
    );
    const [image, metadata] = ids.map((id) => rows.find((row) => row.id === id));
    assert.equal(image?.errorData, null);
    assert.equal(new Date(image?.completedAt ?? 0).toISOString(), second(3).toISOString());
    assert.deepEqual([metadata?.errorData, metadata?.completedAt], [{ code: 'X', message: 'm' }, null]);
    assert.equal((await contentBlobsRepository.get(t.db, blob.cid))?.mediaType, 'application/json');
    // A refused record stores no blob either (one statement).
    const orphan = { ...blob, cid: cidOf(9104) };
    await assert.rejects(
      ipfsRecordsRepository.addRecords(
        t.db,
        [{ ...base, recordType: 'image', computedCid: 'not a cid', status: 'failed' }],
        {
          storeBlob: orphan,
        },
      ),
    );
    assert.equal(await contentBlobsRepository.get(t.db, orphan.cid), undefined);
  });
});

describe('reveal transactions', { timeout: 30_000 }, () => {
  it('finds transactions by hash, by status and the pending ones', async () => {
    const author = await insertAuthor(t.db, 0x9201);
    const tokens = await insertTokens(t.db, author, [7001, 7002, 7003]);
    const ids = tokens.map((token) => token.id);
    const written = await revealTransactionsRepository.add(t.db, { tokenRowIds: ids, createdAt: second(1) });
    assert.equal(written.status, 'pending');
    assert.deepEqual(written.tokenRowIds, ids);
    const sent = await revealTransactionsRepository.add(t.db, {
      createdAt: second(2),
      tokenRowIds: ids.slice(0, 1),
      txHash: txHashOf(0xabc),
      nonce: 7,
      gasPriceGwei: '0.123456789',
      status: 'sent',
      sentAt: new Date(),
    });
    await revealTransactionsRepository.add(t.db, {
      tokenRowIds: ids.slice(1),
      txHash: txHashOf(0xabd),
      status: 'confirmed',
    });
    await revealTransactionsRepository.add(t.db, {
      tokenRowIds: ids.slice(2),
      status: 'failed',
      errorData: { code: 'REVERTED', message: 'AlreadyRevealed(7003)' },
    });

    assert.equal((await revealTransactionsRepository.getByHash(t.db, txHashOf(0xabc)))?.id, sent.id);
    assert.equal((await revealTransactionsRepository.getByHash(t.db, txHashOf(0xfff)))?.id, undefined);
    assert.equal((await revealTransactionsRepository.getById(t.db, sent.id))?.gasPriceGwei, '0.123456789');
    assert.deepEqual(
      (await revealTransactionsRepository.listPending(t.db)).map((row) => row.id),
      [written.id, sent.id],
    );
    assert.deepEqual(
      (await revealTransactionsRepository.listByStatus(t.db, 'sent', { limit: 10 })).map((row) => row.id),
      [sent.id],
    );

    const moment = await databaseNow(t.sql);
    const confirmed = await revealTransactionsRepository.update(t.db, sent.id, {
      status: 'confirmed',
      blockNumber: 123,
      gasUsed: 21_000,
      confirmedAt: new Date(),
    });
    assert.equal(confirmed?.status, 'confirmed');
    assert.equal(await stampedAfter('reveal_transactions', 'id', sent.id, moment), true, 'updated_at moved');
    assert.deepEqual(
      (await revealTransactionsRepository.listPending(t.db)).map((row) => row.id),
      [written.id],
    );
    assert.equal(
      await revealTransactionsRepository.update(t.db, '00000000-0000-4000-8000-000000000000', {
        status: 'failed',
      }),
      undefined,
    );
  });
  it("lists a keeper's batch in flight (pending or sent), never another keeper's", async () => {
    const author = await insertAuthor(t.db, 0x9202);
    const tokens = await insertTokens(t.db, author, [7101, 7102, 7103]);
    const [keeperA, keeperB] = [walletOf(0xa1).toLowerCase(), walletOf(0xb2).toLowerCase()];
    const add = (n: number, keeperAddress: string, status: 'pending' | 'sent' | 'confirmed') =>
      revealTransactionsRepository.add(t.db, {
        tokenRowIds: [tokens[n]?.id ?? ''],
        keeperAddress,
        status,
        createdAt: second(10 + n),
        ...(status === 'pending' ? {} : { txHash: txHashOf(0xc00 + n), nonce: n, sentAt: second(10 + n) }),
        ...(status === 'confirmed' ? { blockNumber: 1, gasUsed: 1, confirmedAt: second(20) } : {}),
      });
    await add(0, keeperA, 'confirmed');
    const sentA = await add(1, keeperA, 'sent');
    const pendingB = await add(2, keeperB, 'pending');
    const ids = async (keeper: string) =>
      (await revealTransactionsRepository.listInFlightForKeeper(t.db, keeper)).map((row) => row.id);
    assert.deepEqual(await ids(keeperA), [sentA.id]);
    assert.deepEqual(await ids(keeperB), [pendingB.id]);
  });
});

// ingestMints against a real PostgreSQL: idempotent, partial batches, concurrent duplicates, revealed ids.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { getAddress, type Address, type Hex } from 'viem';
import { ingestMints, type DecodedMint } from '../../../src/stages/detection/mint-ingest.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { cidOf, txHashOf } from '../../helpers/db-fixtures.js';
import { countRows, tokenRows } from '../../helpers/mint-scenario.js';

const MINTER: Address = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');

function mint(n: number, startTokenId: number, quantity: number, author: string): DecodedMint {
  return {
    txHash: txHashOf(n) as Hex,
    logIndex: n % 3,
    blockNumber: 100 + n,
    blockTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
    minter: MINTER,
    // Lower case on purpose: the ingest must store it checksummed.
    author: author.toLowerCase() as Address,
    startTokenId,
    quantity,
    totalPaid: 10n ** 18n * BigInt(quantity),
  };
}

const WALLET_1 = '0x1111111111111111111111111111111111111111'.replace(/1$/, 'a');
const WALLET_2 = '0x2222222222222222222222222222222222222222'.replace(/2$/, 'b');

describe('ingestMints', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ max: 20 });
  });
  after(() => t.drop());

  const reset = () => t.db.execute(sql`TRUNCATE tokens_s0, mint_events, authors CASCADE`);

  it('records events, authors and every token id; a replay creates nothing', async () => {
    await reset();
    const mints = [mint(1, 1, 1, WALLET_1), mint(2, 2, 50, WALLET_2), mint(3, 52, 7, WALLET_1)];
    const first = await t.db.transaction((tx) => ingestMints(tx, mints));
    assert.deepEqual(
      first.created,
      Array.from({ length: 58 }, (_, i) => i + 1),
    );
    assert.deepEqual(first.skipped, []);
    assert.equal(first.mintEventsCreated, 3);

    const rows = await tokenRows(t.db);
    assert.equal(rows.length, 58);
    assert.equal(rows[0]?.wallet_address, getAddress(WALLET_1));
    assert.equal(rows[1]?.wallet_address, getAddress(WALLET_2));
    assert.equal(rows[57]?.wallet_address, getAddress(WALLET_1));
    assert.ok(rows.every((r) => r.status === 'detected' && r.minter_address === MINTER));
    assert.equal(rows[57]?.mint_timestamp.toISOString(), '2026-01-01T00:00:03.000Z');
    const [author] = await t.db.execute<{ prompt_text: string | null }>(
      sql`SELECT prompt_text FROM authors WHERE wallet_address = ${getAddress(WALLET_1)}`,
    );
    assert.equal(author?.prompt_text, null);
    const [event] = await t.db.execute<{ total_paid_wei: string; author_wallet: string }>(
      sql`SELECT total_paid_wei::text, author_wallet FROM mint_events WHERE token_id = 2`,
    );
    assert.deepEqual(event, { total_paid_wei: '50000000000000000000', author_wallet: getAddress(WALLET_2) });

    const replay = await t.db.transaction((tx) => ingestMints(tx, mints));
    assert.deepEqual(replay.created, []);
    assert.equal(replay.skipped.length, 58);
    assert.equal(replay.mintEventsCreated, 0);
    assert.deepEqual(await countRows(t.db), { tokens: 58, events: 3, authors: 2 });
  });

  it('creates the 40 missing ids of a 50-batch whose first 10 exist', async () => {
    await reset();
    await t.db.transaction((tx) =>
      ingestMints(tx, [{ ...mint(9, 1, 10, WALLET_1), txHash: txHashOf(99) as Hex }]),
    );
    const result = await t.db.transaction((tx) => ingestMints(tx, [mint(9, 1, 50, WALLET_1)]));
    assert.deepEqual(
      result.created,
      Array.from({ length: 40 }, (_, i) => i + 11),
    );
    assert.deepEqual(
      result.skipped,
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.deepEqual(await countRows(t.db), { tokens: 50, events: 2, authors: 1 });
  });

  it('matches an existing author case-insensitively', async () => {
    // Lower, upper and checksummed spellings all differ, so only a case-insensitive lookup finds the row.
    const lower = '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd';
    const upper = `0x${lower.slice(2).toUpperCase()}`;
    assert.equal(new Set([lower, upper, getAddress(lower)]).size, 3);
    for (const [stored, sent] of [
      [upper, lower],
      [lower, upper],
    ] as const) {
      await reset();
      const [kept] = await t.db.execute<{ id: string }>(
        sql`INSERT INTO authors (wallet_address, prompt_text) VALUES (${stored}, 'kept') RETURNING id`,
      );
      // mint() lower-cases the author and the ingest checksums it: send the spelling as given.
      const result = await t.db.transaction((tx) =>
        ingestMints(tx, [{ ...mint(1, 1, 2, lower), author: sent as Address }]),
      );
      assert.deepEqual(result.created, [1, 2]);
      const [row] = await t.db.execute<{ n: number; prompt_text: string; wallet: string }>(
        sql`SELECT count(*)::int AS n, max(prompt_text) AS prompt_text, max(wallet_address) AS wallet FROM authors`,
      );
      assert.deepEqual(row, { n: 1, prompt_text: 'kept', wallet: stored }, `stored ${stored}, sent ${sent}`);
      const owners = await t.db.execute<{ author_id: string }>(sql`SELECT DISTINCT author_id FROM tokens_s0`);
      assert.deepEqual(
        [...owners].map((o) => o.author_id),
        [kept?.id],
      );
    }
  });

  it('stores the minter checksummed whatever its case in the mint', async () => {
    await reset();
    const lowerMinter = MINTER.toLowerCase() as Address;
    assert.notEqual(lowerMinter, MINTER);
    await t.db.transaction((tx) => ingestMints(tx, [{ ...mint(1, 1, 2, WALLET_1), minter: lowerMinter }]));
    const rows = await tokenRows(t.db);
    assert.deepEqual(
      rows.map((r) => r.minter_address),
      [MINTER, MINTER],
    );
    const [event] = await t.db.execute<{ minter_address: string }>(
      sql`SELECT minter_address FROM mint_events`,
    );
    assert.equal(event?.minter_address, MINTER);
  });

  it('10 concurrent deliveries of the same new mints create each row once', async () => {
    await reset();
    const mints = [mint(1, 1, 1, WALLET_1), mint(2, 2, 50, WALLET_2), mint(3, 52, 7, WALLET_1)];
    const results = await Promise.all(
      Array.from({ length: 10 }, () => t.db.transaction((tx) => ingestMints(tx, mints))),
    );
    const created = results.flatMap((r) => r.created).sort((a, b) => a - b);
    assert.deepEqual(
      created,
      Array.from({ length: 58 }, (_, i) => i + 1),
      'each id created by exactly one',
    );
    assert.equal(
      results.reduce((sum, r) => sum + r.mintEventsCreated, 0),
      3,
    );
    assert.deepEqual(await countRows(t.db), { tokens: 58, events: 3, authors: 2 });
  });

  it('overlapping concurrent payloads in shuffled orders neither deadlock nor duplicate', async () => {
    await reset();
    const all = Array.from({ length: 12 }, (_, i) =>
      mint(i + 1, i * 5 + 1, 5, i % 2 === 0 ? WALLET_1 : WALLET_2),
    );
    const payloads = Array.from({ length: 12 }, (_, k) =>
      all.filter((_, i) => (i + k) % 3 !== 0).sort(() => (k % 2 === 0 ? 1 : -1)),
    );
    const results = await Promise.all(payloads.map((p) => t.db.transaction((tx) => ingestMints(tx, p))));
    const created = results.flatMap((r) => r.created).sort((a, b) => a - b);
    assert.deepEqual(
      created,
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    assert.deepEqual(await countRows(t.db), { tokens: 60, events: 12, authors: 2 });
  });

  it('creates revealed ids as revealed with their metadata CID, and only the ids asked for', async () => {
    await reset();
    const revealed = new Map([[3, cidOf(3)]]);
    const result = await t.db.transaction((tx) =>
      ingestMints(tx, [mint(1, 1, 5, WALLET_1)], { revealed, onlyTokenIds: new Set([2, 3]) }),
    );
    assert.deepEqual(result.created, [2, 3]);
    const rows = await tokenRows(t.db);
    assert.deepEqual(
      rows.map((r) => [r.token_id, r.status, r.metadata_cid]),
      [
        [2, 'detected', null],
        [3, 'revealed', cidOf(3)],
      ],
    );
  });

  it('a recorded event given again with another block, minter, author or total is a conflict naming it', async () => {
    const other = getAddress('0x3333333333333333333333333333333333333333');
    const changes: [string, Partial<DecodedMint>][] = [
      ['block number', { blockNumber: 999 }],
      ['minter', { minter: other }],
      ['author', { author: other }],
      ['total paid', { totalPaid: 1n }],
    ];
    for (const [reason, change] of changes) {
      await reset();
      const recorded = mint(1, 1, 2, WALLET_1);
      await t.db.transaction((tx) => ingestMints(tx, [recorded]));
      const given = { ...recorded, ...change };
      const result = await t.db.transaction((tx) => ingestMints(tx, [given]));
      assert.deepEqual(
        [result.created, result.conflicts.map((c) => c.reason)],
        [[], [reason]],
        `only the ${reason} differs`,
      );
    }
  });

  it('writes nothing when any row breaks a constraint (one transaction)', async () => {
    await reset();
    const bad = { ...mint(2, 10, 5, WALLET_2), blockNumber: 0 };
    await assert.rejects(t.db.transaction((tx) => ingestMints(tx, [mint(1, 1, 5, WALLET_1), bad])));
    assert.deepEqual(await countRows(t.db), { tokens: 0, events: 0, authors: 0 });
  });
});

// The database itself refuses rows that break an invariant, whatever code (or psql session) writes them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Author, NewMintEvent } from '../../src/db/schema.js';
import * as authorsRepository from '../../src/repositories/authors.repository.js';
import * as imageJobsRepository from '../../src/repositories/image-generation-jobs.repository.js';
import * as mintEventsRepository from '../../src/repositories/mint-events.repository.js';
import * as revealTransactionsRepository from '../../src/repositories/reveal-transactions.repository.js';
import * as systemStateRepository from '../../src/repositories/system-state.repository.js';
import * as tokenQueue from '../../src/repositories/token-queue.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  cidOf,
  insertAuthor,
  insertTokens,
  postgresErrorOf,
  txHashOf,
  walletOf,
} from '../helpers/db-fixtures.js';

let t: TestDatabase;
let author: Author;
before(async () => {
  t = await createTestDatabase();
  author = await insertAuthor(t.db, 1);
});
after(() => t.drop());

async function count(table: string): Promise<number> {
  const [row] = await t.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
  return row?.n ?? -1;
}

/** Asserts that `write` is refused by the named constraint (with the given SQLSTATE) and changes no row count. */
async function refusedBy(
  table: string,
  constraint: string,
  sqlState: string,
  write: () => Promise<unknown>,
): Promise<void> {
  const before = await count(table);
  await assert.rejects(write, (error: unknown) => {
    const cause = postgresErrorOf(error);
    assert.ok(cause, `a PostgreSQL error, got ${String(error)}`);
    assert.equal(cause.constraint_name, constraint);
    assert.equal(cause.code, sqlState);
    return true;
  });
  assert.equal(await count(table), before, `${table} unchanged`);
}

const UNIQUE = '23505';
const CHECK = '23514';
const FOREIGN_KEY = '23503';

function mintEvent(overrides: Partial<NewMintEvent> = {}): NewMintEvent {
  return {
    txHash: txHashOf(0xfeed),
    logIndex: 5,
    blockNumber: 10,
    blockTimestamp: new Date('2026-01-01T00:00:00Z'),
    startTokenId: 1,
    quantity: 1,
    minterAddress: walletOf(1),
    authorWallet: walletOf(2),
    ...overrides,
  };
}

describe('unique keys', { timeout: 30_000 }, () => {
  it('refuses a second mint event with the same (tx_hash, log_index)', async () => {
    await mintEventsRepository.add(t.db, mintEvent());
    await refusedBy('mint_events', 'mint_events_tx_hash_log_index_uq', UNIQUE, () =>
      mintEventsRepository.add(t.db, mintEvent({ blockNumber: 11, startTokenId: 9 })),
    );
    await mintEventsRepository.add(t.db, mintEvent({ logIndex: 6 }));
  });

  it('refuses an author whose wallet differs from an existing one only in case', async () => {
    await authorsRepository.add(t.db, { walletAddress: '0x' + 'ab'.repeat(20) });
    await refusedBy('authors', 'authors_wallet_address_lower_uq', UNIQUE, () =>
      authorsRepository.add(t.db, { walletAddress: '0x' + 'AB'.repeat(20) }),
    );
    await refusedBy('authors', 'authors_wallet_address_lower_uq', UNIQUE, () =>
      authorsRepository.add(t.db, { walletAddress: '0x' + 'aB'.repeat(20) }),
    );
  });

  it('refuses a second token with the same token_id', async () => {
    await insertTokens(t.db, author, [100]);
    await refusedBy('tokens_s0', 'tokens_s0_token_id_uq', UNIQUE, () =>
      tokensRepository.add(t.db, {
        tokenId: 100,
        authorId: author.id,
        minterAddress: walletOf(3),
        mintTimestamp: new Date(),
      }),
    );
  });
});

describe('checks', { timeout: 30_000 }, () => {
  it('refuses a reveal transaction of 0 or 51 tokens and accepts 1 and 50', async () => {
    const tokens = await insertTokens(
      t.db,
      author,
      Array.from({ length: 51 }, (_, i) => 200 + i),
    );
    const ids = tokens.map((token) => token.id);
    await refusedBy('reveal_transactions', 'reveal_transactions_token_ids_size', CHECK, () =>
      revealTransactionsRepository.add(t.db, { tokenRowIds: [] }),
    );
    await refusedBy('reveal_transactions', 'reveal_transactions_token_ids_size', CHECK, () =>
      revealTransactionsRepository.add(t.db, { tokenRowIds: ids }),
    );
    assert.equal(
      (await revealTransactionsRepository.add(t.db, { tokenRowIds: ids.slice(0, 50) })).tokenRowIds.length,
      50,
    );
    assert.equal(
      (await revealTransactionsRepository.add(t.db, { tokenRowIds: ids.slice(0, 1) })).tokenRowIds.length,
      1,
    );
  });

  it('refuses an unknown status in every status column', async () => {
    const [token] = await insertTokens(t.db, author, [300]);
    assert.ok(token);
    await refusedBy(
      'tokens_s0',
      'tokens_s0_status_valid',
      CHECK,
      () =>
        t.sql`insert into tokens_s0 (token_id, author_id, minter_address, status, mint_timestamp)
            values (301, ${author.id}, ${walletOf(3)}, 'minted', now())`,
    );
    await assert.rejects(
      t.sql`update tokens_s0 set status = 'Detected' where id = ${token.id}`,
      (error: unknown) => postgresErrorOf(error)?.constraint_name === 'tokens_s0_status_valid',
    );
    await refusedBy(
      'image_generation_jobs',
      'image_generation_jobs_status_valid',
      CHECK,
      () =>
        t.sql`insert into image_generation_jobs (token_id, service, status) values (${token.id}, 'replicate', 'done')`,
    );
    await refusedBy(
      'reveal_transactions',
      'reveal_transactions_status_valid',
      CHECK,
      () =>
        t.sql`insert into reveal_transactions (token_ids, status) values (${[token.id]}::uuid[], 'mined')`,
    );
    assert.equal((await tokensRepository.getById(t.db, token.id))?.status, 'detected');
  });

  it('refuses a ready token without both CIDs, by insert and by transition', async () => {
    await refusedBy('tokens_s0', 'tokens_s0_ready_has_cids', CHECK, () =>
      insertTokens(t.db, author, [400], { status: 'ready', imageCid: cidOf(1) }),
    );
    const [uploading] = await insertTokens(t.db, author, [401], { status: 'uploading', imageCid: cidOf(1) });
    assert.ok(uploading);
    await assert.rejects(
      tokenQueue.setStatusIf(t.db, uploading.id, 'uploading', 'ready'),
      (error: unknown) => postgresErrorOf(error)?.constraint_name === 'tokens_s0_ready_has_cids',
    );
    assert.equal((await tokensRepository.getById(t.db, uploading.id))?.status, 'uploading');
    const ready = await tokenQueue.setStatusIf(t.db, uploading.id, 'uploading', 'ready', {
      metadataCid: cidOf(2),
    });
    assert.equal(ready?.status, 'ready');
  });

  it('refuses malformed addresses, hashes and CIDs, and half a lease', async () => {
    await refusedBy('authors', 'authors_wallet_address_format', CHECK, () =>
      authorsRepository.add(t.db, { walletAddress: '0x1234' }),
    );
    await refusedBy('mint_events', 'mint_events_tx_hash_format', CHECK, () =>
      mintEventsRepository.add(
        t.db,
        mintEvent({ txHash: txHashOf(0xbeef).toUpperCase().replace('0X', '0x') }),
      ),
    );
    await refusedBy('mint_events', 'mint_events_quantity_range', CHECK, () =>
      mintEventsRepository.add(t.db, mintEvent({ logIndex: 40, quantity: 51 })),
    );
    await refusedBy('tokens_s0', 'tokens_s0_image_cid_format', CHECK, () =>
      insertTokens(t.db, author, [500], { imageCid: 'https://gateway.example/ipfs/bafy' }),
    );
    await refusedBy('tokens_s0', 'tokens_s0_lease_complete', CHECK, () =>
      insertTokens(t.db, author, [501], { leaseOwner: 'worker' }),
    );
    await refusedBy('system_state', 'system_state_key_format', CHECK, () =>
      systemStateRepository.set(t.db, 'bad key!', 1),
    );
  });

  it('holds the lengths of addresses, hashes and CIDs exactly (the format checks test length and characters apart)', async () => {
    const hex = (n: number) => 'a'.repeat(n);
    for (const walletAddress of ['0x' + hex(39), '0x' + hex(39) + 'g']) {
      await refusedBy('authors', 'authors_wallet_address_format', CHECK, () =>
        authorsRepository.add(t.db, { walletAddress }),
      );
    }
    for (const txHash of ['0x' + hex(63), '0x' + hex(63) + 'A']) {
      await refusedBy('mint_events', 'mint_events_tx_hash_format', CHECK, () =>
        mintEventsRepository.add(t.db, mintEvent({ txHash, logIndex: 41 })),
      );
    }
    const base32 = (n: number) => 'b' + 'a'.repeat(n);
    const base58 = (n: number) => 'Qm' + 'z'.repeat(n);
    for (const imageCid of [
      base32(49),
      base58(43),
      base58(45),
      'b' + 'A'.repeat(58),
      'Qm' + '0'.repeat(44),
    ]) {
      await refusedBy('tokens_s0', 'tokens_s0_image_cid_format', CHECK, () =>
        insertTokens(t.db, author, [510], { imageCid }),
      );
    }
    // The shortest CIDv1 and a CIDv0 are accepted.
    await insertTokens(t.db, author, [511], { imageCid: base32(50) });
    await insertTokens(t.db, author, [512], { imageCid: base58(44) });
  });

  it('has no counted repetition ({n}, {n,m}) in any format check: PostgreSQL builds a DFA state per count on every match', async () => {
    const counted = await t.sql<{ conname: string }[]>`
      SELECT conname FROM pg_constraint
      WHERE contype = 'c' AND connamespace = 'public'::regnamespace
        AND pg_get_constraintdef(oid) ~ '~ ''[^'']*\{[0-9]'
      ORDER BY conname`;
    assert.deepEqual(
      counted.map((row) => row.conname),
      [],
    );
  });
});

describe('foreign keys', { timeout: 30_000 }, () => {
  it('refuses deleting an author who has tokens, and cascades a token delete to its attempts', async () => {
    const owner = await insertAuthor(t.db, 0x600);
    const [token] = await insertTokens(t.db, owner, [600]);
    assert.ok(token);
    await imageJobsRepository.add(t.db, { tokenRowId: token.id, service: 'replicate' });
    await refusedBy(
      'authors',
      'tokens_s0_author_id_authors_id_fk',
      FOREIGN_KEY,
      () => t.sql`delete from authors where id = ${owner.id}`,
    );
    await t.sql`delete from tokens_s0 where id = ${token.id}`;
    assert.deepEqual(await imageJobsRepository.listByToken(t.db, token.id), []);
    await refusedBy(
      'image_generation_jobs',
      'image_generation_jobs_token_id_tokens_s0_id_fk',
      FOREIGN_KEY,
      () => imageJobsRepository.add(t.db, { tokenRowId: token.id, service: 'replicate' }),
    );
  });
});

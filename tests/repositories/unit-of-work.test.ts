import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDatabase, type Database } from '../../src/db/client.js';
import { bindRepositories, withUnitOfWork } from '../../src/repositories/unit-of-work.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { postgresErrorOf, txHashOf, walletOf } from '../helpers/db-fixtures.js';

let t: TestDatabase;
// A second pool: what other connections see, i.e. what was committed.
let observer: Database;
before(async () => {
  t = await createTestDatabase();
  observer = createDatabase(t.url, { max: 1 });
});
after(async () => {
  await observer.close();
  await t.drop();
});

async function committedCount(table: string, where = 'true'): Promise<number> {
  const [row] = await observer.sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from ${table} where ${where}`,
  );
  return row?.n ?? -1;
}

function mintEvent(n: number) {
  return {
    txHash: txHashOf(n),
    logIndex: 0,
    blockNumber: n,
    blockTimestamp: new Date('2026-01-01T00:00:00Z'),
    startTokenId: n,
    quantity: 1,
    minterAddress: walletOf(1),
    authorWallet: walletOf(n),
  };
}

describe('withUnitOfWork', { timeout: 30_000 }, () => {
  it('commits when the work resolves, and returns its result', async () => {
    const result = await withUnitOfWork(t.db, async (uow) => {
      const author = await uow.authors.add({ walletAddress: walletOf(0x100) });
      await uow.systemState.set('uow_commit', { author: author.id });
      assert.equal(
        await committedCount('authors', `wallet_address = '${walletOf(0x100)}'`),
        0,
        'not yet visible',
      );
      return author.id;
    });
    assert.equal(typeof result, 'string');
    assert.equal(await committedCount('authors', `id = '${result}'`), 1);
    assert.equal(await committedCount('system_state', `key = 'uow_commit'`), 1);
  });

  it('rolls back every write and rethrows the very error the work threw', async () => {
    const thrown = new Error('stage failed');
    await assert.rejects(
      withUnitOfWork(t.db, async (uow) => {
        await uow.authors.add({ walletAddress: walletOf(0x200) });
        await uow.systemState.set('uow_rollback', 1);
        assert.ok(await uow.authors.getByWallet(walletOf(0x200)), 'the work sees its own writes');
        throw thrown;
      }),
      (error: unknown) => error === thrown,
    );
    assert.equal(await committedCount('authors', `wallet_address = '${walletOf(0x200)}'`), 0);
    assert.equal(await committedCount('system_state', `key = 'uow_rollback'`), 0);
  });

  it('gives access to every repository, bound to the transaction', async () => {
    await withUnitOfWork(t.db, async (uow) => {
      assert.deepEqual(Object.keys(uow).sort(), [
        'authNonces',
        'authors',
        'contentBlobs',
        'imageJobs',
        'ipfsRecords',
        'mintEvents',
        'oauthStates',
        'pipelineOverview',
        'revealAttempts',
        'revealTransactions',
        'systemState',
        'tokenQueue',
        'tokens',
        'tx',
      ]);
      const author = await uow.authors.add({ walletAddress: walletOf(0x300) });
      const [token] = await uow.tokens.addMany([
        { tokenId: 300, authorId: author.id, minterAddress: walletOf(1), mintTimestamp: new Date() },
      ]);
      assert.ok(token);
      assert.equal((await uow.tokens.getByTokenId(300))?.id, token.id);
      assert.equal((await uow.tokens.getWithAuthorByTokenId(300))?.authorWallet, walletOf(0x300));
      assert.equal(
        (await uow.imageJobs.add({ tokenRowId: token.id, service: 'replicate' })).tokenRowId,
        token.id,
      );
      assert.equal(
        (await uow.ipfsRecords.add({ tokenRowId: token.id, recordType: 'image' })).tokenRowId,
        token.id,
      );
      assert.equal((await uow.revealTransactions.add({ tokenRowIds: [token.id] })).status, 'pending');
      assert.equal((await uow.mintEvents.addMany([mintEvent(300)])).length, 1);
      assert.equal(await uow.mintEvents.exists(txHashOf(300), 0), true);
      assert.equal((await uow.systemState.set('uow_access', true)).stateValue, true);
      assert.equal(await committedCount('tokens_s0', 'token_id = 300'), 0, 'all inside the one transaction');
    });
    assert.equal(await committedCount('tokens_s0', 'token_id = 300'), 1);
  });

  it('rolls back writes to several tables together when a database error ends the work', async () => {
    await withUnitOfWork(t.db, (uow) => uow.mintEvents.add(mintEvent(400)));
    const tables = ['authors', 'tokens_s0', 'image_generation_jobs', 'system_state', 'mint_events'];
    const before = await Promise.all(tables.map((table) => committedCount(table)));
    await assert.rejects(
      withUnitOfWork(t.db, async (uow) => {
        const author = await uow.authors.add({ walletAddress: walletOf(0x400) });
        const token = await uow.tokens.add({
          tokenId: 400,
          authorId: author.id,
          minterAddress: walletOf(1),
          mintTimestamp: new Date(),
        });
        await uow.imageJobs.add({ tokenRowId: token.id, service: 'replicate' });
        await uow.systemState.set('uow_atomic', 400);
        await uow.mintEvents.add(mintEvent(401));
        await uow.mintEvents.add(mintEvent(400));
      }),
      (error: unknown) => postgresErrorOf(error)?.constraint_name === 'mint_events_tx_hash_log_index_uq',
    );
    assert.deepEqual(await Promise.all(tables.map((table) => committedCount(table))), before);
    assert.equal(await committedCount('mint_events', `tx_hash = '${txHashOf(401)}'`), 0);
  });

  it('runs inside a savepoint when given a transaction: an inner failure keeps the outer writes', async () => {
    await withUnitOfWork(t.db, async (outer) => {
      await outer.systemState.set('uow_outer', 1);
      await assert.rejects(
        withUnitOfWork(outer.tx, async (inner) => {
          await inner.systemState.set('uow_inner', 1);
          throw new Error('inner');
        }),
        /inner/,
      );
      assert.equal(await outer.systemState.get('uow_inner'), undefined);
    });
    assert.equal(await committedCount('system_state', `key = 'uow_outer'`), 1);
    assert.equal(await committedCount('system_state', `key = 'uow_inner'`), 0);
  });
});

describe('bindRepositories', { timeout: 30_000 }, () => {
  it('binds to the database itself: each call commits on its own', async () => {
    const uow = bindRepositories(t.db);
    assert.equal(uow.tx, t.db);
    await uow.systemState.set('bound_autocommit', 'yes');
    assert.equal(await committedCount('system_state', `key = 'bound_autocommit'`), 1);
  });

  it('binds to a transaction opened by the caller, as the HTTP middleware does', async () => {
    await assert.rejects(
      t.db.transaction(async (tx) => {
        const uow = bindRepositories(tx);
        await uow.systemState.set('bound_in_tx', 1);
        assert.equal((await uow.systemState.get('bound_in_tx'))?.stateValue, 1);
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal(await committedCount('system_state', `key = 'bound_in_tx'`), 0);
  });
});

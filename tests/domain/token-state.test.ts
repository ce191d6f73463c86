import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database } from '../../src/db/client.js';
import {
  TOKEN_STATUSES,
  type Author,
  type NewToken,
  type Token,
  type TokenStatus,
} from '../../src/db/schema.js';
import {
  canTransition,
  failToken,
  finishClaimedToken,
  isTerminal,
  NON_TERMINAL_STATUSES,
  retryFailedToken,
  transitionToken,
} from '../../src/domain/token-state.js';
import {
  ConflictError,
  InvalidStateTransition,
  NotFoundError,
  TransitionConflict,
} from '../../src/errors.js';
import { STAGES } from '../../src/domain/stages.js';
import * as tokenQueue from '../../src/repositories/token-queue.repository.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import { createTestDatabase, databaseNow, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens, txHashOf } from '../helpers/db-fixtures.js';

// Written out by hand rather than derived from the module, so that a wrong table fails here.
const ALLOWED = new Set([
  'detected>generating',
  'detected>failed',
  'generating>uploading',
  // A transient image failure, or a stopping worker, sends the token back to the image stage's start.
  'generating>detected',
  'generating>failed',
  'uploading>ready',
  'uploading>failed',
  'ready>revealed',
  'ready>failed',
]);

describe('canTransition (pure table)', { timeout: 30_000 }, () => {
  it('allows exactly the pipeline moves and the moves to failed, for all 36 pairs', () => {
    for (const from of TOKEN_STATUSES) {
      for (const to of TOKEN_STATUSES) {
        assert.equal(canTransition(from, to), ALLOWED.has(`${from}>${to}`), `${from} -> ${to}`);
      }
    }
  });

  it('allows every move the stage table makes: claim, finish, retry at the start, fail', () => {
    for (const stage of Object.values(STAGES)) {
      const moves = [
        [stage.start, stage.working],
        [stage.working, stage.next],
        [stage.working, stage.start],
        [stage.working, 'failed'],
      ] as const;
      for (const [from, to] of moves) {
        if (from === to) continue;
        assert.ok(canTransition(from, to), `${stage.name}: ${from} -> ${to}`);
      }
    }
    assert.deepEqual(
      Object.values(STAGES).map((stage) => [stage.start, stage.working, stage.next]),
      [
        ['detected', 'generating', 'uploading'],
        ['uploading', 'uploading', 'ready'],
        ['ready', 'ready', 'revealed'],
      ],
    );
  });

  it('has revealed and failed as the only terminal statuses', () => {
    assert.deepEqual(
      TOKEN_STATUSES.filter((status) => isTerminal(status)),
      ['revealed', 'failed'],
    );
    assert.deepEqual(NON_TERMINAL_STATUSES, ['detected', 'generating', 'uploading', 'ready']);
  });
});

describe('token transitions in the database', { timeout: 30_000 }, () => {
  let t: TestDatabase;
  let author: Author;
  let nextTokenId = 1;

  before(async () => {
    t = await createTestDatabase();
    author = await insertAuthor(t.db, 1);
  });
  after(() => t.drop());

  /** A fresh token in `status`, with the columns that status requires by CHECK. */
  async function tokenIn(status: TokenStatus, overrides: Partial<NewToken> = {}): Promise<Token> {
    const id = nextTokenId++;
    const cids =
      status === 'ready' || status === 'revealed' ? { imageCid: cidOf(id), metadataCid: cidOf(id + 1) } : {};
    const [token] = await insertTokens(t.db, author, [id], { status, ...cids, ...overrides });
    assert.ok(token);
    return token;
  }

  async function statusOf(token: Token): Promise<TokenStatus | undefined> {
    return (await tokensRepository.getById(t.db, token.id))?.status;
  }

  it('walks detected -> generating -> uploading -> ready -> revealed, writing each stage result', async () => {
    const token = await tokenIn('detected');
    const generating = await transitionToken(t.db, { tokenId: token.tokenId }, 'generating');
    assert.equal(generating.status, 'generating');
    const uploading = await transitionToken(t.db, { id: token.id }, 'uploading', {
      changes: { imageCid: cidOf(900) },
    });
    assert.equal(uploading.status, 'uploading');
    assert.equal(uploading.imageCid, cidOf(900));
    const ready = await transitionToken(t.db, { tokenId: token.tokenId }, 'ready', {
      from: 'uploading',
      changes: { metadataCid: cidOf(901) },
    });
    assert.equal(ready.status, 'ready');
    assert.equal(ready.revealedAt, null);
    assert.ok(ready.readyAt instanceof Date, 'ready_at is set: the reveal batch waits from it');
    assert.equal(uploading.readyAt, null);

    const [{ before: dbBefore } = { before: new Date(0) }] = await t.db.execute<{ before: Date }>(
      sql`select now() as before`,
    );
    const revealed = await transitionToken(t.db, { tokenId: token.tokenId }, 'revealed', {
      changes: { revealTxHash: txHashOf(77) },
    });
    assert.equal(revealed.status, 'revealed');
    assert.equal(revealed.revealTxHash, txHashOf(77));
    assert.ok(revealed.revealedAt instanceof Date, 'revealed_at is set');
    assert.ok(Math.abs(revealed.revealedAt.getTime() - new Date(dbBefore).getTime()) < 60_000);

    const stored = await tokensRepository.getById(t.db, token.id);
    assert.equal(stored?.status, 'revealed');
    assert.equal(stored?.imageCid, cidOf(900));
    assert.equal(stored?.metadataCid, cidOf(901));
  });

  it('stamps updated_at on every status change, strictly later than the moment before it', async () => {
    const token = await tokenIn('detected');
    const claimed = await tokenIn('generating', {
      leaseOwner: 'worker-c',
      leaseExpiresAt: new Date(Date.now() + 60_000),
    });
    const moves: [Token, string, () => Promise<unknown>][] = [
      [token, 'transition', () => transitionToken(t.db, { tokenId: token.tokenId }, 'generating')],
      [token, 'fail', () => failToken(t.db, { tokenId: token.tokenId }, { code: 'X', message: 'x' })],
      [token, 'retry', () => retryFailedToken(t.db, { tokenId: token.tokenId })],
      [
        claimed,
        'finish a claim',
        () => finishClaimedToken(t.db, claimed, 'uploading', { imageCid: cidOf(5) }),
      ],
    ];
    for (const [moved, what, move] of moves) {
      const before = await databaseNow(t.sql);
      await move();
      const [row] = await t.sql<{ later: boolean; updated_at: string }[]>`
        select updated_at > ${before}::timestamptz as later, updated_at::text from tokens_s0 where id = ${moved.id}`;
      assert.equal(row?.later, true, `${what}: updated_at ${row?.updated_at} is not after ${before}`);
    }
  });

  it('drops the lease of whoever held the token when it moves', async () => {
    const token = await tokenIn('detected', {
      leaseOwner: 'worker-a',
      leaseExpiresAt: new Date(Date.now() + 60_000),
    });
    const moved = await transitionToken(t.db, { tokenId: token.tokenId }, 'generating');
    assert.equal(moved.leaseOwner, null);
    assert.equal(moved.leaseExpiresAt, null);
  });

  const invalid: [TokenStatus, TokenStatus][] = [
    ['detected', 'uploading'],
    ['detected', 'ready'],
    ['detected', 'revealed'],
    ['detected', 'detected'],
    ['generating', 'ready'],
    ['generating', 'generating'],
    ['uploading', 'detected'],
    ['uploading', 'generating'],
    ['uploading', 'revealed'],
    ['ready', 'uploading'],
    ['ready', 'detected'],
  ];
  for (const [from, to] of invalid) {
    it(`refuses ${from} -> ${to} with a message naming the token, its status and the requested one`, async () => {
      const token = await tokenIn(from);
      await assert.rejects(transitionToken(t.db, { tokenId: token.tokenId }, to), (error: unknown) => {
        assert.ok(error instanceof InvalidStateTransition);
        assert.ok(error instanceof ConflictError);
        assert.equal(error.status, 409);
        assert.equal(error.code, 'INVALID_STATE_TRANSITION');
        assert.match(
          error.message,
          new RegExp(`^Token ${token.tokenId} cannot move from ${from} to ${to}\\b`),
        );
        assert.deepEqual(
          { tokenId: error.tokenId, from: error.from, to: error.to },
          { tokenId: token.tokenId, from, to },
        );
        return true;
      });
      assert.equal(await statusOf(token), from, 'nothing changed');
    });
  }

  for (const from of ['detected', 'generating', 'uploading', 'ready'] as const) {
    it(`fails a ${from} token, storing its error data and dropping its lease`, async () => {
      const token = await tokenIn(from, {
        leaseOwner: 'worker-b',
        leaseExpiresAt: new Date(Date.now() + 60_000),
      });
      const errorData = {
        code: 'PROVIDER_REJECTED',
        message: `gave up while ${from}`,
        transient: false,
        at: '2026-01-01T00:00:00.000Z',
        attempts: [1, 2, { status: 503, body: 'ünïcode ✓' }],
      };
      const failed = await failToken(t.db, { tokenId: token.tokenId }, errorData);
      assert.equal(failed.status, 'failed');
      assert.deepEqual(failed.errorData, errorData);
      assert.equal(failed.leaseOwner, null);
      const stored = await tokensRepository.getById(t.db, token.id);
      assert.equal(stored?.status, 'failed');
      assert.deepEqual(stored?.errorData, errorData);
    });
  }

  it('refuses a move to failed that records no error', async () => {
    const token = await tokenIn('generating');
    await assert.rejects(transitionToken(t.db, { tokenId: token.tokenId }, 'failed'), TypeError);
    await assert.rejects(
      transitionToken(t.db, { tokenId: token.tokenId }, 'failed', { changes: { errorData: null } }),
      TypeError,
    );
    assert.equal(await statusOf(token), 'generating');
  });

  it('lets nothing leave revealed', async () => {
    const token = await tokenIn('revealed');
    for (const to of TOKEN_STATUSES) {
      await assert.rejects(
        transitionToken(t.db, { tokenId: token.tokenId }, to, {
          changes: { errorData: { code: 'X', message: 'x' } },
        }),
        (error: unknown) =>
          error instanceof InvalidStateTransition &&
          error.message === `Token ${token.tokenId} cannot move from revealed to ${to}: revealed is terminal`,
      );
    }
    await assert.rejects(retryFailedToken(t.db, { tokenId: token.tokenId }), InvalidStateTransition);
    assert.equal(await statusOf(token), 'revealed');
  });

  it('lets failed leave only through the operator retry, which resets its stage attempts, backoff, lease and error', async () => {
    const token = await tokenIn('failed', {
      errorData: { code: 'OLD', message: 'old error' },
      generationAttempts: 3,
      uploadAttempts: 2,
      revealAttempts: 1,
      nextAttemptAt: new Date(Date.now() + 3_600_000),
      leaseOwner: 'stale-worker',
      leaseExpiresAt: new Date(Date.now() + 3_600_000),
    });
    for (const to of TOKEN_STATUSES) {
      await assert.rejects(
        transitionToken(t.db, { tokenId: token.tokenId }, to, {
          changes: { errorData: { code: 'X', message: 'x' } },
        }),
        (error: unknown) =>
          error instanceof InvalidStateTransition && error.from === 'failed' && error.to === to,
      );
    }
    assert.equal(await statusOf(token), 'failed');

    const retried = await retryFailedToken(t.db, { tokenId: token.tokenId });
    assert.equal(retried.status, 'detected');
    // The error names no stage: the image stage, whose attempts alone are reset.
    assert.deepEqual([retried.generationAttempts, retried.uploadAttempts, retried.revealAttempts], [0, 2, 1]);
    assert.equal(retried.errorData, null);
    assert.equal(retried.leaseOwner, null);
    assert.equal(retried.leaseExpiresAt, null);
    assert.ok(retried.nextAttemptAt.getTime() <= Date.now() + 1_000, 'due again at once');

    const [claimable] = await t.db.execute<{ due: boolean }>(
      sql`select next_attempt_at <= now() + interval '1 second' as due from tokens_s0 where id = ${token.id}`,
    );
    assert.equal(claimable?.due, true);
  });

  it('refuses the operator retry of a token that has not failed', async () => {
    const token = await tokenIn('uploading');
    await assert.rejects(retryFailedToken(t.db, { tokenId: token.tokenId }), (error: unknown) => {
      assert.ok(error instanceof InvalidStateTransition);
      assert.match(
        error.message,
        new RegExp(`Token ${token.tokenId} cannot move from uploading to detected`),
      );
      return true;
    });
    assert.equal(await statusOf(token), 'uploading');
  });

  it('raises NotFoundError for an unknown token', async () => {
    for (const attempt of [
      () => transitionToken(t.db, { tokenId: 999_999 }, 'generating'),
      () => transitionToken(t.db, { id: '00000000-0000-4000-8000-000000000000' }, 'generating'),
      () => retryFailedToken(t.db, { tokenId: 999_999 }),
      () => failToken(t.db, { tokenId: 999_999 }, { code: 'X', message: 'x' }),
    ]) {
      await assert.rejects(attempt, (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.equal(error.code, 'TOKEN_NOT_FOUND');
        return true;
      });
    }
  });

  it('raises TransitionConflict when the caller expected another status (it changed meanwhile)', async () => {
    const token = await tokenIn('generating');
    await assert.rejects(
      transitionToken(t.db, { tokenId: token.tokenId }, 'generating', { from: 'detected' }),
      (error: unknown) => {
        assert.ok(error instanceof TransitionConflict);
        assert.equal(error.code, 'TRANSITION_CONFLICT');
        assert.equal(error.status, 409);
        assert.match(error.message, new RegExp(`Token ${token.tokenId} .*generating.*no longer detected`));
        return true;
      },
    );
    assert.equal(await statusOf(token), 'generating');
  });

  it('raises TransitionConflict, not InvalidStateTransition, when it loses a real race between read and update', async () => {
    const token = await tokenIn('detected');
    const racer: Database = createDatabase(t.url, { max: 1, applicationName: 'token-state-racer' });
    const winner: Database = createDatabase(t.url, { max: 1 });
    try {
      let releaseWinner: () => void = () => {};
      const winnerHolds = new Promise<void>((resolve) => (releaseWinner = resolve));
      let lockTaken: () => void = () => {};
      const locked = new Promise<void>((resolve) => (lockTaken = resolve));
      // The winner locks the row, waits until the racer has read 'detected' and blocks on its UPDATE, then
      // fails the token and commits: the racer's UPDATE ... WHERE status = 'detected' then matches nothing.
      const winnerDone = winner.db.transaction(async (tx) => {
        await tx.execute(sql`select 1 from tokens_s0 where id = ${token.id} for update`);
        lockTaken();
        await winnerHolds;
        await tokenQueue.setStatusIf(tx, token.id, 'detected', 'failed', {
          errorData: { code: 'OPERATOR', message: 'cancelled' },
        });
      });
      await locked;
      const racing = transitionToken(racer.db, { tokenId: token.tokenId }, 'generating');
      const outcome = racing.then(
        () => undefined,
        (error: unknown) => error,
      );
      const deadline = Date.now() + 10_000;
      for (;;) {
        const waiting = await t.sql`
          select 1 from pg_stat_activity
          where application_name = 'token-state-racer' and wait_event_type = 'Lock'`;
        if (waiting.length > 0) break;
        if (Date.now() > deadline) throw new Error('the racer never blocked on the row lock');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      releaseWinner();
      await winnerDone;
      const error = await outcome;
      assert.ok(error instanceof TransitionConflict, `got ${String(error)}`);
      assert.equal(error.expected, 'detected');
      assert.equal(error.actual, 'failed');
      assert.equal(error.to, 'generating');
      assert.equal(await statusOf(token), 'failed');
    } finally {
      await racer.close();
      await winner.close();
    }
  });
});

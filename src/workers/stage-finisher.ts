// The stage runtime's finisher: how one claimed token's result is written, once its unit's work has ended.
//   success   -> the stage's next status with the work's columns, grouped with the other finishes ready at the
//                same time (finish-writer.ts: ONE statement for the group's successes, their attempts rows
//                closed and the NOTIFY of `next` included);
//   failure   -> what the failure policy (failure-policy.ts) decides: a retry after a backoff, or `failed`;
//   settled   -> the stage wrote the token itself (the reveal): only counted and its attempt closed.
// Every write is a compare-and-set on status and lease owner: a token whose lease was lost is left alone, its
// result discarded and logged, its attempts row closed as LEASE_LOST. Each attempt's row is closed in the same
// statement (or transaction, for a failure) as the finish that applied.
import type { Database, Executor } from '../db/client.js';
import type { Token } from '../db/schema.js';
import { finishClaimedToken, finishClaimedTokens } from '../domain/token-state.js';
import type { Logger } from '../logger.js';
import type { StageMetrics } from '../metrics/stage-metrics.js';
import { closeAttempts } from '../repositories/token-completions.repository.js';
import * as tokenQueue from '../repositories/token-queue.repository.js';
import type { AttemptDetails, AttemptOutcome, BatchItemResult, Stage, WorkDone } from '../stages/stage.js';
import { attemptsExhaustedErrorData, decideFailure } from './failure-policy.js';
import { createFinishWriter } from './finish-writer.js';

/** What the runner counts (its stats()); the finisher adds to it. */
export type StageCounters = {
  claims: number;
  claimed: number;
  completed: number;
  retried: number;
  failed: number;
  leasesLost: number;
  /** Groups of finishing writes sent, and the writes in them (their mean size: finishes / finishGroups). */
  finishGroups: number;
  finishes: number;
};

export type StageFinisherDeps = {
  stage: Stage;
  database: Pick<Database, 'db'>;
  owner: string;
  log: Logger;
  metrics: StageMetrics;
  counters: StageCounters;
  random: () => number;
  /** A retry was scheduled: an idle loop sleeping until the earliest due token it knew of must look again. */
  onRetryScheduled: () => void;
  /** Some unit of the runner is still working: its finish is near, a group may wait for it (FINISH_GATHER_MS). */
  othersWorking: () => boolean;
};

export type StageFinisher = {
  /** Writes one token's result (its attempt `attemptId`, if any, closed with it). Throws if the database does. */
  finish: (
    token: Token,
    result: BatchItemResult,
    attemptId: string | undefined,
    details: AttemptDetails,
  ) => Promise<void>;
  /** Tokens whose attempts are all used by claims that never finished (their workers died): failed at once. */
  failExhausted: (tokens: readonly Token[]) => Promise<void>;
  /**
   * Gives claimed tokens back to the stage's start, claimable at once (a worker stopping). `refundAttempt`
   * (default true): their work never started, so the claim does not count as an attempt, and their attempts
   * rows (`attemptIds`, if written) are closed as failed with code RELEASED, so none stays `running`.
   */
  giveBack: (
    tokens: readonly Token[],
    attemptIds?: ReadonlyMap<string, string>,
    options?: { refundAttempt: boolean },
  ) => Promise<void>;
};

/** The attempts row of a token given back before its work started. */
const RELEASED_UNSTARTED: AttemptOutcome = {
  status: 'failed',
  errorData: { code: 'RELEASED', message: 'given back before the work started (the worker stopped)' },
  details: {},
};

/**
 * Longest a finish waits for others to share its statement while units of the same runner still work: a stage
 * whose units end one at a time (the image stage: renders of different lengths) then writes its finishes, and
 * wakes the next stage, in groups of up to WORKER_BATCH_SIZE instead of one statement (and one downstream claim)
 * per token. Small next to any stage's own work; nothing waits when no other unit works.
 */
export const FINISH_GATHER_MS = 200;

/** A successful finish waiting for its group. */
type Completion = {
  token: Token;
  done: WorkDone;
  attemptId: string | undefined;
  details: AttemptDetails;
};

export function createStageFinisher(deps: StageFinisherDeps): StageFinisher {
  const { stage, owner, log, metrics, counters } = deps;
  const { definition: def, settings } = stage;
  const db = deps.database.db;

  const recorder = stage.attempts;
  const writeFinish = createFinishWriter<Completion>({
    database: deps.database,
    gather: { size: settings.batchSize, holdMs: FINISH_GATHER_MS, more: deps.othersWorking },
    onGroup: (size) => {
      counters.finishGroups += 1;
      counters.finishes += size;
    },
    completeMany: async (executor, completes) => {
      const moved = await finishClaimedTokens(
        executor,
        completes.map(({ token, done, attemptId, details }) => ({
          token,
          to: def.next,
          changes: done.changes,
          blobs: done.blobs,
          rows: done.rows,
          attempt:
            recorder && attemptId !== undefined
              ? { id: attemptId, outcome: recorder.outcome({ status: 'completed', details }) }
              : undefined,
        })),
        { attempts: recorder, notify: def.next, rows: stage.mode === 'token' ? stage.finishRows : undefined },
      );
      return completes.map(({ token }) => moved.has(token.id));
    },
  });

  async function recordEnd(executor: Executor, attemptId: string | undefined, outcome: AttemptOutcome) {
    if (attemptId === undefined || recorder === undefined) return;
    await closeAttempts(executor, recorder, [{ attemptId, outcome: recorder.outcome(outcome) }]);
  }

  async function settled(
    outcome: 'completed' | 'retried' | 'failed' | 'released',
    attemptId: string | undefined,
    details: AttemptDetails,
  ): Promise<void> {
    if (outcome === 'completed') {
      counters.completed += 1;
      metrics.completed(def.name);
    } else if (outcome === 'retried') {
      counters.retried += 1;
      metrics.failed(def.name, 'settled', 'retry');
    } else if (outcome === 'failed') {
      counters.failed += 1;
      metrics.failed(def.name, 'settled', 'failed');
    }
    await recordEnd(db, attemptId, {
      status: outcome === 'completed' ? 'completed' : 'failed',
      details: { ...details, settledByStage: outcome },
    });
  }

  async function completed(
    token: Token,
    done: WorkDone,
    attemptId: string | undefined,
    details: AttemptDetails,
  ): Promise<void> {
    const finished = await writeFinish({ complete: { token, done, attemptId, details } });
    if (!finished) {
      counters.leasesLost += 1;
      log.warn('stage.lease_lost', {
        tokenId: token.tokenId,
        owner,
        detail: 'finished after losing the lease: result discarded',
      });
      await recordEnd(db, attemptId, {
        status: 'failed',
        errorData: { code: 'LEASE_LOST', message: 'the lease expired before the result was written' },
        details,
      });
      return;
    }
    counters.completed += 1;
    metrics.completed(def.name);
    log.debug('stage.completed', { tokenId: token.tokenId, to: def.next });
  }

  async function failed(
    token: Token,
    error: unknown,
    attemptId: string | undefined,
    details: AttemptDetails,
  ): Promise<void> {
    const attempts = token[def.attempts];
    const { failure, errorData, giveUp, exhausted, delayMs } = decideFailure(
      error,
      attempts,
      def,
      settings,
      deps.random,
    );
    const written = await writeFinish({
      apply: async (tx) => {
        const row = giveUp
          ? await finishClaimedToken(tx, token, 'failed', { errorData })
          : await tokenQueue.scheduleRetry(tx, token, def.start, delayMs / 1000, errorData);
        if (row === undefined) return false;
        await recordEnd(tx, attemptId, { status: 'failed', errorData, details });
        return true;
      },
    });
    if (!written) {
      counters.leasesLost += 1;
      log.warn('stage.lease_lost', {
        tokenId: token.tokenId,
        owner,
        code: failure.code,
        detail: 'failed after losing the lease',
      });
      await recordEnd(db, attemptId, { status: 'failed', errorData, details });
      return;
    }
    const fields = {
      tokenId: token.tokenId,
      class: failure.errorClass,
      code: failure.code,
      // Not `message`: winston would merge it into the event name.
      errorMessage: failure.message,
      attempts,
      providerStatus: failure.providerStatus,
      ...(failure.unexpected ? { error } : {}),
    };
    metrics.failed(def.name, failure.errorClass, giveUp ? 'failed' : 'retry');
    if (giveUp) {
      counters.failed += 1;
      log.warn('stage.failed', { ...fields, exhausted });
    } else {
      counters.retried += 1;
      log.info('stage.retry_scheduled', { ...fields, delayMs });
      deps.onRetryScheduled();
    }
  }

  return {
    finish: (token, result, attemptId, details) => {
      if (result.ok === 'settled') return settled(result.outcome, attemptId, details);
      if (result.ok) {
        const { changes = {}, blobs, rows } = result;
        return completed(token, { changes, blobs, rows }, attemptId, details);
      }
      return failed(token, result.error, attemptId, details);
    },

    giveBack: async (tokens, attemptIds, options = { refundAttempt: true }) => {
      for (const token of tokens) {
        const released = await tokenQueue.releaseClaim(db, token, def, options).catch((error: unknown) => {
          log.warn('lease.release_failed', { tokenId: token.tokenId, error });
          return undefined;
        });
        if (released) log.info('lease.released', { tokenId: token.tokenId, to: def.start });
      }
      if (recorder === undefined) return;
      const ends = tokens.flatMap((token) => {
        const attemptId = attemptIds?.get(token.id);
        return attemptId === undefined ? [] : [{ attemptId, outcome: recorder.outcome(RELEASED_UNSTARTED) }];
      });
      await closeAttempts(db, recorder, ends).catch((error: unknown) =>
        log.warn('stage.attempts_end_failed', { owner, error }),
      );
    },

    failExhausted: async (tokens) => {
      for (const token of tokens) {
        const errorData = attemptsExhaustedErrorData(def, settings.maxAttempts, token[def.attempts]);
        const row = await finishClaimedToken(db, token, 'failed', { errorData });
        if (row !== undefined) {
          counters.failed += 1;
          metrics.failed(def.name, 'transient', 'failed');
          log.warn('stage.failed', {
            tokenId: token.tokenId,
            code: errorData.code,
            attempts: errorData.attempts,
          });
        }
      }
    },
  };
}

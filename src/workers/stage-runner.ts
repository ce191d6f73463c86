// The stage runtime: one loop per stage and process that claims tokens, works on them outside any transaction,
// and finishes each with a compare-and-set write. Every pipeline stage runs on it:
//   - per-token stages (image, ipfs): `mode: 'token'`, `work(token)` returns the columns to write on success;
//   - batch stages (reveal): `mode: 'batch'`, one claim of up to WORKER_BATCH_SIZE tokens handled as one unit,
//     `work(tokens)` returns one result per token.
// What the runtime does for every stage, so that no stage does it itself:
//   claim  up to WORKER_BATCH_SIZE tokens (never more than free slots) in ONE committed statement that stamps a
//          lease (token-queue.repository claimTokens); at most `concurrency` units working; a unit's slot is
//          free once its work ends, while its finishing writes wait for their group (at most `concurrency` more);
//   lease  renewed for every token in flight every leaseSeconds/3 in one statement; a token whose renewal finds
//          another owner is lost: its work is aborted and its result discarded (logged);
//   finish grouped (finish-writer.ts: the finishes ready together share one transaction, successes in one
//          statement); success -> the stage's next status with the work's columns, NOTIFY of that status;
//          transient failure -> back to the stage's start after an exponential, jittered, capped backoff
//          (at least the provider's Retry-After); permanent failure, or maxAttempts reached -> failed with
//          error_data {stage, class, code, message, attempts, providerStatus}; every write checks status and
//          lease owner;
//   record one attempts row per attempt through the stage's AttemptRecorder (image_generation_jobs for the image);
//   wake   at once on a NOTIFY of the stage's start status (wake()), else when the next backoff is due, else every
//          pollIntervalMs;
//   stop   stop claiming, let the units in flight finish within the timeout, then abort them and release their
//          leases (back to the start, claimable at once).
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Database, Executor } from '../db/client.js';
import type { ErrorData, Token } from '../db/schema.js';
import { finishClaimedToken, finishClaimedTokens } from '../domain/token-state.js';
import { StageError, type StageErrorClass } from '../errors.js';
import { backoffDelayMs } from '../lib/backoff.js';
import { createFinishWriter } from './finish-writer.js';
import type { Logger } from '../logger.js';
import { prometheusStageMetrics, type StageMetrics } from '../metrics/stage-metrics.js';
import * as tokenQueue from '../repositories/token-queue.repository.js';
import type { StageDefinition } from '../domain/stages.js';
import type { AttemptDetails, AttemptOutcome, BatchItemResult, Stage, WorkContext } from '../stages/stage.js';
import type { TokenChanges } from '../repositories/token-queue.repository.js';

export type StageRunnerDeps = {
  database: Pick<Database, 'db'>;
  logger: Logger;
  /** Lease owner name; unique per runner by default (stage@host#pid/random). */
  owner?: string;
  /** Jitter source, [0, 1). */
  random?: () => number;
  /** Where claims, finishes and work time are counted; default: the process's Prometheus metrics. */
  metrics?: StageMetrics;
};

export type StageRunnerStats = {
  /** Claim statements run (empty ones included). */
  claims: number;
  claimed: number;
  completed: number;
  retried: number;
  failed: number;
  leasesLost: number;
  inFlight: number;
};

export type StageRunner = {
  readonly name: string;
  readonly owner: string;
  /** Look for work now (a NOTIFY of the stage's start status, a reconnected listener). */
  wake: () => void;
  stats: () => StageRunnerStats;
  /**
   * Stops claiming, waits for the units in flight at most `timeoutMs`, then aborts the rest and releases their
   * leases. Idempotent. `forced`: some unit had not finished in time.
   */
  stop: (timeoutMs: number) => Promise<{ forced: boolean }>;
};

/** A wait that a wake() ends early; a wake() with nobody waiting is kept for the next wait. */
class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;

  wake(): void {
    if (this.resolve) {
      const resolve = this.resolve;
      this.resolve = undefined;
      resolve();
    } else {
      this.pending = true;
    }
  }

  /** Forgets a pending wake (just before a claim, which sees everything committed until then). */
  clear(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined;
        resolve();
      }, ms);
      this.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** A successful finish waiting for its group. */
type Completion = {
  token: Token;
  changes: TokenChanges;
  attemptId: string | undefined;
  details: AttemptDetails;
};

type Unit = {
  tokens: Token[];
  controller: AbortController;
  done: Promise<void>;
};

type Failure = {
  errorClass: StageErrorClass;
  code: string;
  message: string;
  providerStatus: number | null;
  retryAfterMs: number;
  unexpected: boolean;
};

function classify(error: unknown): Failure {
  if (error instanceof StageError) {
    return {
      errorClass: error.errorClass,
      code: error.code,
      message: error.message,
      providerStatus: error.providerStatus ?? null,
      retryAfterMs: error.retryAfterMs ?? 0,
      unexpected: false,
    };
  }
  // A bug or an error nobody classified: retried like a transient one, bounded by maxAttempts, logged with stack.
  return {
    errorClass: 'transient',
    code: 'UNEXPECTED',
    message: error instanceof Error ? error.message : String(error),
    providerStatus: null,
    retryAfterMs: 0,
    unexpected: true,
  };
}

export function defaultOwner(stage: StageDefinition): string {
  return `${stage.name}@${hostname()}#${process.pid}/${randomUUID().slice(0, 8)}`;
}

export function startStageRunner(stage: Stage, deps: StageRunnerDeps): StageRunner {
  const { definition: def, settings } = stage;
  const db = deps.database.db;
  const owner = deps.owner ?? defaultOwner(def);
  const log = deps.logger.child({ stage: def.name });
  const random = deps.random ?? Math.random;
  const metrics = deps.metrics ?? prometheusStageMetrics;
  const units = new Set<Unit>();
  /** Units whose work has not ended (each holds one of the `concurrency` slots). */
  let working = 0;
  const writeFinish = createFinishWriter<Completion>({
    database: deps.database,
    notify: def.next,
    completeMany: async (tx, completes) => {
      const moved = await finishClaimedTokens(
        tx,
        completes.map(({ token, changes }) => ({ token, to: def.next, changes })),
      );
      const ends = completes.flatMap(({ token, attemptId, details }) =>
        moved.has(token.id) && attemptId !== undefined
          ? [{ attemptId, outcome: { status: 'completed' as const, details } }]
          : [],
      );
      if (stage.attempts !== undefined && ends.length > 0) await stage.attempts.end(tx, ends);
      return completes.map(({ token }) => moved.has(token.id));
    },
  });
  const workWakeup = new Wakeup();
  const slotWakeup = new Wakeup();
  const counters = { claims: 0, claimed: 0, completed: 0, retried: 0, failed: 0, leasesLost: 0 };
  let stopping = false;
  const runnerStopped = new AbortController();

  const heldTokens = (): Map<string, Unit> => {
    const held = new Map<string, Unit>();
    for (const unit of units) for (const token of unit.tokens) held.set(token.id, unit);
    return held;
  };

  // One statement renews every lease in flight; a token missing from the answer has another owner now.
  const renewEveryMs = Math.max(50, Math.floor((settings.leaseSeconds * 1000) / 3));
  let renewing = false;
  const renewTimer = setInterval(() => {
    if (renewing) return;
    const held = heldTokens();
    if (held.size === 0) return;
    renewing = true;
    tokenQueue
      .extendLeases(db, {
        ids: [...held.keys()],
        owner,
        status: def.working,
        leaseSeconds: settings.leaseSeconds,
      })
      .then((renewed) => {
        const kept = new Set(renewed);
        for (const [id, unit] of held) {
          if (kept.has(id) || !units.has(unit)) continue;
          const token = unit.tokens.find((t) => t.id === id);
          log.warn('lease.lost', {
            tokenId: token?.tokenId,
            owner,
            detail: 'work aborted, result discarded',
          });
          unit.controller.abort(new Error('lease lost'));
        }
      })
      .catch((error: unknown) => log.warn('lease.renew_failed', { owner, error }))
      .finally(() => (renewing = false));
  }, renewEveryMs);
  renewTimer.unref();

  async function recordEnd(executor: Executor, attemptId: string | undefined, outcome: AttemptOutcome) {
    if (attemptId === undefined || stage.attempts === undefined) return;
    await stage.attempts.end(executor, [{ attemptId, outcome }]);
  }

  async function finish(
    token: Token,
    result: BatchItemResult,
    attemptId: string | undefined,
    details: AttemptDetails,
  ): Promise<void> {
    const tokenLog = log.child({ tokenId: token.tokenId });
    if (result.ok === 'settled') {
      if (result.outcome === 'completed') {
        counters.completed += 1;
        metrics.completed(def.name);
      } else if (result.outcome === 'retried') {
        counters.retried += 1;
        metrics.failed(def.name, 'settled', 'retry');
      } else if (result.outcome === 'failed') {
        counters.failed += 1;
        metrics.failed(def.name, 'settled', 'failed');
      }
      await recordEnd(db, attemptId, {
        status: result.outcome === 'completed' ? 'completed' : 'failed',
        details: { ...details, settledByStage: result.outcome },
      });
      return;
    }
    if (result.ok) {
      const finished = await writeFinish({
        complete: { token, changes: result.changes ?? {}, attemptId, details },
      });
      if (!finished) {
        counters.leasesLost += 1;
        tokenLog.warn('stage.lease_lost', {
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
      tokenLog.debug('stage.completed', { to: def.next });
      return;
    }

    const failure = classify(result.error);
    const attempts = token[def.attempts];
    const exhausted = failure.errorClass === 'transient' && attempts >= settings.maxAttempts;
    const errorData: ErrorData = {
      stage: def.name,
      class: failure.errorClass,
      code: failure.code,
      message: failure.message,
      attempts,
      providerStatus: failure.providerStatus,
      at: new Date().toISOString(),
      ...(exhausted ? { exhausted: true } : {}),
    };
    const giveUp = failure.errorClass === 'permanent' || exhausted;
    const delayMs = Math.max(
      backoffDelayMs(attempts, { baseMs: settings.retryBaseMs, maxMs: settings.retryMaxMs, random }),
      failure.retryAfterMs,
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
      tokenLog.warn('stage.lease_lost', {
        owner,
        code: failure.code,
        detail: 'failed after losing the lease',
      });
      await recordEnd(db, attemptId, { status: 'failed', errorData, details });
      return;
    }
    const fields = {
      class: failure.errorClass,
      code: failure.code,
      // Not `message`: winston would merge it into the event name.
      errorMessage: failure.message,
      attempts,
      providerStatus: failure.providerStatus,
      ...(failure.unexpected ? { error: result.error } : {}),
    };
    metrics.failed(def.name, failure.errorClass, giveUp ? 'failed' : 'retry');
    if (giveUp) {
      counters.failed += 1;
      tokenLog.warn('stage.failed', { ...fields, exhausted });
    } else {
      counters.retried += 1;
      tokenLog.info('stage.retry_scheduled', { ...fields, delayMs });
      // An idle loop sleeps until the earliest due token it knew of; this one is new.
      workWakeup.wake();
    }
  }

  /**
   * A unit holds a slot from its claim until its work ends (its attempts rows are written first); its finishing
   * writes then go to the grouped writer while the slot already takes the next claim. The unit stays in `units`
   * (its leases renewed, stop() waiting for it) until they are written.
   */
  function startUnit(tokens: Token[], attemptIdsWritten: Promise<ReadonlyMap<string, string>>): void {
    const controller = new AbortController();
    const details: AttemptDetails = {};
    const ctx: WorkContext = {
      signal: controller.signal,
      log: log.child(tokens.length === 1 ? { tokenId: tokens[0]?.tokenId } : { batchSize: tokens.length }),
      note: (more) => Object.assign(details, more),
    };
    const unit: Unit = { tokens, controller, done: Promise.resolve() };
    working += 1;
    let slotHeld = true;
    const freeSlot = () => {
      if (!slotHeld) return;
      slotHeld = false;
      working -= 1;
      slotWakeup.wake();
    };
    unit.done = (async () => {
      let attemptIds: ReadonlyMap<string, string>;
      try {
        attemptIds = await attemptIdsWritten;
      } catch (error) {
        // No attempts rows: the work does not start; the tokens are claimable again at once.
        log.error('stage.attempts_failed', { tokenIds: tokens.map((t) => t.tokenId), error });
        for (const token of tokens) {
          await tokenQueue.releaseClaim(db, token, def, { refundAttempt: true }).catch(() => undefined);
        }
        return;
      }
      const workEnded = metrics.workStarted(def.name, tokens.length);
      let workOutcome: 'ok' | 'error' = 'ok';
      let results: readonly BatchItemResult[];
      try {
        if (stage.mode === 'token') {
          const [token] = tokens;
          if (token === undefined) throw new Error('a per-token unit without its token');
          results = [{ ok: true, changes: await stage.work(token, ctx) }];
        } else {
          results = await stage.work(tokens, ctx);
          if (results.length !== tokens.length) {
            throw new Error(
              `stage ${def.name} returned ${results.length} results for ${tokens.length} tokens`,
            );
          }
        }
      } catch (error) {
        workOutcome = 'error';
        results = tokens.map(() => ({ ok: false, error }));
      }
      workEnded(workOutcome);
      freeSlot();
      await Promise.all(
        tokens.map(async (token, index) => {
          const result = results[index] ?? { ok: false, error: new Error('no result') };
          try {
            await finish(token, result, attemptIds.get(token.id), { ...details });
          } catch (error) {
            // The database failed under the finishing write: the lease expires and another claim retries it.
            log.error('stage.finish_failed', { tokenId: token.tokenId, error });
          }
        }),
      );
    })().finally(() => {
      freeSlot();
      units.delete(unit);
      slotWakeup.wake();
    });
    units.add(unit);
  }

  /** Tokens whose attempts are all used by claims that never finished (their workers died): failed at once. */
  async function failExhausted(tokens: readonly Token[]): Promise<void> {
    for (const token of tokens) {
      const attempts = token[def.attempts];
      const errorData: ErrorData = {
        stage: def.name,
        class: 'transient',
        code: 'ATTEMPTS_EXHAUSTED',
        message: `${settings.maxAttempts} attempts used; the last ones ended without a result (worker stopped or crashed)`,
        attempts: attempts - 1,
        providerStatus: null,
        exhausted: true,
        at: new Date().toISOString(),
      };
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
  }

  async function idle(): Promise<void> {
    const seconds = await tokenQueue.secondsUntilNextDue(db, def);
    const untilDueMs = seconds === undefined ? Infinity : Math.ceil(seconds * 1000) + 5;
    await workWakeup.wait(Math.min(settings.pollIntervalMs, untilDueMs));
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      // Slots: units working. Units whose work ended but whose writes are not committed yet are bounded too.
      const free = settings.concurrency - working;
      if (free <= 0 || units.size >= 2 * settings.concurrency) {
        await slotWakeup.wait(settings.pollIntervalMs);
        continue;
      }
      try {
        if (stage.mode === 'batch' && stage.readyToClaim) {
          const ready = await stage.readyToClaim(db, runnerStopped.signal);
          if (ready !== true) {
            await workWakeup.wait(Math.min(settings.pollIntervalMs, Math.max(0, ready.waitMs)));
            continue;
          }
        }
        const limit = stage.mode === 'token' ? Math.min(settings.batchSize, free) : settings.batchSize;
        workWakeup.clear();
        const claimed = await tokenQueue.claimTokens(db, def, {
          owner,
          leaseSeconds: settings.leaseSeconds,
          limit,
        });
        failures = 0;
        counters.claims += 1;
        if (claimed.length === 0) {
          await idle();
          continue;
        }
        counters.claimed += claimed.length;
        metrics.claimed(def.name, claimed.length);
        log.debug('token.claimed', { count: claimed.length, tokenIds: claimed.map((t) => t.tokenId) });
        const live = claimed.filter((t) => t[def.attempts] <= settings.maxAttempts);
        await failExhausted(claimed.filter((t) => t[def.attempts] > settings.maxAttempts));
        if (live.length > 0) {
          // The units wait for their attempts rows before working; the loop does not: it may claim again.
          const attemptIds = stage.attempts
            ? stage.attempts.begin(db, live)
            : Promise.resolve(new Map<string, string>());
          if (stage.mode === 'token') for (const token of live) startUnit([token], attemptIds);
          else startUnit(live, attemptIds);
        }
        if (claimed.length < limit) await idle();
      } catch (error) {
        if (stopping) break;
        failures += 1;
        const delayMs = backoffDelayMs(failures, {
          baseMs: 200,
          maxMs: settings.pollIntervalMs,
          random,
        });
        log.error('stage.claim_failed', { failures, delayMs, error });
        await workWakeup.wait(delayMs);
      }
    }
  }

  const looping = loop();
  log.info('stage.started', {
    owner,
    mode: stage.mode,
    concurrency: settings.concurrency,
    batchSize: settings.batchSize,
  });

  let stopped: Promise<{ forced: boolean }> | undefined;
  const stop = (timeoutMs: number): Promise<{ forced: boolean }> => {
    stopped ??= (async () => {
      stopping = true;
      runnerStopped.abort(new Error('worker stopping'));
      workWakeup.wake();
      slotWakeup.wake();
      await looping;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const inFlight = [...units].map((unit) => unit.done);
      const outcome = await Promise.race([Promise.all(inFlight).then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      let forced = false;
      if (outcome === 'timeout') {
        forced = true;
        const left = [...units];
        for (const unit of left) unit.controller.abort(new Error('worker stopping'));
        for (const unit of left) {
          for (const token of unit.tokens) {
            const released = await tokenQueue
              .releaseClaim(db, token, def, { refundAttempt: false })
              .catch((error: unknown) => {
                log.warn('lease.release_failed', { tokenId: token.tokenId, error });
                return undefined;
              });
            if (released) log.info('lease.released', { tokenId: token.tokenId, to: def.start });
          }
        }
        // The aborted units' finishing writes now match nothing (no lease): give them a moment to settle.
        await Promise.race([
          Promise.all(left.map((unit) => unit.done)),
          new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
        ]);
      }
      clearInterval(renewTimer);
      log.info('stage.stopped', { owner, forced, ...counters });
      return { forced };
    })();
    return stopped;
  };

  return {
    name: def.name,
    owner,
    wake: () => workWakeup.wake(),
    stats: () => ({ ...counters, inFlight: units.size }),
    stop,
  };
}

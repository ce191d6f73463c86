// The stage runtime: one loop per stage and process that claims tokens, works on them outside any transaction,
// and finishes each with a compare-and-set write. Every pipeline stage runs on it:
//   - per-token stages (image, ipfs): `mode: 'token'`, `work(token)` returns the columns to write on success;
//   - batch stages (reveal): `mode: 'batch'`, one claim of up to WORKER_BATCH_SIZE tokens handled as one unit,
//     `work(tokens)` returns one result per token.
// What the runtime does for every stage, so that no stage does it itself, and where:
//   claim  (this file) up to WORKER_BATCH_SIZE tokens in ONE committed statement that stamps a lease and begins
//          their attempts rows (token-claims.repository claimTokens, a prepared statement); at most `concurrency`
//          units working; a unit's slot is free once its work ends, while its finishing writes wait for their
//          group. A per-token stage claims AHEAD, in whole batches: up to one claim (batchSize tokens) more than
//          its free slots, so that the next claim and its attempts rows are written while the current units work
//          and finish instead of after; a token claimed ahead waits for a slot, its lease renewed like the others,
//          and is given back at once (its attempt refunded) if the runner stops before it started. While it has a
//          backlog (its last claim came back full and said more are due) and the slots allow, two claims go out at
//          once, each on its own connection, so one claim's round trip no longer waits for the one before;
//          otherwise one at a time, and none after a claim that took everything due;
//   lease  (lease-renewal.ts) renewed for every token in flight every leaseSeconds/3 in one statement; a token
//          whose renewal finds another owner is lost: its work is aborted and its result discarded (logged);
//   finish (stage-finisher.ts, grouped by finish-writer.ts) success -> the stage's next status with the work's
//          columns, the attempts rows closed, what the work handed on (WorkDone: content-store files, the
//          stage's own rows) and a NOTIFY of that status, one statement per group of finishes;
//          failure -> a retry after a backoff or `failed`, as the failure
//          policy (failure-policy.ts) decides; every write checks status and lease owner;
//   record one attempts row per attempt through the stage's AttemptRecorder (image_generation_jobs for the image):
//          begun by the claim statement, closed by the finishing statement;
//   wake   (this file, wakeup.ts) at once on a NOTIFY of the stage's start status (wake()), else when the next
//          backoff is due (a short claim says when, no query of its own), else every pollIntervalMs;
//   stop   (this file) stop claiming, let the units in flight finish within the timeout, then abort them and
//          release their leases (back to the start, claimable at once).
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/client.js';
import type { Token } from '../db/schema.js';
import type { StageDefinition } from '../domain/stages.js';
import { backoffDelayMs } from '../lib/backoff.js';
import type { Logger } from '../logger.js';
import { prometheusStageMetrics, type StageMetrics } from '../metrics/stage-metrics.js';
import * as tokenClaims from '../repositories/token-claims.repository.js';
import type { AttemptDetails, BatchItemResult, Stage, WorkContext } from '../stages/stage.js';
import { startLeaseRenewal } from './lease-renewal.js';
import { createStageFinisher, type StageCounters } from './stage-finisher.js';
import { Wakeup } from './wakeup.js';
import { WorkSlots } from './work-slots.js';

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

export type StageRunnerStats = StageCounters & {
  /** Units claimed and not yet finished. */
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

type Unit = {
  tokens: Token[];
  controller: AbortController;
  done: Promise<void>;
  /** Its work started (it got a slot); a unit claimed ahead that has not is given back when the runner stops. */
  started: boolean;
};

/** Claims a per-token stage keeps going at once while it has a backlog and free slots. */
const CLAIMS_IN_FLIGHT = 2;

export function defaultOwner(stage: StageDefinition): string {
  return `${stage.name}@${hostname()}#${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** Runs the stage's work on a unit's tokens: one result per token (a throw fails them all). */
async function runWork(
  stage: Stage,
  tokens: Token[],
  ctx: WorkContext,
  inputs: unknown,
): Promise<readonly BatchItemResult[]> {
  if (stage.mode === 'token') {
    const [token] = tokens;
    if (token === undefined) throw new Error('a per-token unit without its token');
    return [{ ok: true, ...(await stage.work(token, ctx, inputs)) }];
  }
  const results = await stage.work(tokens, ctx);
  if (results.length !== tokens.length) {
    throw new Error(
      `stage ${stage.definition.name} returned ${results.length} results for ${tokens.length} tokens`,
    );
  }
  return results;
}

export function startStageRunner(stage: Stage, deps: StageRunnerDeps): StageRunner {
  const { definition: def, settings } = stage;
  const db = deps.database.db;
  const owner = deps.owner ?? defaultOwner(def);
  const log = deps.logger.child({ stage: def.name });
  const random = deps.random ?? Math.random;
  const metrics = deps.metrics ?? prometheusStageMetrics;
  const units = new Set<Unit>();
  /** Tokens a per-token stage may hold beyond its free slots (one claim ahead); a batch stage claims none ahead. */
  const claimAhead = stage.mode === 'token' ? settings.batchSize : 0;
  /** Units claimed whose work has not ended: waiting for a slot, or working. */
  let held = 0;
  /** At most `concurrency` units working; a unit claimed ahead waits for a slot. */
  const slots = new WorkSlots(settings.concurrency);
  const workWakeup = new Wakeup();
  const slotWakeup = new Wakeup();
  const counters: StageCounters = {
    claims: 0,
    claimed: 0,
    completed: 0,
    retried: 0,
    failed: 0,
    leasesLost: 0,
    finishGroups: 0,
    finishes: 0,
  };
  let stopping = false;
  const runnerStopped = new AbortController();
  const finisher = createStageFinisher({
    stage,
    database: deps.database,
    owner,
    log,
    metrics,
    counters,
    random,
    onRetryScheduled: () => workWakeup.wake(),
    othersWorking: () => slots.working > 0,
  });
  const stopRenewal = startLeaseRenewal({
    database: deps.database,
    stage: def,
    owner,
    leaseSeconds: settings.leaseSeconds,
    log,
    units,
  });

  /**
   * A unit is held from its claim until its work ends; it works once a slot is free (a unit claimed ahead waits
   * for one). Its finishing writes then go to the grouped writer while the loop already claims again. The unit
   * stays in `units` (its leases renewed, stop() waiting for it) until they are written; the loop stops claiming
   * while 5 x concurrency units (plus one claim ahead) are held.
   */
  function startUnit(tokens: Token[], attemptIds: ReadonlyMap<string, string>, inputs?: unknown): void {
    const controller = new AbortController();
    const details: AttemptDetails = {};
    const ctx: WorkContext = {
      signal: controller.signal,
      log: log.child(tokens.length === 1 ? { tokenId: tokens[0]?.tokenId } : { batchSize: tokens.length }),
      note: (more) => Object.assign(details, more),
    };
    const unit: Unit = { tokens, controller, done: Promise.resolve(), started: false };
    held += 1;
    let isHeld = true;
    const release = () => {
      if (!isHeld) return;
      isHeld = false;
      held -= 1;
      slotWakeup.wake();
    };
    unit.done = (async () => {
      if (!(await slots.take())) {
        // Claimed ahead, and the runner stopped before a slot freed: given back untouched, its attempt refunded.
        await finisher.giveBack(tokens, attemptIds);
        return;
      }
      unit.started = true;
      const workEnded = metrics.workStarted(def.name, tokens.length);
      let workOutcome: 'ok' | 'error' = 'ok';
      let results: readonly BatchItemResult[];
      try {
        results = await runWork(stage, tokens, ctx, inputs);
      } catch (error) {
        workOutcome = 'error';
        results = tokens.map(() => ({ ok: false, error }));
      }
      workEnded(workOutcome);
      slots.release();
      release();
      await Promise.all(
        tokens.map(async (token, index) => {
          const result = results[index] ?? { ok: false, error: new Error('no result') };
          try {
            await finisher.finish(token, result, attemptIds.get(token.id), { ...details });
          } catch (error) {
            // The database failed under the finishing write: the lease expires and another claim retries it.
            log.error('stage.finish_failed', { tokenId: token.tokenId, error });
          }
        }),
      );
    })().finally(() => {
      release();
      units.delete(unit);
      slotWakeup.wake();
    });
    units.add(unit);
  }

  /** Sleeps until a wake(), the next due token (`nextDueSeconds`, from the claim) or the poll interval. */
  async function idle(nextDueSeconds: number | undefined): Promise<void> {
    const untilDueMs = nextDueSeconds === undefined ? Infinity : Math.ceil(nextDueSeconds * 1000) + 5;
    await workWakeup.wait(Math.min(settings.pollIntervalMs, untilDueMs));
  }

  /**
   * One claim of up to `limit` tokens, their attempts rows begun in the same statement, and their units started.
   * Returns how many were claimed and, when fewer than `limit`, when the next waiting token is due.
   */
  async function claim(limit: number): Promise<{ count: number; nextDueSeconds: number | undefined }> {
    const { tokens: claimed, nextDueSeconds } = await tokenClaims.claimTokens(db, def, {
      owner,
      leaseSeconds: settings.leaseSeconds,
      limit,
      attempts: stage.attempts && { sql: stage.attempts, maxAttempts: settings.maxAttempts },
      inputs: stage.mode === 'token' ? stage.claimInputs : undefined,
    });
    counters.claims += 1;
    if (claimed.length === 0) return { count: 0, nextDueSeconds };
    counters.claimed += claimed.length;
    metrics.claimed(def.name, claimed.length);
    log.debug('token.claimed', { count: claimed.length, tokenIds: claimed.map((t) => t.tokenId) });
    const live: (Token & { inputs?: unknown })[] = [];
    const attemptIds = new Map<string, string>();
    for (const { attemptId, ...token } of claimed) {
      if (token[def.attempts] > settings.maxAttempts) continue;
      live.push(token);
      if (attemptId !== undefined) attemptIds.set(token.id, attemptId);
    }
    if (live.length > 0) {
      if (stage.mode === 'token') {
        for (const { inputs, ...token } of live) startUnit([token], attemptIds, inputs);
      } else startUnit(live, attemptIds);
    }
    await finisher.failExhausted(claimed.filter((t) => t[def.attempts] > settings.maxAttempts));
    return { count: claimed.length, nextDueSeconds };
  }

  /** Claims in flight, and the tokens they may bring (counted as held while in flight). */
  const claiming = new Set<Promise<void>>();
  let reserved = 0;
  /** The last claim that ended came back full with more due: a second claim may go out beside the first. */
  let backlog = false;
  /** Set by a claim that came back short or failed: the loop sleeps once no claim is in flight. */
  let pause: { idle: number | undefined } | { failedDelayMs: number } | undefined;
  let failures = 0;

  /** A claim (or the batch stage's readyToClaim before it) failed: the loop backs off before the next one. */
  function claimFailed(error: unknown): void {
    failures += 1;
    const delayMs = backoffDelayMs(failures, { baseMs: 200, maxMs: settings.pollIntervalMs, random });
    log.error('stage.claim_failed', { failures, delayMs, error });
    pause = { failedDelayMs: delayMs };
  }

  /** Starts one claim of `limit` tokens; its outcome decides whether the loop goes on, sleeps or backs off. */
  function startClaim(limit: number): void {
    reserved += limit;
    const outcome: Promise<void> = claim(limit).then(
      (claimed) => {
        failures = 0;
        // Full, and more due now: claim on. Full with nothing more due (the tokens a finish of the stage before
        // woke this one for: a group of WORKER_BATCH_SIZE) or short: sleep, instead of a claim that comes back empty.
        backlog = claimed.count === limit && claimed.nextDueSeconds === 0;
        if (backlog) pause = undefined;
        else pause ??= { idle: claimed.nextDueSeconds };
      },
      (error: unknown) => {
        backlog = false;
        if (!stopping) claimFailed(error);
      },
    );
    const settled = outcome.finally(() => {
      reserved -= limit;
      claiming.delete(settled);
      slotWakeup.wake();
    });
    claiming.add(settled);
  }

  /**
   * The claim loop: claims while slots are free, sleeps when there is no work. A per-token stage with a backlog
   * (its last claim came back full) keeps up to CLAIMS_IN_FLIGHT claims going at once, each on its own
   * connection, while free slots allow: one claim's round trip and statement no longer gate the next.
   */
  async function loop(): Promise<void> {
    const parallel = stage.mode === 'token' ? CLAIMS_IN_FLIGHT : 1;
    while (!stopping) {
      if (pause !== undefined && claiming.size === 0) {
        const paused = pause;
        pause = undefined;
        if ('idle' in paused) await idle(paused.idle);
        else await workWakeup.wait(paused.failedDelayMs);
        continue;
      }
      // Slots: units claimed and not done working (and claims in flight), at most one claim ahead of the slots.
      // A per-token stage claims whole batches: once its units held are down to `concurrency` (every slot
      // working, none waiting), while the slots still work, rather than one or two tokens each time a unit
      // ends. Units whose work ended but whose writes are not committed yet are bounded too.
      const free = settings.concurrency + claimAhead - held - reserved;
      const needed = stage.mode === 'token' ? settings.batchSize : 1;
      if (
        pause !== undefined ||
        claiming.size >= (backlog ? parallel : 1) ||
        free < needed ||
        units.size >= 5 * settings.concurrency + claimAhead
      ) {
        await slotWakeup.wait(settings.pollIntervalMs);
        continue;
      }
      if (stage.mode === 'batch' && stage.readyToClaim) {
        let ready: Awaited<ReturnType<typeof stage.readyToClaim>>;
        try {
          ready = await stage.readyToClaim(db, runnerStopped.signal);
        } catch (error) {
          if (stopping) break;
          claimFailed(error);
          continue;
        }
        if (ready !== true) {
          await workWakeup.wait(Math.min(settings.pollIntervalMs, Math.max(0, ready.waitMs)));
          continue;
        }
      }
      const limit = stage.mode === 'token' ? Math.min(settings.batchSize, free) : settings.batchSize;
      workWakeup.clear();
      startClaim(limit);
    }
    await Promise.all(claiming);
  }

  const looping = loop();
  log.info('stage.started', {
    owner,
    mode: stage.mode,
    concurrency: settings.concurrency,
    batchSize: settings.batchSize,
  });

  /** After a stop timed out: aborts the units left and gives their tokens back to the stage's start. */
  async function abandon(left: readonly Unit[]): Promise<void> {
    for (const unit of left) unit.controller.abort(new Error('worker stopping'));
    for (const unit of left) await finisher.giveBack(unit.tokens, undefined, { refundAttempt: false });
    // The aborted units' finishing writes now match nothing (no lease): give them a moment to settle.
    await Promise.race([
      Promise.all(left.map((unit) => unit.done)),
      new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
    ]);
  }

  let stopped: Promise<{ forced: boolean }> | undefined;
  const stop = (timeoutMs: number): Promise<{ forced: boolean }> => {
    stopped ??= (async () => {
      stopping = true;
      slots.close();
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
      const forced = outcome === 'timeout';
      if (forced) await abandon([...units].filter((unit) => unit.started));
      stopRenewal();
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

// What a pipeline stage is, as the stage runtime (src/workers/stage-runner.ts) runs it: a per-token stage
// (`mode: 'token'`, image and ipfs) or a batch stage (`mode: 'batch'`, the reveal), its settings, the context
// its work gets, and how it records its attempts. Stages implement these types; the runtime imports them, so
// imports run from the workers down to the stages, never back.
import type { Executor } from '../db/client.js';
import type { ErrorData, Token } from '../db/schema.js';
import type { StageDefinition } from '../domain/stages.js';
import type { Logger } from '../logger.js';
import type { ContentBlobInput } from '../repositories/content-blobs.repository.js';
import type { AttemptsSql, ClaimInputsSql } from '../repositories/token-claims.repository.js';
import type { FinishRowsSql } from '../repositories/token-completions.repository.js';
import type { TokenChanges } from '../repositories/token-queue.repository.js';

export type StageSettings = Readonly<{
  /** Most tokens one claim takes (WORKER_BATCH_SIZE); for a batch stage, the batch size. */
  batchSize: number;
  /** Units in flight at once (<STAGE>_CONCURRENCY): tokens for a per-token stage, batches for a batch stage. */
  concurrency: number;
  /** Attempts before a transiently failing token is failed for good (MAX_ATTEMPTS_<STAGE>). */
  maxAttempts: number;
  /** How long a claim stays valid without renewal (LEASE_SECONDS). */
  leaseSeconds: number;
  /** Longest idle wait between two claims when no NOTIFY comes (POLL_INTERVAL_SECONDS). */
  pollIntervalMs: number;
  /** Backoff of transient failures: first retry ceiling, and cap (RETRY_BASE_SECONDS, RETRY_MAX_SECONDS). */
  retryBaseMs: number;
  retryMaxMs: number;
}>;

/** Free-form details of one attempt (external job id, fallback used), written on its attempts row. */
export type AttemptDetails = Record<string, unknown>;

export type WorkContext = {
  /** Aborts when the lease is lost or the worker is forced to stop: pass it to every I/O. */
  signal: AbortSignal;
  log: Logger;
  /** Adds details to this attempt's row(s). */
  note: (details: AttemptDetails) => void;
};

export type AttemptOutcome = {
  status: 'completed' | 'failed';
  errorData?: ErrorData;
  details: AttemptDetails;
};

/**
 * How a stage's attempts rows (one per token per attempt) are written: as parts of the runtime's own statements,
 * so that beginning them costs nothing beyond the claim and closing them nothing beyond the finish.
 *   begin    (SQL) inside the claim statement: one `running` row per claimed token;
 *   end      (SQL) inside the finishing statement (same statement as the finish that applied), or alone: closes
 *            the attempts of a relation (attempt_id, outcome jsonb);
 *   outcome  what `end` reads as an attempt's `outcome`: the stage's columns for an AttemptOutcome, as JSON.
 */
export type AttemptRecorder = AttemptsSql & {
  outcome: (outcome: AttemptOutcome) => Record<string, unknown>;
};

type StageBase = {
  definition: StageDefinition;
  settings: StageSettings;
  attempts?: AttemptRecorder;
};

export type TokenStage = StageBase & {
  mode: 'token';
  /**
   * What the work reads before it starts (the image stage: the author's prompt), read by the claim statement
   * itself: one round trip fewer per token. Handed to work() as `inputs`.
   */
  claimInputs?: ClaimInputsSql;
  /**
   * The stage's work on one claimed token; returns what its finish writes (WorkDone). Throw to fail.
   * `inputs`: what claimInputs read with the claim; undefined when the token came without them (the work then
   * reads them itself).
   */
  work: (token: Token, ctx: WorkContext, inputs?: unknown) => Promise<WorkDone>;
  /** How the stage's own rows of a WorkDone (`rows`) are written in the finishing statement. */
  finishRows?: FinishRowsSql;
};

/**
 * A per-token stage's successful work: the columns written with the token's move to `next`, and what the runtime
 * writes in that same finishing statement, so that the work needs no round trip of its own to hand its results on:
 *   blobs  files for the content store (content_blobs, keyed by their CID): the image that the next stage pins;
 *   rows   the stage's own rows, written by its finishRows (the IPFS stage: the records of its local pins).
 * Both are written whether or not the token still held its lease: they record work that was done (a finish that
 * lost the lease discards the move, not the record of the work), and a CID names its bytes.
 */
export type WorkDone = {
  changes: TokenChanges;
  blobs?: readonly ContentBlobInput[];
  rows?: readonly unknown[];
};

/**
 * One token's result in a batch: success with its columns, or its own error; or `settled`: the stage already
 * wrote the token's outcome itself, in the same transaction as records of its own (the reveal marks its tokens
 * revealed in the transaction that confirms its on-chain transaction row), so the runtime writes nothing and
 * only counts it.
 */
export type BatchItemResult =
  | ({ ok: true } & Partial<WorkDone>)
  | { ok: false; error: unknown }
  | { ok: 'settled'; outcome: 'completed' | 'retried' | 'failed' | 'released' };

export type BatchStage = StageBase & {
  mode: 'batch';
  /**
   * Asked before each claim: true to claim now, or how long to wait first (the reveal waits until a batch is full
   * or its oldest ready token has waited long enough, and first settles a batch left in flight by a stopped
   * process). `signal` aborts when the runner stops. Omitted: always claim.
   */
  readyToClaim?: (db: Executor, signal: AbortSignal) => Promise<true | { waitMs: number }>;
  /** The stage's work on the claimed tokens; one result per token, in the same order. A throw fails them all. */
  work: (tokens: readonly Token[], ctx: WorkContext) => Promise<readonly BatchItemResult[]>;
};

export type Stage = TokenStage | BatchStage;

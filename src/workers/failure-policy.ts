// The stage runtime's failure policy: what a failed attempt becomes. An error is classified (a StageError says
// transient or permanent; anything else is an unexpected transient error), then:
//   transient, attempts left        -> back to the stage's start after an exponential, jittered, capped backoff
//                                      (at least the provider's Retry-After);
//   permanent, or maxAttempts used  -> failed, with error_data {stage, class, code, message, attempts,
//                                      providerStatus}.
// Pure: no I/O; the finisher (stage-finisher.ts) writes what this decides.
import type { ErrorData } from '../db/schema.js';
import type { StageDefinition } from '../domain/stages.js';
import { StageError, type StageErrorClass } from '../errors.js';
import { backoffDelayMs } from '../lib/backoff.js';
import type { StageSettings } from '../stages/stage.js';

export type Failure = {
  errorClass: StageErrorClass;
  code: string;
  message: string;
  providerStatus: number | null;
  retryAfterMs: number;
  /** Not a StageError: a bug or an error nobody classified (logged with its stack). */
  unexpected: boolean;
};

export function classify(error: unknown): Failure {
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

export type FailureDecision = {
  failure: Failure;
  errorData: ErrorData;
  /** true: the token goes to `failed`; false: back to the stage's start after `delayMs`. */
  giveUp: boolean;
  /** A transient failure with no attempt left. */
  exhausted: boolean;
  delayMs: number;
};

/** What an attempt that failed with `error` becomes; `attempts`: the attempts used, this one included. */
export function decideFailure(
  error: unknown,
  attempts: number,
  stage: Pick<StageDefinition, 'name'>,
  settings: Pick<StageSettings, 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs'>,
  random: () => number,
): FailureDecision {
  const failure = classify(error);
  const exhausted = failure.errorClass === 'transient' && attempts >= settings.maxAttempts;
  const errorData: ErrorData = {
    stage: stage.name,
    class: failure.errorClass,
    code: failure.code,
    message: failure.message,
    attempts,
    providerStatus: failure.providerStatus,
    at: new Date().toISOString(),
    ...(exhausted ? { exhausted: true } : {}),
  };
  const delayMs = Math.max(
    backoffDelayMs(attempts, { baseMs: settings.retryBaseMs, maxMs: settings.retryMaxMs, random }),
    failure.retryAfterMs,
  );
  return { failure, errorData, giveUp: failure.errorClass === 'permanent' || exhausted, exhausted, delayMs };
}

/**
 * The error_data of a token claimed with more than maxAttempts attempts: the last ones were claims that never
 * finished (their workers died), so it is failed at once. `attempts`: the count the claim returned.
 */
export function attemptsExhaustedErrorData(
  stage: Pick<StageDefinition, 'name'>,
  maxAttempts: number,
  attempts: number,
): ErrorData {
  return {
    stage: stage.name,
    class: 'transient',
    code: 'ATTEMPTS_EXHAUSTED',
    message: `${maxAttempts} attempts used; the last ones ended without a result (worker stopped or crashed)`,
    attempts: attempts - 1,
    providerStatus: null,
    exhausted: true,
    at: new Date().toISOString(),
  };
}

// The one home of the service's error classes: every error that one module throws and another catches or tells
// apart is declared here (a sentinel private to one file may stay in it). This module imports nothing, so that
// every layer can throw its errors without depending on another.
//
// AppError and its subclasses carry the HTTP status and the machine-readable code that the one error middleware
// (src/http) turns into {"error":{"code","message","details"?},"requestId"}. Domain code throws these; it never
// builds HTTP responses itself.

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(404, code, message, details);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}

/** The transition table forbids the move. */
export class InvalidStateTransition extends ConflictError {
  constructor(
    readonly tokenId: number,
    readonly from: string,
    readonly to: string,
    /** Where the transition table lets `from` go (src/domain/token-state.ts). */
    readonly allowed: readonly string[],
    reason?: string,
  ) {
    super(
      'INVALID_STATE_TRANSITION',
      `Token ${tokenId} cannot move from ${from} to ${to}: ` +
        (reason ??
          (allowed.length === 0
            ? `${from} is terminal`
            : `${from} may only move to ${allowed.join(' or ')}`)),
      { tokenId, from, to, allowed },
    );
  }
}

/** The move was valid, but the token's status changed before it could be applied (someone else won the race). */
export class TransitionConflict extends ConflictError {
  constructor(
    readonly tokenId: number,
    readonly expected: string,
    readonly actual: string,
    readonly to: string,
  ) {
    super(
      'TRANSITION_CONFLICT',
      `Token ${tokenId} was not moved to ${to}: its status is ${actual}, no longer ${expected}`,
      { tokenId, expected, actual, to },
    );
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super(400, 'VALIDATION_ERROR', message, details);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(
    code: string,
    message: string,
    details?: unknown,
    /** Sent as Retry-After: when a retry can be expected to succeed (the outage or the overload is passing). */
    readonly retryAfterSeconds?: number,
  ) {
    super(503, code, message, details);
  }
}

/** The database is not reachable, or the connection was lost under the request: retry in a moment. */
export class DatabaseUnavailableError extends ServiceUnavailableError {
  constructor(cause?: string) {
    super(
      'DATABASE_UNAVAILABLE',
      'The database is not reachable right now; retry later',
      cause === undefined ? undefined : { cause },
      1,
    );
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(
    method: string,
    path: string,
    readonly allow: readonly string[],
  ) {
    super(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, {
      allow,
    });
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(415, 'UNSUPPORTED_MEDIA_TYPE', message);
  }
}

/** The webhook signature is missing or wrong (401). */
export class SignatureError extends AppError {
  constructor(code: string, message: string) {
    super(401, code, message);
  }
}

/** How a stage failure is retried: transient ones come back after a backoff, permanent ones fail the token. */
export type StageErrorClass = 'transient' | 'permanent';

export type StageErrorOptions = {
  /** The provider's HTTP status, when there was an answer. */
  providerStatus?: number;
  /** The provider asked for this much patience (429 Retry-After); the backoff waits at least this long. */
  retryAfterMs?: number;
  cause?: unknown;
};

/**
 * A pipeline stage's failure with its class. Providers and stages throw the two subclasses; the stage runtime
 * (src/workers/stage-runner.ts) turns them into a retry or a `failed` token with error_data. Any other error a
 * stage throws counts as transient (code UNEXPECTED), bounded by MAX_ATTEMPTS_<STAGE>.
 */
export class StageError extends Error {
  readonly providerStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    readonly errorClass: StageErrorClass,
    readonly code: string,
    message: string,
    options: StageErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.providerStatus = options.providerStatus;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Worth another try later: timeouts, 429, 5xx, connection errors. */
export class TransientStageError extends StageError {
  constructor(code: string, message: string, options: StageErrorOptions = {}) {
    super('transient', code, message, options);
  }
}

/** Another try cannot succeed: 401/403, invalid input, a refusal that the fallback did not get past. */
export class PermanentStageError extends StageError {
  constructor(code: string, message: string, options: StageErrorOptions = {}) {
    super('permanent', code, message, options);
  }
}

/** The provider refused the prompt on content policy (NSFW, safety filter). */
export class ContentPolicyError extends PermanentStageError {
  constructor(message: string, options: StageErrorOptions & { externalJobId?: string } = {}) {
    super('CONTENT_POLICY', message, options);
  }
}

/**
 * A failed pin, classified for the stage runtime (a StageError): transient (timeouts, 429, 5xx, connection errors,
 * an answer without a CID) is retried with backoff, at least the provider's Retry-After later; permanent
 * (401/403, a refused request, content missing from the store) fails the token at once.
 */
export class IpfsProviderError extends StageError {
  constructor(
    /** IPFS_PROVIDER: local, kubo or pinata. */
    readonly provider: string,
    errorClass: StageErrorClass,
    code: string,
    message: string,
    details: { httpStatus?: number; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(errorClass, code, message, {
      providerStatus: details.httpStatus,
      retryAfterMs: details.retryAfterMs,
      cause: options?.cause,
    });
  }

  get transient(): boolean {
    return this.errorClass === 'transient';
  }
}

/** A signed request whose signature, message or nonce does not hold (401), or that signs for someone else (403). */
export class AuthenticationError extends AppError {
  constructor(code: string, message: string, status: 401 | 403 = 401, details?: unknown) {
    super(status, code, message, details);
  }
}

/** A missing or wrong bearer key: 401 with `WWW-Authenticate: Bearer realm="<realm>"`. */
export class BearerAuthError extends AuthenticationError {
  constructor(
    code: string,
    message: string,
    readonly realm: string,
  ) {
    super(code, message, 401);
  }
}

/** A call to an outside service (RPC, X, a Farcaster hub) that failed or answered nonsense. */
export class UpstreamError extends AppError {
  constructor(code: string, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(502, code, message, options?.details, { cause: options?.cause });
  }
}

/** A route whose configuration is missing: the code names the variable (`X_CLIENT_ID_MISSING`). */
export class NotConfiguredError extends ServiceUnavailableError {
  constructor(variable: string, what: string) {
    super(`${variable}_MISSING`, `${variable} is not set: ${what}`, { variable });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Errors of start-up, configuration and the command line: never answered over HTTP.

/** A bad environment: every problem, each naming its variable and what it expects. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export class ChainConfigError extends Error {
  override name = 'ChainConfigError';
}

/** Start-up could not get one working connection within its time limit. */
export class DatabaseConnectTimeoutError extends Error {
  readonly code = 'DATABASE_CONNECT_TIMEOUT';
  constructor(
    readonly timeoutMs: number,
    readonly lastError: unknown,
  ) {
    const last = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
    super(`no working PostgreSQL connection within ${timeoutMs / 1000} s${last}`);
    this.name = 'DatabaseConnectTimeoutError';
  }
}

export class LocalChainError extends Error {
  override name = 'LocalChainError';
}

/** A command line that cannot be run as given: the CLI prints it with "(see --help)" and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `npm run demo`: the pipeline did not finish, or a check of its result on chain did not hold (exit 1). */
export class DemoFailure extends Error {
  override name = 'DemoFailure';
}

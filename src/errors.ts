// The typed errors of the service. Each carries the HTTP status and the machine-readable code that the one
// error middleware (src/http) turns into {"error":{"code","message","details"?},"requestId"}. Domain code throws
// these; it never builds HTTP responses itself.

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

// The one error path: every failure of a request becomes {"error":{"code","message","details"?},"requestId"}.
// Typed AppErrors keep their status and code; body-parser's errors get theirs; anything else is a 500 whose
// stack goes to the log and whose answer says nothing about internals.
import type { NextFunction, Request, Response } from 'express';
import { connectionFailureCode } from '../../db/connection-errors.js';
import {
  AppError,
  BearerAuthError,
  DatabaseUnavailableError,
  MethodNotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '../../errors.js';
import type { Logger } from '../../logger.js';

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  const path = req.originalUrl.split('?', 1)[0] ?? req.originalUrl;
  next(new NotFoundError('ROUTE_NOT_FOUND', `No route ${req.method} ${path}`));
}

/** Answers 405 with Allow for a path that exists under other methods. */
export function methodNotAllowed(methods: readonly string[]) {
  const allow = methods.map((m) => m.toUpperCase());
  if (allow.includes('GET') && !allow.includes('HEAD')) allow.push('HEAD');
  return (req: Request, _res: Response, next: NextFunction): void => {
    const path = req.originalUrl.split('?', 1)[0] ?? req.originalUrl;
    next(new MethodNotAllowedError(req.method, path, allow));
  };
}

// body-parser / raw-body errors carry `type` and `status`.
const BODY_ERRORS: Record<string, { status: number; code: string; message: (limit: unknown) => string }> = {
  'entity.too.large': {
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: (limit) => `The request body is larger than the limit of ${String(limit)} bytes`,
  },
  'encoding.unsupported': {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: () => 'Content-Encoding is not supported; send the body uncompressed',
  },
  'charset.unsupported': {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: () => 'The charset is not supported; send UTF-8',
  },
  'request.aborted': { status: 400, code: 'REQUEST_ABORTED', message: () => 'The request body was cut off' },
  'request.size.invalid': {
    status: 400,
    code: 'INVALID_CONTENT_LENGTH',
    message: () => 'The body length does not match Content-Length',
  },
};

type Answer = { status: number; code: string; message: string; details?: unknown };

export function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      // Too late for an envelope; let Express end the connection.
      logger.error('http.error_after_headers', { requestId: req.requestId, error });
      next(error);
      return;
    }
    // A connection lost under the request (terminated backend, database restarting) is an outage, not a bug:
    // 503 with Retry-After, so that clients (and Alchemy) retry on a fresh connection.
    const lostConnection = error instanceof AppError ? undefined : connectionFailureCode(error);
    if (lostConnection !== undefined) error = new DatabaseUnavailableError(lostConnection);
    const answer = toAnswer(error);
    if (answer.status >= 500 && !(error instanceof AppError)) {
      logger.error('http.unhandled_error', {
        requestId: req.requestId,
        method: req.method,
        path: req.originalUrl.split('?', 1)[0],
        error,
      });
    } else if (answer.status >= 500) {
      logger.warn('http.service_error', {
        requestId: req.requestId,
        code: answer.code,
        detail: answer.message,
      });
    }
    if (error instanceof MethodNotAllowedError) res.setHeader('Allow', error.allow.join(', '));
    if (error instanceof BearerAuthError) res.setHeader('WWW-Authenticate', `Bearer realm="${error.realm}"`);
    if (error instanceof ServiceUnavailableError && error.retryAfterSeconds !== undefined) {
      res.setHeader('Retry-After', String(error.retryAfterSeconds));
    }
    const body: Record<string, unknown> = {
      error:
        answer.details === undefined
          ? { code: answer.code, message: answer.message }
          : { code: answer.code, message: answer.message, details: answer.details },
      requestId: req.requestId,
    };
    res.status(answer.status).json(body);
  };
}

function toAnswer(error: unknown): Answer {
  if (error instanceof AppError) {
    return { status: error.status, code: error.code, message: error.message, details: error.details };
  }
  if (typeof error === 'object' && error !== null) {
    const { type, limit } = error as { type?: unknown; limit?: unknown };
    const known = typeof type === 'string' ? BODY_ERRORS[type] : undefined;
    if (known) return { status: known.status, code: known.code, message: known.message(limit) };
    // The router marks a path parameter that is not valid percent-encoding (`/api/tokens/%E0%A4`) as a 400.
    if (error instanceof URIError && (error as { status?: unknown }).status === 400) {
      return { status: 400, code: 'INVALID_PATH', message: 'The request path is not valid percent-encoding' };
    }
    // Other client errors from Express's own layers (http-errors) say whether their message is safe to show.
    const { status, expose } = error as { status?: unknown; expose?: unknown };
    if (
      typeof status === 'number' &&
      status >= 400 &&
      status < 500 &&
      expose === true &&
      error instanceof Error
    ) {
      return { status, code: 'BAD_REQUEST', message: error.message };
    }
  }
  return {
    status: 500,
    code: 'INTERNAL_ERROR',
    message: 'An unexpected error occurred; quote the request id when reporting it',
  };
}

// defineRoute: one object per endpoint that is at once its contract (zod schemas of the inputs and of every
// answer, registered in the OpenAPI document) and its handler. The wrapper validates the inputs, opens the
// request's unit of work only if the handler asks for it, checks the answer against its schema, commits, and
// only then sends. Handlers never touch `res`, so nothing can be sent before the commit.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { z } from '../lib/zod.js';
import type { ZodObject, ZodType } from 'zod';
import type { Deps } from '../deps.js';
import type { UnitOfWork } from '../repositories/unit-of-work.js';
import { AppError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RequestUnitOfWork } from './middleware/unit-of-work.js';

export type HttpMethod = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';

export type ResponseSpec = {
  description: string;
  /** The answer's body; omitted for answers without one (204). */
  schema?: ZodType;
  /**
   * Default application/json. Any other type declares a byte answer (schema BinaryBody, for the document): the
   * handler returns the bytes and sets Content-Type in its headers; they are sent as they are.
   */
  contentType?: string;
};

/** The schema of a byte answer (`contentType` other than JSON): a Uint8Array, documented as binary. */
export const BinaryBody = z
  .custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected bytes')
  .openapi({ type: 'string', format: 'binary' });

export type ResponsesSpec = Readonly<Record<number, ResponseSpec>>;

export type BodySpec<B extends ZodType> = {
  schema: B;
  description?: string;
  /** Overrides BODY_LIMIT for this route, in bytes. */
  limitBytes?: number;
  /**
   * Runs on the raw bytes before they are parsed (signature checks); throw an AppError to refuse the request.
   */
  verify?: (rawBody: Buffer, req: Request) => void | Promise<void>;
};

/**
 * Who may call a route: checked before anything else (inputs are not even validated for a caller refused).
 * Documented as an OpenAPI security scheme of type http bearer, with the errors `check` throws.
 */
export type RouteAuth = Readonly<{
  /** The security scheme's name in the document (components.securitySchemes). */
  scheme: string;
  description: string;
  /** The AppError statuses `check` throws, with what they mean. */
  errors: Readonly<Record<number, string>>;
  /** Throws an AppError to refuse the request. */
  check: (req: Request) => void;
}>;

type Out<S> = S extends ZodType ? z.output<S> : undefined;

export type RouteContext<P, Q, B> = {
  params: P;
  query: Q;
  body: B;
  /** The bytes of the body as received (routes with a body only). */
  rawBody: Buffer | undefined;
  /** The request's transaction with every repository bound to it; opened on the first call, then shared. */
  uow: () => Promise<UnitOfWork>;
  /** Commits the request's transaction now; the next uow() call begins a new one (chunked, idempotent writes). */
  checkpoint: () => Promise<void>;
  log: Logger;
  requestId: string;
  req: Request;
};

type ResultFor<S extends number, R extends ResponseSpec> = {
  status: S;
  headers?: Readonly<Record<string, string>>;
} & (R extends { schema: infer T extends ZodType } ? { body: z.input<T> } : { body?: undefined });

/** What a handler returns: one of its declared responses, typed by status. */
export type RouteResult<R extends ResponsesSpec> = {
  [K in keyof R & number]: ResultFor<K, R[K]>;
}[keyof R & number];

/** The contract half of a route: everything but the handler. */
export type RouteContract<
  P extends ZodObject | undefined,
  Q extends ZodObject | undefined,
  B extends ZodType | undefined,
  R extends ResponsesSpec,
> = {
  method: HttpMethod;
  /** OpenAPI path syntax: `/api/tokens/{tokenId}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  auth?: RouteAuth;
  params?: P;
  query?: Q;
  body?: B extends ZodType ? BodySpec<B> : undefined;
  /** The answers the handler returns. */
  responses: R;
  /** The errors the handler throws (AppError statuses) with what they mean; 400/413/415/500/503 are added. */
  errors?: Readonly<Record<number, string>>;
};

export type RouteHandler<P, Q, B, R extends ResponsesSpec> = (
  ctx: RouteContext<Out<P>, Out<Q>, Out<B>>,
) => RouteResult<R> | Promise<RouteResult<R>>;

type ErasedResult = { status: number; body?: unknown; headers?: Readonly<Record<string, string>> };

/** A defined route with its types erased, as the app and the OpenAPI generator consume it. */
export type Route = Readonly<{
  method: HttpMethod;
  path: string;
  expressPath: string;
  operationId: string;
  summary: string;
  description: string | undefined;
  tags: readonly string[];
  auth: RouteAuth | undefined;
  params: ZodObject | undefined;
  query: ZodObject | undefined;
  body: BodySpec<ZodType> | undefined;
  responses: Readonly<Record<number, ResponseSpec & { contentType: string }>>;
  errors: Readonly<Record<number, string>>;
  handle: (ctx: RouteContext<unknown, unknown, unknown>) => Promise<ErasedResult>;
}>;

/** A route module's export: builds its routes from the app's dependencies. */
export type RouteFactory = (deps: Deps) => readonly Route[];

/**
 * Declares a route: `defineRoute({ method, path, ..., responses }).handle(async (ctx) => ({ status, body }))`.
 * Two steps because TypeScript fixes the response types from the contract first and only then checks the
 * handler against them (in one object literal `status: 200` would widen to number).
 */
export function defineRoute<
  P extends ZodObject | undefined = undefined,
  Q extends ZodObject | undefined = undefined,
  B extends ZodType | undefined = undefined,
  R extends ResponsesSpec = ResponsesSpec,
>(contract: RouteContract<P, Q, B, R>): { handle: (handler: RouteHandler<P, Q, B, R>) => Route } {
  return { handle: (handler) => buildRoute(contract, handler) };
}

function buildRoute<
  P extends ZodObject | undefined,
  Q extends ZodObject | undefined,
  B extends ZodType | undefined,
  R extends ResponsesSpec,
>(spec: RouteContract<P, Q, B, R>, handler: RouteHandler<P, Q, B, R>): Route {
  const errors: Record<number, string> = {};
  if (spec.params || spec.query || spec.body)
    errors[400] = 'The request is invalid (details lists each problem).';
  if (spec.body) {
    errors[413] = 'The request body is larger than the configured limit.';
    errors[415] = 'The request body is not application/json (UTF-8, not compressed).';
  }
  if (spec.auth) Object.assign(errors, spec.auth.errors);
  Object.assign(errors, spec.errors);
  errors[500] = 'An unexpected error; the answer carries the request id to find it in the logs.';
  errors[503] ??= 'The database is unavailable or has no free connection within the configured wait.';

  const responses: Record<number, ResponseSpec & { contentType: string }> = {};
  for (const [status, response] of Object.entries(spec.responses)) {
    responses[Number(status)] = { ...response, contentType: response.contentType ?? JSON_TYPE };
  }
  return Object.freeze({
    method: spec.method,
    path: spec.path,
    expressPath: spec.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1'),
    operationId: spec.operationId,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags,
    auth: spec.auth,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    responses,
    errors,
    // The wrapper below built the context from these same schemas, so the narrowing holds.
    handle: async (ctx) => handler(ctx as RouteContext<Out<P>, Out<Q>, Out<B>>),
  });
}

/** The Express handlers of a route: the body readers it needs, then the validating, committing wrapper. */
export function routeHandlers(route: Route, deps: Deps): RequestHandler[] {
  const handlers: RequestHandler[] = [];
  if (route.body) {
    handlers.push(requireJson);
    // Raw bytes, not express.json: a verify hook must see exactly what was sent, and we parse afterwards.
    handlers.push(
      express.raw({
        type: () => true,
        limit: route.body.limitBytes ?? deps.config.http.bodyLimitBytes,
        inflate: false,
      }),
    );
  }
  handlers.push(wrap(route, deps));
  return handlers;
}

function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (req.is('application/json') !== 'application/json') {
    next(new UnsupportedMediaTypeError('Content-Type must be application/json'));
    return;
  }
  const charset = /;\s*charset=("?)([^";\s]+)\1/i.exec(req.get('content-type') ?? '')?.[2]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    next(new UnsupportedMediaTypeError(`charset ${charset} is not supported; send UTF-8`));
    return;
  }
  next();
}

function wrap(route: Route, deps: Deps): RequestHandler {
  const { database, config } = deps;
  const debugEnabled = deps.logger.isLevelEnabled('debug');
  return async (req, res, next) => {
    const requestId = req.requestId;
    // Built on first use: most requests never log from their handler.
    let log: Logger | undefined;
    const requestLog = (): Logger => (log ??= deps.logger.child({ requestId }));
    const uow = new RequestUnitOfWork(database.db, {
      poolTimeoutMs: config.database.poolTimeoutMs,
      log: requestLog,
      debugEnabled,
      availability: database.availability,
    });
    try {
      route.auth?.check(req);
      const params = route.params ? validate(route.params, req.params, 'path') : undefined;
      const query = route.query ? validate(route.query, req.query, 'query') : undefined;
      let rawBody: Buffer | undefined;
      let body: unknown;
      if (route.body) {
        rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (route.body.verify) await route.body.verify(rawBody, req);
        body = validate(route.body.schema, parseJson(rawBody), 'body');
      }
      const result = await route.handle({
        params,
        query,
        body,
        rawBody,
        uow: () => uow.open(),
        checkpoint: () => uow.checkpoint(),
        get log() {
          return requestLog();
        },
        requestId,
        req,
      });
      const response = route.responses[result.status];
      if (!response) {
        throw new Error(
          `${route.operationId} returned status ${result.status}, which its contract does not declare`,
        );
      }
      const json = response.contentType === JSON_TYPE;
      const payload = response.schema
        ? json
          ? checkResponse(route, result.status, response.schema, result.body)
          : checkBytes(route, result.status, result.body)
        : undefined;
      // Commit before a single byte leaves: a failed commit must answer 500, never the handler's 2xx.
      await uow.commit();
      res.status(result.status);
      if (result.headers) res.set(result.headers);
      if (payload === undefined) res.end();
      else if (json) res.json(payload);
      else res.end(payload);
    } catch (error) {
      await uow.rollback();
      next(error);
    }
  };
}

/** Parses with the schema or throws a 400 whose details list every issue with its path (`body.logs.0.index`). */
export function validate<S extends ZodType>(schema: S, input: unknown, location: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    path: [location, ...issue.path.map(String)].join('.'),
    code: issue.code,
    message: issue.message,
  }));
  const first = details[0];
  const summary = first ? `${first.path}: ${first.message}` : 'invalid';
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new ValidationError(`Invalid request ${location}: ${summary}${more}`, details);
}

export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0)
    throw new AppError(400, 'INVALID_JSON', 'The request body is empty; send a JSON document');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new AppError(400, 'INVALID_JSON', 'The request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'parse error';
    throw new AppError(400, 'INVALID_JSON', `The request body is not valid JSON: ${reason}`);
  }
}

const JSON_TYPE = 'application/json';

function checkBytes(route: Route, status: number, body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  throw new Error(`${route.operationId} answered ${status} with a body that is not bytes`);
}

// Answers go through their schema too: unknown keys are stripped (no raw row can leak) and an answer that
// breaks its own contract is a 500 here rather than a surprise for a client.
function checkResponse(route: Route, status: number, schema: ZodType, body: unknown): unknown {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new Error(`${route.operationId} answered ${status} with a body that breaks its schema: ${issues}`);
}

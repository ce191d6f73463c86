// Every request gets an id: the caller's X-Request-Id when it is well formed (so ids follow a request across
// services), a fresh UUID otherwise. It is echoed on every answer and carried by every log line of the request.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the requestId middleware before any route runs. */
    requestId: string;
  }
}

export const REQUEST_ID_HEADER = 'X-Request-Id';

// Printable, no spaces or quotes, bounded: safe to echo in a header and to write into a log line.
const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: Request, res: Response, next: NextFunction): void {
  const given = req.get(REQUEST_ID_HEADER);
  const id = given !== undefined && WELL_FORMED.test(given) ? given : randomUUID();
  req.requestId = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  next();
}

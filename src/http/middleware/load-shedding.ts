// Load shedding: at most HTTP_MAX_IN_FLIGHT requests are worked on at once; one more is answered 503
// SERVER_BUSY with Retry-After at once, before it reads its body or waits for a database connection. Without a
// bound, 2,000 open requests queued for the pool, every answer (and /health) took seconds, and the service stayed
// slow after the burst. /health and /metrics are never shed or counted: a probe must see the service under load.
import type { NextFunction, Request, Response } from 'express';
import { ServiceUnavailableError } from '../../errors.js';

/** Seconds a shed client is asked to wait: the requests ahead of it finish within about that. */
export const SHED_RETRY_AFTER_SECONDS = 1;

export type LoadShedding = {
  (req: Request, res: Response, next: NextFunction): void;
  /** Requests counted now. */
  inFlight: () => number;
};

export function loadShedding(maxInFlight: number, exemptPaths: readonly string[]): LoadShedding {
  const exempt = new Set(exemptPaths);
  let inFlight = 0;
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (exempt.has(req.path)) {
      next();
      return;
    }
    if (inFlight >= maxInFlight) {
      next(
        new ServiceUnavailableError(
          'SERVER_BUSY',
          `The service is working on ${maxInFlight} requests; retry in a moment`,
          undefined,
          SHED_RETRY_AFTER_SECONDS,
        ),
      );
      return;
    }
    inFlight += 1;
    // 'close' fires once per response, whether it was sent in full or the client went away.
    res.once('close', () => {
      inFlight -= 1;
    });
    next();
  };
  return Object.assign(middleware, { inFlight: () => inFlight });
}

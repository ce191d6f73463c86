// HTTP metrics: a histogram of every answered request by method, route template and status, and the
// `GET /metrics` endpoint (Prometheus text format), optionally behind a bearer token (METRICS_TOKEN).
import type { Express, NextFunction, Request, Response } from 'express';
import { bearerMatches } from '../lib/bearer.js';
import { httpRequestDuration, metricsRegistry } from './registry.js';

export const METRICS_PATH = '/metrics';

/** Observes each request when its answer is finished; the route label is Express's template, never the raw path. */
export function httpMetrics(req: Request, res: Response, next: NextFunction): void {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    httpRequestDuration.observe(
      { method: req.method, route: routeLabel(req), status_code: String(res.statusCode) },
      seconds,
    );
  });
  next();
}

function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  const template = route?.path;
  if (typeof template === 'string') return `${req.baseUrl}${template}`;
  // Paths no route matched (404s, static files) share one label so scanners cannot grow the series.
  return 'unmatched';
}

/**
 * Mounts GET /metrics. With a token, a request without `Authorization: Bearer <token>` is answered 401; the
 * comparison takes the same time whatever the guess.
 */
export function mountMetrics(app: Express, options: { token: string | undefined }): void {
  const expected = options.token === undefined ? undefined : Buffer.from(options.token);
  app.get(METRICS_PATH, async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (expected && !bearerMatches(req.get('authorization'), expected)) {
        res
          .status(401)
          .set('WWW-Authenticate', 'Bearer realm="metrics"')
          .json({
            error: {
              code: 'METRICS_UNAUTHORIZED',
              message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>',
            },
            requestId: req.requestId,
          });
        return;
      }
      const registry = metricsRegistry();
      const body = await registry.metrics();
      res.set('Cache-Control', 'no-store').type(registry.contentType).send(body);
    } catch (error) {
      next(error);
    }
  });
}

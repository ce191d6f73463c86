// One line per request when its answer is finished (or the client went away): method, path, status, duration.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../logger.js';

// Probes hit /health and Prometheus /metrics every few seconds; at info they would drown the lines that matter.
const QUIET_PATHS = new Set(['/health', '/metrics']);

export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const path = req.originalUrl.split('?', 1)[0] ?? req.originalUrl;
      const fields = {
        method: req.method,
        path,
        status: res.writableFinished ? res.statusCode : 499,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        requestId: req.requestId,
      };
      const quiet =
        QUIET_PATHS.has(path) && (req.method === 'GET' || req.method === 'HEAD') && fields.status === 200;
      const level = quiet ? 'debug' : 'info';
      // winston formats a line before it filters it by level: skip the work for lines nobody will see.
      if (logger.isLevelEnabled(level)) logger.log(level, 'http.request', fields);
    };
    // 'close' follows 'finish' for a completed answer, and comes alone when the client went away.
    res.on('close', done);
    next();
  };
}

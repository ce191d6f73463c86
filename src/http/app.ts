// createApp: the Express app of the service, not listening. main (or a test) listens; nothing here has side
// effects beyond building the app.
import cors from 'cors';
import express, { type Express } from 'express';
import { DASHBOARD_PATHS, mountDashboard } from './dashboard.js';
import { DOCS_PATHS, mountDocs } from './docs.js';
import { errorHandler, methodNotAllowed, notFound } from './middleware/error-handler.js';
import { REQUEST_ID_HEADER, requestId } from './middleware/request-id.js';
import { loadShedding } from './middleware/load-shedding.js';
import { requestLog } from './middleware/request-log.js';
import { HEALTH_PATH } from './routes/health.routes.js';
import { buildOpenApiDocument } from './openapi.js';
import { httpMetrics, METRICS_PATH, mountMetrics } from '../metrics/http-metrics.js';
import { cachedSnapshot, registerPipelineGauges } from '../metrics/pipeline-gauges.js';
import { registerRevealGauges } from '../metrics/reveal-gauges.js';
import { readRevealSnapshot } from '../stages/reveal/reveal-status.js';
import { registerPoolGauges } from '../metrics/pool-gauges.js';
import { initMetrics } from '../metrics/registry.js';
import type { Deps } from '../deps.js';
import { routeHandlers, type Route } from './route.js';
import { routeFactories } from './routes/index.js';

export type CreateAppOptions = {
  /** Routes added to the API's own (tests add probes this way); documented like the others. */
  extraRoutes?: readonly Route[];
};

export const API_TITLE = 'GLISK backend API';
export const API_VERSION = '0.1.0';

export function createApp(deps: Deps, options: CreateAppOptions = {}): Express {
  const { config, logger } = deps;
  const routes = [...routeFactories.flatMap((factory) => factory(deps)), ...(options.extraRoutes ?? [])];
  assertUnique(routes);

  const app = express();
  app.disable('x-powered-by');
  // API answers are small and uncacheable; hashing every body for an ETag costs each request for nothing.
  app.set('etag', false);
  // Path and query strings only; bodies are read per route (routeHandlers) with the route's limit.
  app.set('query parser', 'simple');

  app.use(requestId);
  app.use(requestLog(logger));
  app.use(httpMetrics);
  const origins = config.http.corsOrigins;
  app.use(
    cors({
      origin: origins === '*' ? '*' : [...origins],
      exposedHeaders: [REQUEST_ID_HEADER],
      maxAge: 600,
    }),
  );
  // After CORS, so that a browser can read the 503; before any body is read or connection taken.
  app.use(loadShedding(config.http.maxInFlight, [HEALTH_PATH, METRICS_PATH]));

  const methodsByPath = new Map<string, string[]>();
  for (const route of routes) {
    app[route.method](route.expressPath, ...routeHandlers(route, deps));
    methodsByPath.set(route.expressPath, [...(methodsByPath.get(route.expressPath) ?? []), route.method]);
  }

  const document = buildOpenApiDocument(routes, {
    title: API_TITLE,
    version: API_VERSION,
    description:
      'Carries every NFT of the GLISK collection from its mint on chain to its reveal. ' +
      'Errors answer {"error":{"code","message","details"?},"requestId"}; timestamps are ISO 8601 UTC.',
  });
  mountDocs(app, document);
  for (const [path, methods] of Object.entries(DOCS_PATHS)) methodsByPath.set(path, [...methods]);
  mountDashboard(app);
  for (const [path, methods] of Object.entries(DASHBOARD_PATHS)) methodsByPath.set(path, [...methods]);
  initMetrics(config.metrics.instance);
  registerPipelineGauges(deps.database, { refreshMs: config.metrics.refreshMs });
  const reveal = cachedSnapshot(() => readRevealSnapshot(deps.database.db), {
    refreshMs: config.metrics.refreshMs,
  });
  registerRevealGauges(reveal.current);
  registerPoolGauges(deps.database);
  mountMetrics(app, { token: config.metrics.token || undefined });
  methodsByPath.set(METRICS_PATH, ['get']);

  // After every route: a known path under another method is a 405 with Allow, not a 404.
  for (const [path, methods] of methodsByPath) app.all(path, methodNotAllowed(methods));
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

function assertUnique(routes: readonly Route[]): void {
  const seen = new Set<string>();
  const ids = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.expressPath}`;
    if (seen.has(key)) throw new Error(`two routes answer ${key}`);
    if (ids.has(route.operationId)) throw new Error(`two routes share the operationId ${route.operationId}`);
    seen.add(key);
    ids.add(route.operationId);
  }
}

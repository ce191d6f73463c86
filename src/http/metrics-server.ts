// The /metrics listener of a process without the HTTP API (`npm run worker`): a small Express app that answers
// GET /metrics (METRICS_TOKEN applies) and 404 to everything else, on METRICS_PORT (unset: a port the OS
// chooses, logged at start). Every process serves its own series, labelled by its instance.
import express from 'express';
import type { Database } from '../db/client.js';
import { listen, type RunningServer } from './server.js';
import { METRICS_PATH, mountMetrics } from '../metrics/http-metrics.js';
import { registerPoolGauges } from '../metrics/pool-gauges.js';
import { initMetrics } from '../metrics/registry.js';

export type MetricsServerOptions = {
  host: string;
  /** 0: a free port the OS chooses. */
  port: number;
  token: string | undefined;
  instance: string | undefined;
  /** The process's database pool, exported as glisk_db_pool_* gauges. */
  database: Pick<Database, 'sql'>;
};

export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningServer> {
  initMetrics(options.instance);
  registerPoolGauges(options.database);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  mountMetrics(app, { token: options.token });
  app.use((req, res) => {
    res.status(404).json({
      error: { code: 'ROUTE_NOT_FOUND', message: `this listener serves GET ${METRICS_PATH} only` },
    });
  });
  return listen(app, options.host, options.port);
}

// GET /health as the seed specifies it: 200 {"status":"healthy"} when the database answers `SELECT 1` within
// HEALTH_TIMEOUT_MS, else 503 {"status":"unhealthy","error":{"type","message"}}. It never waits longer than
// the timeout, whatever state the pool or the server is in: the probe has its own connection
// (Database.probeSql), so a pool busy with API or worker queries does not make it queue, and load shedding
// (HTTP_MAX_IN_FLIGHT) never refuses it.
import { z } from '../../lib/zod.js';
import { connectionFailureCode } from '../../db/connection-errors.js';
import { redactUrl } from '../../logger.js';
import { defineRoute, type RouteFactory } from '../route.js';

const Healthy = z.object({ status: z.literal('healthy') }).openapi('HealthHealthy');

const Unhealthy = z
  .object({
    status: z.literal('unhealthy'),
    error: z.object({
      type: z.string().openapi({ example: 'ECONNREFUSED' }),
      message: z.string().openapi({ example: 'connect ECONNREFUSED 127.0.0.1:5432' }),
    }),
  })
  .openapi('HealthUnhealthy');

export const HEALTH_PATH = '/health';

type Probe = { ok: true } | { ok: false; type: string; message: string };

export const healthRoutes: RouteFactory = ({ database, config }) => {
  const timeoutMs = config.http.healthTimeoutMs;

  const runProbe = async (): Promise<Probe> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Probe>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ok: false,
            type: 'DatabaseTimeout',
            message: `the database did not answer within ${timeoutMs} ms`,
          }),
        timeoutMs,
      );
    });
    const query = database.probeSql()`select 1`.then(
      (): Probe => {
        database.availability.reportSuccess();
        return { ok: true };
      },
      (error: unknown): Probe => {
        const code = connectionFailureCode(error);
        if (code !== undefined) database.availability.reportFailure(code);
        return { ok: false, ...describe(error) };
      },
    );
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  // Probes that arrive while one is in flight share its answer: a burst of health checks (many replicas,
  // a load balancer and a monitor) costs the database one query, and each answer is still at most one
  // probe old and bounded by the timeout.
  let inFlight: Promise<Probe> | undefined;
  const probe = (): Promise<Probe> => {
    inFlight ??= runProbe().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return [
    defineRoute({
      method: 'get',
      path: HEALTH_PATH,
      operationId: 'getHealth',
      summary: 'Service health',
      description:
        `Healthy when the database answers \`SELECT 1\` within ${timeoutMs} ms; never waits longer. ` +
        'Concurrent probes share one query.',
      tags: ['health'],
      responses: {
        200: { description: 'The service and its database answer.', schema: Healthy },
        503: { description: 'The database does not answer.', schema: Unhealthy },
      },
    }).handle(async () => {
      const result = await probe();
      if (result.ok) return { status: 200, body: { status: 'healthy' } };
      return {
        status: 503,
        body: { status: 'unhealthy', error: { type: result.type, message: result.message } },
      };
    }),
  ];
};

function describe(error: unknown): { type: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { type: typeof code === 'string' ? code : error.name, message: redactUrl(error.message) };
  }
  return { type: 'Error', message: String(error) };
}

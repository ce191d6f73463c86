// GET /health as the seed specifies it: 200 {"status":"healthy"} when the database answers `SELECT 1` within
// HEALTH_TIMEOUT_MS, else 503 {"status":"unhealthy","error":{"type","message"}}. It never waits longer than
// the timeout, whatever state the pool or the server is in.
import { z } from 'zod';
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

type Probe = { ok: true } | { ok: false; type: string; message: string };

export const healthRoutes: RouteFactory = ({ database, config }) => {
  const timeoutMs = config.http.healthTimeoutMs;

  const probe = async (): Promise<Probe> => {
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
    const query = database.sql`select 1`.then(
      (): Probe => ({ ok: true }),
      (error: unknown): Probe => ({ ok: false, ...describe(error) }),
    );
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return [
    defineRoute({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      summary: 'Service health',
      description: `Healthy when the database answers within ${timeoutMs} ms. Never waits longer.`,
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

// Which database errors mean "the connection is gone" rather than "this statement is wrong". A request that fails
// with one of these is answered 503 with Retry-After (a retry on a fresh connection can succeed), never 500.
// drizzle wraps driver errors (DrizzleQueryError, cause = the postgres.js error), so causes are followed.

// postgres.js's own connection errors and the socket errors of node:net.
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// SQLSTATEs of a server that is going away or not accepting sessions: admin_shutdown (pg_terminate_backend),
// crash_shutdown, cannot_connect_now (starting up, shutting down), too_many_connections, idle session timeouts.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300', '25P03']);

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The connection-level failure in `error` or its causes, as its code; undefined for any other error. */
export function connectionFailureCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth += 1) {
    const code = codeOf(current);
    // Class 08 is "connection exception" in the SQLSTATE table.
    if (
      code !== undefined &&
      (CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))
    ) {
      return code;
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return undefined;
}

export function isConnectionFailure(error: unknown): boolean {
  return connectionFailureCode(error) !== undefined;
}

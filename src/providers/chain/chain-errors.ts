// What a failed chain call says in one line: whether the node could not be reached (refused, timed out, an HTTP
// error) and which endpoint, without its credentials. viem's errors carry the request body, the full URL (an
// Alchemy key is in its path) and a stack of wrappers; none of that belongs in a routine log line or an API answer.
import { BaseError, HttpRequestError, TimeoutError } from 'viem';

export type ChainFailureCode = 'CHAIN_UNREACHABLE' | 'CHAIN_TIMEOUT' | 'CHAIN_HTTP_ERROR';

export type ChainFailure = {
  code: ChainFailureCode;
  /** scheme://host:port of the node; no user, password, path or query (an API key may sit in any of them). */
  endpoint: string | undefined;
  /** The cause in a few words: `ECONNREFUSED`, `HTTP 503 Service Unavailable`, `no answer within 10000 ms`. */
  detail: string;
};

/** The endpoint as it may be shown: its origin only. */
export function endpointOrigin(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** The chain connectivity failure inside `error` (viem wraps it in call and contract errors), or undefined. */
export function describeChainFailure(error: unknown): ChainFailure | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const found = error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError);
  if (found instanceof TimeoutError) {
    return {
      code: 'CHAIN_TIMEOUT',
      endpoint: endpointOrigin(found.metaMessages?.find((m) => m.startsWith('URL: '))?.slice(5)),
      detail: 'no answer within the timeout',
    };
  }
  if (!(found instanceof HttpRequestError)) return undefined;
  const endpoint = endpointOrigin(found.url);
  if (found.status !== undefined) {
    return {
      code: 'CHAIN_HTTP_ERROR',
      endpoint,
      detail: `HTTP ${found.status}${found.details ? ` ${oneLine(found.details)}` : ''}`,
    };
  }
  return { code: 'CHAIN_UNREACHABLE', endpoint, detail: innermostCause(found) };
}

/** `code: message` of the deepest cause (undici puts ECONNREFUSED three levels down), on one line. */
function innermostCause(error: Error): string {
  let deepest: unknown = error;
  for (let depth = 0; depth < 8; depth += 1) {
    const next: unknown = (deepest as { cause?: unknown }).cause;
    if (!(next instanceof Error)) break;
    deepest = next;
  }
  if (deepest === error) return oneLine(error instanceof HttpRequestError ? error.details : error.message);
  const { code, message } = deepest as Error & { code?: unknown };
  const text = oneLine(message);
  return typeof code === 'string' && !text.includes(code) ? `${code} ${text}` : text;
}

function oneLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** `CHAIN_UNREACHABLE: http://127.0.0.1:8545 ECONNREFUSED connect ...`: the failure as one short line. */
export function chainFailureText(failure: ChainFailure): string {
  const what =
    failure.code === 'CHAIN_TIMEOUT'
      ? 'chain node did not answer'
      : failure.code === 'CHAIN_HTTP_ERROR'
        ? 'chain node answered an HTTP error'
        : 'chain node unreachable';
  return `${what} at ${failure.endpoint ?? 'the configured RPC endpoint'}: ${failure.detail}`;
}

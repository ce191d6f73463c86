// The one HTTP exchange of the remote providers (Kubo, Pinata): a multipart POST with a timeout that covers the
// answer's body too, and the classification of every way it can fail.
import { parseRetryAfter } from '../../lib/retry-after.js';
import { IpfsProviderError } from '../../errors.js';
import type { IpfsFile, IpfsProviderName } from './ipfs-provider.js';

export type UploadRequest = {
  provider: IpfsProviderName;
  url: string;
  headers?: Record<string, string>;
  body: FormData;
  timeoutMs: number;
  signal?: AbortSignal;
};

/** The answer of a 2xx upload. */
export type UploadAnswer = { status: number; text: string };

/** The file part of a multipart upload: exactly the bytes, under the file name. */
export function filePart(file: IpfsFile): Blob {
  return new Blob([file.bytes], { type: file.mediaType });
}

/** POSTs the form; resolves with a 2xx answer, throws IpfsProviderError for anything else. */
export async function postUpload(request: UploadRequest): Promise<UploadAnswer> {
  const { provider } = request;
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let status: number;
  let text: string;
  let retryAfter: string | null;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal,
    });
    status = response.status;
    retryAfter = response.headers.get('retry-after');
    text = await response.text();
  } catch (error) {
    // The caller's own abort (shutdown) is not the provider's failure: let it through unchanged.
    if (request.signal?.aborted === true) throw error;
    if (timeout.aborted) {
      throw new IpfsProviderError(
        provider,
        'transient',
        'IPFS_TIMEOUT',
        `${provider} did not answer within ${request.timeoutMs} ms`,
        {},
        { cause: error },
      );
    }
    const reason = error instanceof Error ? (causeMessage(error) ?? error.message) : String(error);
    throw new IpfsProviderError(
      provider,
      'transient',
      'IPFS_CONNECTION_FAILED',
      `${provider} could not be reached: ${reason}`,
      {},
      { cause: error },
    );
  }
  if (status >= 200 && status < 300) return { status, text };

  const excerpt = text.slice(0, 300);
  if (status === 401 || status === 403) {
    throw new IpfsProviderError(
      provider,
      'permanent',
      'IPFS_UNAUTHORIZED',
      `${provider} refused the credentials (HTTP ${status}): ${excerpt}`,
      { httpStatus: status },
    );
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    throw new IpfsProviderError(
      provider,
      'transient',
      'IPFS_RATE_LIMITED',
      `${provider} answered 429 (retry after ${retryAfterMs === undefined ? 'unspecified' : `${retryAfterMs} ms`})`,
      retryAfterMs === undefined ? { httpStatus: status } : { httpStatus: status, retryAfterMs },
    );
  }
  if (status >= 500 || status === 408) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    throw new IpfsProviderError(
      provider,
      'transient',
      'IPFS_PROVIDER_ERROR',
      `${provider} failed (HTTP ${status}): ${excerpt}`,
      retryAfterMs === undefined ? { httpStatus: status } : { httpStatus: status, retryAfterMs },
    );
  }
  throw new IpfsProviderError(
    provider,
    'permanent',
    'IPFS_REQUEST_REFUSED',
    `${provider} refused the upload (HTTP ${status}): ${excerpt}`,
    { httpStatus: status },
  );
}

/** A provider answered 2xx but named no usable CID: a broken answer, retried. */
export function missingCid(provider: IpfsProviderName, text: string): IpfsProviderError {
  return new IpfsProviderError(
    provider,
    'transient',
    'IPFS_NO_CID',
    `${provider} answered without a CID: ${text.slice(0, 200)}`,
  );
}

// undici reports "fetch failed" with the reason (ECONNREFUSED, ...) in its cause.
function causeMessage(error: Error): string | undefined {
  const cause = error.cause;
  if (cause instanceof Error)
    return 'code' in cause ? `${String(cause.code)} ${cause.message}` : cause.message;
  return undefined;
}

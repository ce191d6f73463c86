// IMAGE_PROVIDER=replicate: the official `replicate` client (base URL and fetch injectable, so tests drive it
// against a fake Replicate on loopback). One prediction per call: POST with `Prefer: wait`, then polling until a
// final status within REPLICATE_TIMEOUT_SECONDS (cancelled on timeout); the output downloaded at once (Replicate
// deletes it after about an hour). Every failure leaves here classified: transient (timeouts, 429 with its
// Retry-After, 5xx, connection errors, a malformed answer, an expired output), permanent (401/403, 422 invalid
// input), or ContentPolicyError (the safety filter refused the prompt: the stage retries once with the fallback).
import Replicate, { type Prediction } from 'replicate';
import { ContentPolicyError, PermanentStageError, StageError, TransientStageError } from '../../errors.js';
import { parseRetryAfter } from '../../lib/retry-after.js';
import type { GeneratedImage, ImageProvider, ImageRequest } from './image-provider.js';

export type ReplicateProviderOptions = {
  apiToken: string;
  /** owner/name, e.g. black-forest-labs/flux-schnell. */
  model: string;
  /** https://api.replicate.com/v1 in production; a fake's URL in tests. */
  baseUrl: string;
  /** The whole call (create, polling, download) fails as a transient timeout after this long. */
  timeoutMs: number;
  /** Pause between two polls of an unfinished prediction. */
  pollIntervalMs?: number;
  fetch?: typeof fetch;
};

// Replicate's safety checker answers a failed prediction with an error like "NSFW content detected".
const CONTENT_POLICY = /nsfw|safety|content polic|sensitive content|flagged/i;

/** The status and Retry-After of a 429, captured before the client's own retries could repeat the request. */
class RateLimited extends Error {
  constructor(readonly retryAfterMs: number | undefined) {
    super('rate limited');
  }
}

function firstOutputUrl(output: unknown): string | undefined {
  const first: unknown = Array.isArray(output) ? output[0] : output;
  return typeof first === 'string' && /^https?:\/\//.test(first) ? first : undefined;
}

function classify(error: unknown, signal: AbortSignal, timeoutMs: number): StageError {
  if (error instanceof StageError) return error;
  if (error instanceof RateLimited) {
    return new TransientStageError('RATE_LIMITED', 'Replicate answered 429 Too Many Requests', {
      providerStatus: 429,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    });
  }
  if (signal.aborted) {
    return new TransientStageError('PROVIDER_TIMEOUT', `Replicate did not finish within ${timeoutMs} ms`, {
      cause: error,
    });
  }
  const response = (error as { response?: unknown }).response;
  if (error instanceof Error && error.name === 'ApiError' && response instanceof Response) {
    const status = response.status;
    const message = `Replicate answered HTTP ${status}`;
    if (status === 401 || status === 403) {
      return new PermanentStageError('PROVIDER_UNAUTHORIZED', `${message}: check REPLICATE_API_TOKEN`, {
        providerStatus: status,
      });
    }
    if (status === 400 || status === 404 || status === 422) {
      return new PermanentStageError('PROVIDER_INVALID_INPUT', `${message}: the request was refused`, {
        providerStatus: status,
      });
    }
    return new TransientStageError(status >= 500 ? 'PROVIDER_5XX' : 'PROVIDER_HTTP_ERROR', message, {
      providerStatus: status,
    });
  }
  if (error instanceof SyntaxError) {
    return new TransientStageError('PROVIDER_BAD_RESPONSE', 'Replicate answered with malformed JSON', {
      cause: error,
    });
  }
  return new TransientStageError(
    'PROVIDER_CONNECTION',
    `Replicate could not be reached: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

export function createReplicateImageProvider(options: ReplicateProviderOptions): ImageProvider {
  const baseFetch = options.fetch ?? fetch;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;

  async function run(request: ImageRequest, signal: AbortSignal): Promise<GeneratedImage> {
    // The client retries a 429 up to five times at once, ignoring Retry-After; a fresh client per call with a
    // fetch that stops at the first 429 lets the stage runtime honour Retry-After instead.
    let rateLimited: RateLimited | undefined;
    const guardedFetch = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
      if (rateLimited) throw rateLimited;
      const response = await baseFetch(input, init);
      if (response.status === 429) {
        rateLimited = new RateLimited(parseRetryAfter(response.headers.get('retry-after')));
        throw rateLimited;
      }
      return response;
    };
    const client = new Replicate({
      auth: options.apiToken,
      baseUrl: options.baseUrl,
      fetch: guardedFetch,
      useFileOutput: false,
    });
    const waitSeconds = Math.max(1, Math.min(60, Math.floor(options.timeoutMs / 1000)));
    let prediction: Prediction = await client.predictions.create({
      model: options.model,
      input: { prompt: request.prompt },
      wait: waitSeconds,
      signal,
    });
    try {
      while (prediction.status === 'starting' || prediction.status === 'processing') {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, pollIntervalMs);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
            },
            { once: true },
          );
        });
        prediction = await client.predictions.get(prediction.id, { signal });
      }
    } catch (error) {
      // Timed out or lost the lease: stop paying for a prediction nobody will read.
      await client.predictions.cancel(prediction.id).catch(() => undefined);
      throw error;
    }
    const id = prediction.id;
    if (prediction.status !== 'succeeded') {
      const detail = typeof prediction.error === 'string' ? prediction.error : String(prediction.status);
      if (CONTENT_POLICY.test(detail))
        throw new ContentPolicyError(`Replicate refused the prompt: ${detail}`);
      throw new TransientStageError(
        'PROVIDER_PREDICTION_FAILED',
        `Replicate prediction ${id} ${prediction.status}`,
      );
    }
    const url = firstOutputUrl(prediction.output);
    if (url === undefined) {
      throw new TransientStageError('PROVIDER_BAD_RESPONSE', `Replicate prediction ${id} has no output URL`);
    }
    const download = await baseFetch(url, { signal });
    if (!download.ok) {
      throw new TransientStageError(
        'OUTPUT_UNAVAILABLE',
        `the output of prediction ${id} answered HTTP ${download.status} (expired or deleted)`,
        { providerStatus: download.status },
      );
    }
    return { bytes: new Uint8Array(await download.arrayBuffer()), externalJobId: id };
  }

  return {
    name: 'replicate',
    generate: async (request) => {
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(options.timeoutMs)]);
      try {
        return await run(request, signal);
      } catch (error) {
        throw classify(error, signal, options.timeoutMs);
      }
    },
  };
}

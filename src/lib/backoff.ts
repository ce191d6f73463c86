// Retry delays: exponential, capped, with jitter so that tokens failing together do not retry together.

export type BackoffOptions = {
  /** The delay ceiling of the first retry. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** [0, 1); Math.random by default, fixed in tests. */
  random?: () => number;
};

/**
 * The delay before retry number `attempt` (1 = the first retry): "equal jitter", uniformly in
 * [ceiling / 2, ceiling] with ceiling = min(maxMs, baseMs * 2^(attempt - 1)). The lower half guarantees the delay
 * grows with the attempts; the random half spreads a burst of failures over time.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

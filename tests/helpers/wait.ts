// Waiting on an event that has no callback to hang on (a counter a route bumps, a row, a backend's lock wait):
// the one polling wait of the tests. Bounded, so that an event that never comes fails the test with `what`
// instead of hanging the file until the runner's timeout.

export type WaitOptions = {
  /** Named in the error when the condition is not met in time. */
  what?: string;
  /** Default 10 s: generous for a loaded machine; a wait that holds is over in milliseconds. */
  timeoutMs?: number;
  /** Between checks; default 10 ms. */
  intervalMs?: number;
};

/** Resolves as soon as `condition` holds (checked at once, then every intervalMs); rejects after timeoutMs. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions = {},
): Promise<void> {
  const { what = 'condition', timeoutMs = 10_000, intervalMs = 10 } = options;
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Settles like `promise`, or rejects naming `what` when it has not settled within `ms` (never hangs a file). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

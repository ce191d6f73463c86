// Cleanup when the process ends without stop(). One listener per event for every server of this process.

export type ExitCleanup = { sync: () => void; async: () => Promise<void> };

const cleanups = new Set<ExitCleanup>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onExit(): void {
  for (const cleanup of [...cleanups]) {
    try {
      cleanup.sync();
    } catch {
      // Best effort while the process is exiting; the next start cleans up what is left.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener (the service's graceful shutdown, the test runner) owns this signal and calls stop().
  if (process.listenerCount(signal) > 1) return;
  const pending = [...cleanups].map((cleanup) => cleanup.async().catch(() => undefined));
  void Promise.all(pending).finally(() => {
    detachListeners();
    // Re-raise so the process ends exactly as it would have without us (exit status 128 + signal).
    process.kill(process.pid, signal);
  });
}

function detachListeners(): void {
  process.off('exit', onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/** Runs cleanup when the process exits or gets a signal nobody else handles. Returns the unregister function. */
export function registerExitCleanup(cleanup: ExitCleanup): () => void {
  if (cleanups.size === 0) {
    process.on('exit', onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  cleanups.add(cleanup);
  return () => {
    if (cleanups.delete(cleanup) && cleanups.size === 0) detachListeners();
  };
}

// What the process does with an error nobody caught: the one place that decides it (installed by main).
//
// - An unhandled promise rejection is logged (`process.unhandled_rejection`, error level, with the stack) and the
//   service keeps running. A rejected promise that nobody awaited has already unwound: no request is half done
//   because of it, so killing every request in flight and the workers would turn one lost error into an outage.
//   Known sources are fixed at the root (patches/postgres+3.4.9.patch: fetch_types, porsager/postgres#1192,
//   #1223); the log line makes any new one visible.
// - An uncaught exception is logged (`process.uncaught_exception`) and the process exits 1: the stack it
//   unwound may have left state half changed, so the supervisor (compose, systemd, Kubernetes) restarts it.
import type { Logger } from '../logger.js';

export type ProcessGuards = {
  onUnhandledRejection: (reason: unknown) => void;
  onUncaughtException: (error: Error) => void;
  /** Removes the listeners (tests). */
  uninstall: () => void;
};

export function installProcessGuards(
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): ProcessGuards {
  const onUnhandledRejection = (reason: unknown): void => {
    logger.error('process.unhandled_rejection', {
      error: reason,
      action: 'logged; the service keeps running',
    });
  };
  const onUncaughtException = (error: Error): void => {
    logger.error('process.uncaught_exception', { error, action: 'exiting with status 1' });
    exit(1);
  };
  process.on('unhandledRejection', onUnhandledRejection);
  process.on('uncaughtException', onUncaughtException);
  return {
    onUnhandledRejection,
    onUncaughtException,
    uninstall: () => {
      process.off('unhandledRejection', onUnhandledRejection);
      process.off('uncaughtException', onUncaughtException);
    },
  };
}

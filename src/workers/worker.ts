// What a background loop of the service is (src/workers/index.ts runs them): a worker module exports a
// WorkerFactory, which builds its Worker from the service's dependencies.
import type { Deps } from '../deps.js';
import type { ChainStatusReporter } from '../domain/chain-status.js';

export type Worker = {
  /** Shown in every log line of the worker (`worker: "log-follower"`). */
  name: string;
  /** Pause between the end of one run and the start of the next. */
  intervalMs: number;
  /** false: the first run waits one interval. Default true. */
  runAtStart?: boolean;
  /**
   * One pass of the work. `signal` aborts when the service stops: long passes should check it between steps
   * and pass it to their I/O; stop() waits for the pass to return (bounded by its timeout).
   */
  run: (signal: AbortSignal) => Promise<void>;
  /** Where a worker that talks to the chain records whether it answers (GET /api/pipeline/stats shows it). */
  chainStatus?: ChainStatusReporter;
};

/** Builds a worker from the service's dependencies, or returns undefined when the config leaves it off. */
export type WorkerFactory = (deps: Deps) => Worker | undefined;

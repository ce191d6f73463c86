// A requests-per-minute limit held across every worker of every process: each request reserves its own slot
// in PostgreSQL (rate-limits.repository), slots 60000 / maxPerMinute ms apart, and waits for it. No burst: at
// most one request starts per interval, so no minute ever sees more than the limit. A caller that wakes up more
// than half an interval after its slot (its event loop or host stalled) takes a new slot instead of sending late:
// several late callers of one stalled process would otherwise go out together with the next callers' slots.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Executor } from '../db/client.js';
import * as rateLimitsRepository from '../repositories/rate-limits.repository.js';

export interface RateLimiter {
  /** Milliseconds between two slots. */
  readonly intervalMs: number;
  /** Resolves when the caller may send its request; rejects with the signal's reason when it aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** No slot starts before `delayMs` from now, for any caller (a 429 with Retry-After). */
  pauseFor(delayMs: number): Promise<void>;
}

export type SharedRateLimiterOptions = {
  db: Executor;
  /** The limit's name in rate_limits (`pinata`). */
  key: string;
  maxPerMinute: number;
  /** This host's clock and its wait (tests stand in a stalled host); default: performance.now and a timer. */
  clock?: LimiterClock;
};

export type LimiterClock = {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

const realClock: LimiterClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
};

export function createSharedRateLimiter(options: SharedRateLimiterOptions): RateLimiter {
  if (!(options.maxPerMinute > 0)) throw new RangeError('maxPerMinute must be > 0');
  const intervalMs = 60_000 / options.maxPerMinute;
  const clock = options.clock ?? realClock;
  return {
    intervalMs,
    async acquire(signal) {
      for (;;) {
        signal?.throwIfAborted();
        const waitMs = await rateLimitsRepository.reserveSlot(options.db, options.key, intervalMs);
        // The slot in this host's clock, at the latest (the database computed waitMs before its answer arrived).
        const slotAt = clock.now() + waitMs;
        if (waitMs > 0) await clock.sleep(waitMs, signal);
        if (clock.now() - slotAt <= intervalMs / 2) return;
      }
    },
    async pauseFor(delayMs) {
      await rateLimitsRepository.pushBack(options.db, options.key, Math.max(0, delayMs));
    },
  };
}

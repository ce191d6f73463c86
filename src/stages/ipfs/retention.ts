// Storage that does not grow forever. With a remote provider (kubo, pinata) the pin lives there; the bytes kept
// here only let the gateway serve them, so content whose every token was revealed more than
// IPFS_LOCAL_RETENTION_HOURS ago is deleted (the gateway then answers 404 and the token API links nothing).
// With IPFS_PROVIDER=local the content store IS the pin: the sweep is never started, and its SQL deletes only
// content that a remote provider has pinned (content_blobs.deleteRetired), so local content is never deleted.
import type { Executor } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import { sleep } from '../../lib/sleep.js';
import * as contentBlobs from '../../repositories/content-blobs.repository.js';

/** Rows one DELETE removes at most: short statements, whatever has piled up. */
const SWEEP_CHUNK = 500;

/** How often the sweep runs: a tenth of the retention, at least a minute apart, at most an hour. */
export function retentionSweepIntervalMs(retentionHours: number): number {
  return Math.min(3_600_000, Math.max(60_000, Math.round((retentionHours * 3_600_000) / 10)));
}

/** One sweep: deletes every retired blob, a chunk per statement. Returns how many were deleted. */
export async function sweepRetiredContent(db: Executor, retentionHours: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const cids = await contentBlobs.deleteRetired(db, { retentionHours, limit: SWEEP_CHUNK });
    deleted += cids.length;
    if (cids.length < SWEEP_CHUNK) return deleted;
  }
}

export type ContentRetention = { stop: () => Promise<void> };

/** Sweeps at once, then every `everyMs`, until stop(). A failed sweep is logged and tried again next time. */
export function startContentRetention(options: {
  db: Executor;
  logger: Logger;
  retentionHours: number;
  everyMs?: number;
}): ContentRetention {
  const { db, logger, retentionHours } = options;
  const everyMs = options.everyMs ?? retentionSweepIntervalMs(retentionHours);
  const controller = new AbortController();
  const running = (async () => {
    while (!controller.signal.aborted) {
      try {
        const deleted = await sweepRetiredContent(db, retentionHours);
        if (deleted > 0) logger.info('content.retired', { deleted, retentionHours });
      } catch (error) {
        logger.warn('content.retire_failed', { error, retryInMs: everyMs });
      }
      await sleep(everyMs, controller.signal);
    }
  })();
  logger.info('content.retention_started', { retentionHours, everyMs });
  return {
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

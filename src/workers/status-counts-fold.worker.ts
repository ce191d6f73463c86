// Folds token_status_counts on a timer. Its triggers append about one row per status-changing statement on
// tokens_s0 (migration 0008), so without a fold the table grows with the pipeline's work (about five rows per
// token) and every read of the counts sums more rows. Every process that runs the API (startWorkers) or pipeline
// workers (`npm run worker`) runs this loop; foldStatusCounts takes a try-lock, so of several processes folding
// at once one does the work and the others skip their turn (nothing waits, nothing is counted twice).
import { foldStatusCounts } from '../repositories/token-status-counts.repository.js';
import type { WorkerFactory } from './worker.js';

export const statusCountsFoldWorker: WorkerFactory = ({ config, logger, database }) => {
  const log = logger.child({ worker: 'status-counts-fold' });
  return {
    name: 'status-counts-fold',
    intervalMs: config.metrics.statusCountsFoldMs,
    run: async () => {
      const removed = await foldStatusCounts(database.db);
      if (removed > 0) log.debug('status_counts.folded', { removed });
    },
  };
};

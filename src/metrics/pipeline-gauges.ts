// Gauges read from PostgreSQL: tokens per status, and per stage the tokens waiting and the age of the oldest.
// A scrape never queries the database: it reads the last snapshot and, when that is older than the refresh
// interval, starts one refresh in the background (only the very first scrape waits for its snapshot). Many
// scrapers (or many Prometheus replicas) cost the database one query per interval.
import { Gauge } from 'prom-client';
import type { Database } from '../db/client.js';
import { TOKEN_STATUSES, type TokenStatus } from '../db/schema.js';
import {
  foldStatusCounts,
  nextInLineAges,
  statusCounts,
} from '../repositories/token-status-counts.repository.js';
import { metricsRegistry } from './registry.js';

/** Where each stage's work waits: the status a stage claims from. */
export const STAGE_WAITING_STATUS = { image: 'detected', ipfs: 'uploading', reveal: 'ready' } as const;

export type TokenSnapshot = {
  counts: Map<TokenStatus, number>;
  oldestAgeSeconds: Map<TokenStatus, number>;
};

export type PipelineGaugesOptions = { refreshMs: number; now?: () => number };

/**
 * A snapshot read by `read` at most once per `refreshMs`: `current()` answers the last one at once and, when it is
 * older than the interval, starts one read in the background (only the very first call waits for its read).
 */
export function cachedSnapshot<T>(
  read: () => Promise<T>,
  options: PipelineGaugesOptions,
): { current: () => Promise<T | undefined>; refresh: () => Promise<void> } {
  const now = options.now ?? Date.now;
  let snapshot: { value: T; readAt: number } | undefined;
  let refreshing: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    refreshing ??= read()
      .then((value) => {
        snapshot = { value, readAt: now() };
      })
      .catch(() => {
        // A failed read keeps the previous snapshot; the next scrape after the interval tries again.
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  const current = async (): Promise<T | undefined> => {
    if (snapshot === undefined) await refresh();
    else if (now() - snapshot.readAt >= options.refreshMs) void refresh();
    return snapshot?.value;
  };
  return { current, refresh };
}

export function registerPipelineGauges(
  database: Database,
  options: PipelineGaugesOptions,
): { refresh: () => Promise<void> } {
  const { current, refresh } = cachedSnapshot(() => readTokenSnapshot(database), options);

  const registry = metricsRegistry();
  for (const name of [
    'glisk_tokens',
    'glisk_stage_waiting_tokens',
    'glisk_stage_oldest_waiting_age_seconds',
  ]) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: 'glisk_tokens',
    help: 'Tokens per status (read from PostgreSQL at most once per refresh interval).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const snap = await current();
      if (!snap) return;
      for (const status of TOKEN_STATUSES) this.set({ status }, snap.counts.get(status) ?? 0);
    },
  });
  new Gauge({
    name: 'glisk_stage_waiting_tokens',
    help: 'Tokens waiting for a stage (in the status it claims from).',
    labelNames: ['stage'] as const,
    registers: [registry],
    async collect() {
      const snap = await current();
      if (!snap) return;
      for (const [stage, status] of Object.entries(STAGE_WAITING_STATUS)) {
        this.set({ stage }, snap.counts.get(status) ?? 0);
      }
    },
  });
  new Gauge({
    name: 'glisk_stage_oldest_waiting_age_seconds',
    help:
      'How long the token next in line for a stage (due the longest, under no live lease) has been in its ' +
      'status, since its last move, in seconds (0 when none waits).',
    labelNames: ['stage'] as const,
    registers: [registry],
    async collect() {
      const snap = await current();
      if (!snap) return;
      for (const [stage, status] of Object.entries(STAGE_WAITING_STATUS)) {
        this.set({ stage }, snap.oldestAgeSeconds.get(status) ?? 0);
      }
    },
  });
  return { refresh };
}

/**
 * Tokens per status and, per stage, how long the token next in line has waited: three small statements whatever
 * the number of tokens (bench:http times them alone). The counts come from token_status_counts, which this
 * refresh also folds (at most one process at a time).
 */
export async function readTokenSnapshot(database: Pick<Database, 'db'>): Promise<TokenSnapshot> {
  await foldStatusCounts(database.db);
  const counts = await statusCounts(database.db);
  const oldestAgeSeconds = await nextInLineAges(database.db, Object.values(STAGE_WAITING_STATUS));
  return { counts, oldestAgeSeconds };
}

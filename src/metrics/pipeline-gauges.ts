// Gauges read from PostgreSQL: tokens per status, and per stage the tokens waiting and the age of the oldest.
// A scrape never queries the database: it reads the last snapshot and, when that is older than the refresh
// interval, starts one refresh in the background (only the very first scrape waits for its snapshot). Many
// scrapers (or many Prometheus replicas) cost the database one query per interval.
import { sql } from 'drizzle-orm';
import { Gauge } from 'prom-client';
import type { Database } from '../db/client.js';
import { TOKEN_STATUSES, type TokenStatus } from '../db/schema.js';
import { metricsRegistry } from './registry.js';

/** Where each stage's work waits: the status a stage claims from. */
export const STAGE_WAITING_STATUS = { image: 'detected', ipfs: 'uploading', reveal: 'ready' } as const;

type Snapshot = {
  counts: Map<TokenStatus, number>;
  oldestAgeSeconds: Map<TokenStatus, number>;
  readAt: number;
};

export type TokenSnapshot = Omit<Snapshot, 'readAt'>;

export type PipelineGaugesOptions = { refreshMs: number; now?: () => number };

export function registerPipelineGauges(
  database: Database,
  options: PipelineGaugesOptions,
): { refresh: () => Promise<void> } {
  const now = options.now ?? Date.now;
  let snapshot: Snapshot | undefined;
  let refreshing: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    refreshing ??= readTokenSnapshot(database)
      .then((next) => {
        snapshot = { ...next, readAt: now() };
      })
      .catch(() => {
        // A failed read keeps the previous snapshot; the next scrape after the interval tries again.
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  const current = async (): Promise<Snapshot | undefined> => {
    if (snapshot === undefined) await refresh();
    else if (now() - snapshot.readAt >= options.refreshMs) void refresh();
    return snapshot;
  };

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
    help: 'Age of the oldest token waiting for a stage, since it entered that status (0 when none waits).',
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

/** Tokens per status and the age of each status's oldest token: one statement (bench:http times it alone). */
export async function readTokenSnapshot(database: Pick<Database, 'db'>): Promise<TokenSnapshot> {
  // One pass over the status index: counts and the oldest updated_at per status.
  const rows = await database.db.execute<{
    status: TokenStatus;
    count: number;
    oldest_age: number | null;
  }>(sql`
    select status, count(*)::int as count,
           extract(epoch from now() - min(updated_at))::float8 as oldest_age
    from tokens_s0
    group by status`);
  const counts = new Map<TokenStatus, number>();
  const oldestAgeSeconds = new Map<TokenStatus, number>();
  for (const row of rows) {
    counts.set(row.status, Number(row.count));
    oldestAgeSeconds.set(row.status, Math.max(0, Number(row.oldest_age ?? 0)));
  }
  return { counts, oldestAgeSeconds };
}

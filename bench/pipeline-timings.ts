// When each token entered each status, and when a stage claimed it, read from the database's own clock: triggers
// on tokens_s0 (installed in the bench's throwaway database only) log every status change and every new lease.
// Their cost, one insert per statement that changes tokens (statement-level triggers over the transition tables:
// a claim or a finish of 10 tokens logs them in one insert, not 10), is counted against the pipeline.
import { readdirSync, readFileSync } from 'node:fs';
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import type { Database } from '../src/db/client.js';
import type { StageDefinition } from '../src/domain/stages.js';

export async function installStatusLog(database: Database): Promise<void> {
  await database.db.execute(sql`
    CREATE TABLE bench_status_log (
      token_id integer NOT NULL,
      status text NOT NULL,
      claimed boolean NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`);
  // A new status is logged as entered (claimed false); a new lease on an unchanged status as a claim.
  await database.db.execute(sql`
    CREATE FUNCTION bench_log_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO bench_status_log (token_id, status, claimed) SELECT token_id, status, false FROM new_rows;
      RETURN NULL;
    END $$`);
  await database.db.execute(sql`
    CREATE FUNCTION bench_log_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO bench_status_log (token_id, status, claimed)
        SELECT n.token_id, n.status, n.status IS NOT DISTINCT FROM o.status
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.status IS DISTINCT FROM o.status
           OR (n.lease_owner IS NOT NULL AND n.lease_owner IS DISTINCT FROM o.lease_owner);
      RETURN NULL;
    END $$`);
  await database.db.execute(sql`
    CREATE TRIGGER bench_log_inserted AFTER INSERT ON tokens_s0
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_log_inserted()`);
  await database.db.execute(sql`
    CREATE TRIGGER bench_log_updated AFTER UPDATE ON tokens_s0
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_log_updated()`);
}

export type StageTiming = {
  stage: string;
  /** Tokens that left the stage. */
  tokens: number;
  /** Tokens out per second, from the stage's first claim to its last finish. */
  rate: number;
  /** Per token: entering the stage's start status -> reaching its next status. */
  inStageMs: number[];
  /** Per token: the stage's first claim -> reaching its next status. */
  workMs: number[];
};

type Event = { tokenId: number; status: string; claimed: boolean; atMs: number };

/** Per-stage figures and the whole run (first token detected -> last token out of the last stage). */
export async function stageTimings(
  database: Database,
  stages: readonly StageDefinition[],
): Promise<{ stages: StageTiming[]; pipelineSeconds: number }> {
  const rows = await database.db.execute<{
    token_id: number;
    status: string;
    claimed: boolean;
    at_ms: number;
  }>(
    sql`/* bench */ SELECT token_id, status, claimed, extract(epoch FROM at)::float8 * 1000 AS at_ms
        FROM bench_status_log ORDER BY at, token_id`,
  );
  const byToken = new Map<number, Event[]>();
  for (const row of rows) {
    const event = { tokenId: row.token_id, status: row.status, claimed: row.claimed, atMs: row.at_ms };
    byToken.set(row.token_id, [...(byToken.get(row.token_id) ?? []), event]);
  }

  let firstIn = Infinity;
  let lastOut = -Infinity;
  const timings = stages.map((stage, index): StageTiming => {
    const inStageMs: number[] = [];
    const workMs: number[] = [];
    let firstClaim = Infinity;
    let stageLastOut = -Infinity;
    for (const events of byToken.values()) {
      const entered = events.find((e) => e.status === stage.start && !e.claimed);
      if (entered === undefined) continue;
      const after = events.filter((e) => e.atMs >= entered.atMs);
      const out = after.find((e) => e.status === stage.next);
      // A stage whose working status is its start (ipfs, reveal) shows its claim as a new lease.
      const claim = after.find(
        (e) => e.status === stage.working && (stage.working !== stage.start || e.claimed),
      );
      if (out === undefined || claim === undefined) continue;
      inStageMs.push(out.atMs - entered.atMs);
      workMs.push(out.atMs - claim.atMs);
      firstClaim = Math.min(firstClaim, claim.atMs);
      stageLastOut = Math.max(stageLastOut, out.atMs);
      if (index === 0) firstIn = Math.min(firstIn, entered.atMs);
      if (index === stages.length - 1) lastOut = Math.max(lastOut, out.atMs);
    }
    const seconds = (stageLastOut - firstClaim) / 1000;
    return {
      stage: stage.name,
      tokens: inStageMs.length,
      rate: inStageMs.length / seconds,
      inStageMs,
      workMs,
    };
  });
  return { stages: timings, pipelineSeconds: (lastOut - firstIn) / 1000 };
}

/** CPU seconds used so far by this process and by the PostgreSQL server (postmaster and its live children). */
export function cpuSeconds(postmasterPid: number): { node: number; postgres: number | undefined } {
  const usage = process.cpuUsage();
  return { node: (usage.user + usage.system) / 1e6, postgres: processTreeCpuSeconds(postmasterPid) };
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds used so far by process `rootPid` and its live children (a postmaster and its backends). */
export function processTreeCpuSeconds(rootPid: number): number | undefined {
  try {
    let ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      // Fields after the parenthesised command: state ppid ... utime(14) stime(15), 1-based over the whole line.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid !== rootPid && Number(fields[1]) !== rootPid) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Garbage collections of this process so far: full (mark-compact) and minor ones, and their pauses. */
export type GcTotals = { full: number; minor: number; pauseMs: number };

/** Counts this process's garbage collections from now on (PerformanceObserver 'gc' entries) until stop(). */
export function startGcCounter(): { totals: () => GcTotals; stop: () => void } {
  const totals: GcTotals = { full: 0, minor: 0, pauseMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) totals.full += 1;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) totals.minor += 1;
      totals.pauseMs += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { totals: () => ({ ...totals }), stop: () => observer.disconnect() };
}

/** The server settings that make statementCounts() work (pg_stat_statements, loaded at start). */
export const STATEMENT_COUNT_SETTINGS = { shared_preload_libraries: 'pg_stat_statements' } as const;

export async function resetStatementCounts(database: Database): Promise<void> {
  await database.db.execute(sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
  await database.db.execute(sql`SELECT pg_stat_statements_reset()`);
}

export type StatementCount = { query: string; calls: number; totalMs: number };

/**
 * The statements the server ran since resetStatementCounts() (top level only: a trigger's insert is not one),
 * BEGIN and COMMIT included (each is a round trip), most called first; the bench's own progress and
 * bookkeeping queries left out (those of bench:claim carry a comment naming them bench work).
 */
export async function statementCounts(database: Database): Promise<StatementCount[]> {
  const rows = await database.db.execute<{ query: string; calls: number; total_ms: number }>(sql`
    SELECT query, calls::int AS calls, total_exec_time::float8 AS total_ms
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%GROUP BY status%'
      AND query NOT LIKE '%/* bench */%'
    ORDER BY calls DESC, total_exec_time DESC`);
  return rows.map((row) => ({
    query: row.query.replace(/\s+/g, ' ').trim(),
    calls: row.calls,
    totalMs: row.total_ms,
  }));
}

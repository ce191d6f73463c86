// Whether the chain answers, as each part of the service that talks to it last found (the log follower, the gap
// scan, the reveal stage), kept in system_state (one row per part: `chain_status_<part>`) so that the operator
// stats of any instance show it, whichever process found it. A part writes when it fails, and when it succeeds
// after a failure (or at most once a minute otherwise, so a stale failure left by a stopped process is replaced).
import type { Executor } from '../db/client.js';
import type { ChainFailure } from '../providers/chain/chain-errors.js';
import * as systemState from '../repositories/system-state.repository.js';

export const CHAIN_STATUS_SOURCES = ['log-follower', 'gap-scan', 'reveal'] as const;
export type ChainStatusSource = (typeof CHAIN_STATUS_SOURCES)[number];

export type ChainStatus = {
  source: ChainStatusSource;
  reachable: boolean;
  /** CHAIN_UNREACHABLE, CHAIN_TIMEOUT, CHAIN_HTTP_ERROR; null when reachable. */
  code: string | null;
  /** The node's origin only (never credentials nor the path, which may carry an API key). */
  endpoint: string | null;
  detail: string | null;
  /** Since when it has been so (the first failure of a run of failures, or the first success after one). */
  since: string;
  checkedAt: string;
  /** When the part tries again; null when reachable. */
  nextRetryAt: string | null;
};

const KEY_PREFIX = 'chain_status_';
const REFRESH_REACHABLE_MS = 60_000;

const keyOf = (source: ChainStatusSource) => `${KEY_PREFIX}${source.replace(/-/g, '_')}`;

/** One per part and process: remembers what it last wrote, so that a healthy part writes once a minute at most. */
export class ChainStatusReporter {
  private last: { reachable: boolean; since: Date; writtenAt: number } | undefined;

  constructor(
    private readonly db: Executor,
    readonly source: ChainStatusSource,
  ) {}

  /** Records the failure; never throws (the database may be what failed). */
  async failed(failure: ChainFailure, nextRetryAt: Date): Promise<void> {
    const now = new Date();
    const since = this.last?.reachable === false ? this.last.since : now;
    await this.write({
      source: this.source,
      reachable: false,
      code: failure.code,
      endpoint: failure.endpoint ?? null,
      detail: failure.detail,
      since: since.toISOString(),
      checkedAt: now.toISOString(),
      nextRetryAt: nextRetryAt.toISOString(),
    });
  }

  /** Records that the chain answered: at once after a failure (or when unknown), else once a minute at most. */
  async reachable(): Promise<void> {
    const now = new Date();
    if (this.last?.reachable === true && now.getTime() - this.last.writtenAt < REFRESH_REACHABLE_MS) return;
    const since = this.last?.reachable === true ? this.last.since : now;
    await this.write({
      source: this.source,
      reachable: true,
      code: null,
      endpoint: null,
      detail: null,
      since: since.toISOString(),
      checkedAt: now.toISOString(),
      nextRetryAt: null,
    });
  }

  /** Whether this process last found the chain unreachable. */
  get failing(): boolean {
    return this.last?.reachable === false;
  }

  private async write(status: ChainStatus): Promise<void> {
    try {
      await systemState.set(this.db, keyOf(this.source), status);
      this.last = { reachable: status.reachable, since: new Date(status.since), writtenAt: Date.now() };
    } catch {
      // The status is advisory; a database that cannot take it has its own failure to report.
    }
  }
}

/** What every part last recorded, by part. */
export async function readChainStatuses(db: Executor): Promise<ChainStatus[]> {
  const rows = await systemState.listByPrefix(db, KEY_PREFIX);
  return rows.map((row) => row.stateValue).filter(isChainStatus);
}

function isChainStatus(value: unknown): value is ChainStatus {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<ChainStatus>;
  return (
    typeof v.reachable === 'boolean' &&
    typeof v.since === 'string' &&
    typeof v.checkedAt === 'string' &&
    CHAIN_STATUS_SOURCES.includes(v.source as ChainStatusSource)
  );
}

// What an operator sees of a keeper's reveal stage (GET /api/pipeline/stats): sending, waiting (fees above the
// cap, balance too low, a stuck transaction) or stalled (the chain does not answer), why, since when, and the
// keeper's balance at its last check. Kept in system_state (`reveal_status_<keeper>`) so that the stats of any
// instance show it, whichever worker process runs the reveal; written only when something in it changes. The
// pending nonce and the last transaction come from reveal_transactions/reveal_attempts when the stats are read.
import type { Executor } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import { readChainStatuses } from '../../domain/chain-status.js';
import type { RevealSnapshot } from '../../metrics/reveal-gauges.js';
import { revealKeeperActivity } from '../../repositories/pipeline-overview.repository.js';
import * as systemState from '../../repositories/system-state.repository.js';

export const REVEAL_STATES = ['idle', 'sending', 'waiting', 'stalled'] as const;
export type RevealState = (typeof REVEAL_STATES)[number];

export type RevealStatus = {
  /** Lower case, as reveal_transactions stores it. */
  keeperAddress: string;
  state: RevealState;
  /** GAS_PRICE_ABOVE_CAP, KEEPER_BALANCE_LOW, TRANSACTION_STUCK, CHAIN_UNREACHABLE ...; null when idle/sending. */
  code: string | null;
  reason: string | null;
  /** When the state (or its reason) last changed. */
  since: string;
  keeperBalanceWei: string | null;
  balanceCheckedAt: string | null;
  /** When a stalled stage tries the chain again. */
  nextRetryAt: string | null;
};

export type RevealStatusChange = Partial<Omit<RevealStatus, 'keeperAddress' | 'since'>>;

const KEY_PREFIX = 'reveal_status_';

/** One per keeper and process; the sender and the stage share it. */
export class RevealStatusStore {
  private current: RevealStatus;
  private persisted: string | undefined;
  private loaded = false;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Executor,
    keeperAddress: string,
    private readonly log: Logger,
  ) {
    this.current = {
      keeperAddress: keeperAddress.toLowerCase(),
      state: 'idle',
      code: null,
      reason: null,
      since: new Date().toISOString(),
      keeperBalanceWei: null,
      balanceCheckedAt: null,
      nextRetryAt: null,
    };
  }

  get(): RevealStatus {
    return { ...this.current };
  }

  /** Applies the change and stores the result when it differs from what is stored; in call order, never throws. */
  update(change: RevealStatusChange): Promise<void> {
    const next = { ...this.current, ...change };
    if (
      next.state !== this.current.state ||
      next.code !== this.current.code ||
      next.reason !== this.current.reason
    )
      next.since = new Date().toISOString();
    this.current = next;
    const snapshot = { ...next };
    this.writes = this.writes.then(() => this.store(snapshot));
    return this.writes;
  }

  private async store(status: RevealStatus): Promise<void> {
    try {
      if (!this.loaded) {
        // The balance seen by an earlier process stays until this one checks it.
        const stored = await systemState.get(this.db, keyOf(status.keeperAddress));
        const previous = stored?.stateValue as Partial<RevealStatus> | undefined;
        this.loaded = true;
        if (status.keeperBalanceWei === null && typeof previous?.keeperBalanceWei === 'string') {
          status.keeperBalanceWei = previous.keeperBalanceWei;
          status.balanceCheckedAt = previous.balanceCheckedAt ?? null;
          this.current.keeperBalanceWei ??= status.keeperBalanceWei;
          this.current.balanceCheckedAt ??= status.balanceCheckedAt;
        }
      }
      const text = JSON.stringify(status);
      if (text === this.persisted) return;
      await systemState.set(this.db, keyOf(status.keeperAddress), status);
      this.persisted = text;
    } catch (error) {
      // Advisory: the reveal goes on; the next change tries again.
      this.log.warn('reveal.status_not_stored', {
        detail: error instanceof Error ? error.message.split('\n')[0] : String(error),
      });
    }
  }
}

const keyOf = (keeperAddress: string) => `${KEY_PREFIX}${keeperAddress.toLowerCase()}`;

/** Every keeper's stored status with the time it was stored. */
export async function readRevealStatuses(db: Executor): Promise<(RevealStatus & { updatedAt: Date })[]> {
  const rows = await systemState.listByPrefix(db, KEY_PREFIX);
  return rows.flatMap((row) => {
    const value = row.stateValue as Partial<RevealStatus> | null;
    if (
      value === null ||
      typeof value.keeperAddress !== 'string' ||
      !REVEAL_STATES.includes(value.state as RevealState) ||
      typeof value.since !== 'string'
    )
      return [];
    return [{ ...(value as RevealStatus), updatedAt: row.updatedAt }];
  });
}

/**
 * What the reveal gauges show (src/metrics/reveal-gauges.ts): per keeper its stored state, code and balance
 * joined with its batches in flight and last transaction, and each chain part's reachability. Small reads, at
 * once (system_state rows, reveal transactions in flight, the last attempt per keeper).
 */
export async function readRevealSnapshot(db: Executor): Promise<RevealSnapshot> {
  const [stored, activity, chain] = await Promise.all([
    readRevealStatuses(db),
    revealKeeperActivity(db),
    readChainStatuses(db),
  ]);
  const addresses = new Set([...stored.map((s) => s.keeperAddress), ...activity.map((a) => a.keeperAddress)]);
  return {
    keepers: [...addresses].map((address) => {
      const status = stored.find((s) => s.keeperAddress === address);
      const seen = activity.find((a) => a.keeperAddress === address);
      return {
        state: status?.state ?? 'idle',
        code: status?.code ?? null,
        keeperBalanceWei: status?.keeperBalanceWei ?? null,
        pendingNonce: seen?.pendingNonce,
        batchesInFlight: seen?.batchesInFlight ?? 0,
        lastTransactionAt: seen?.lastTransactionAt,
      };
    }),
    chain: chain.map((c) => ({ source: c.source, reachable: c.reachable })),
  };
}

// The reveal stage's state as gauges, for alerting: how many keepers are idle, sending, waiting (fees above the
// cap, balance too low) or stalled (the chain does not answer) and why (a bounded code), the lowest keeper
// balance, the batches in flight and the lowest nonce among them, the age of the last reveal transaction, and
// whether each part that talks to the chain reaches it. What the reveal stage and the chain parts store in
// PostgreSQL (system_state, reveal_transactions), so any process's /metrics shows them: read in the background at
// most once per refresh interval like the token gauges, never per scrape. No label names a keeper (a wallet).
import { Gauge } from 'prom-client';
import { metricsRegistry } from './registry.js';

/** What the gauges show, as read from PostgreSQL (src/stages/reveal/reveal-status.ts readRevealSnapshot). */
export type RevealSnapshot = {
  keepers: readonly {
    state: string;
    code: string | null;
    keeperBalanceWei: string | null;
    pendingNonce: number | undefined;
    batchesInFlight: number;
    lastTransactionAt: Date | undefined;
  }[];
  chain: readonly { source: string; reachable: boolean }[];
};

export const REVEAL_GAUGE_STATES = ['idle', 'sending', 'waiting', 'stalled'] as const;

/** A reason code as a label: the codes are constants of the code (UPPER_SNAKE); anything else is OTHER. */
export function reasonCodeLabel(code: string | null): string {
  if (code === null) return 'none';
  return /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'OTHER';
}

const NAMES = [
  'glisk_reveal_keepers',
  'glisk_reveal_lowest_keeper_balance_wei',
  'glisk_reveal_batches_in_flight',
  'glisk_reveal_pending_nonce',
  'glisk_reveal_last_transaction_age_seconds',
  'glisk_chain_reachable',
];

/**
 * Registers the reveal gauges on the process registry (replacing earlier ones); `current` answers the cached
 * snapshot (undefined until the first read: the gauges are then left out of the scrape).
 */
export function registerRevealGauges(
  current: () => Promise<RevealSnapshot | undefined>,
  now: () => number = Date.now,
): void {
  const registry = metricsRegistry();
  for (const name of NAMES) registry.removeSingleMetric(name);
  new Gauge({
    name: 'glisk_reveal_keepers',
    help:
      'Reveal keepers by state (idle, sending, waiting: fees above REVEAL_MAX_GAS_PRICE_GWEI or balance too ' +
      'low, stalled: the chain does not answer) and reason code (none when it has none).',
    labelNames: ['state', 'code'] as const,
    registers: [registry],
    async collect() {
      const snap = await current();
      this.reset();
      if (!snap) return;
      for (const state of REVEAL_GAUGE_STATES) this.set({ state, code: 'none' }, 0);
      const counts = new Map<string, { state: string; code: string; n: number }>();
      for (const keeper of snap.keepers) {
        const state = (REVEAL_GAUGE_STATES as readonly string[]).includes(keeper.state)
          ? keeper.state
          : 'idle';
        const code = reasonCodeLabel(keeper.code);
        const key = `${state}/${code}`;
        counts.set(key, { state, code, n: (counts.get(key)?.n ?? 0) + 1 });
      }
      for (const { state, code, n } of counts.values()) this.set({ state, code }, n);
    },
  });
  new Gauge({
    name: 'glisk_reveal_lowest_keeper_balance_wei',
    help: "The lowest keeper balance at the reveal stage's last check, in wei (NaN when none was read).",
    registers: [registry],
    async collect() {
      const balances = ((await current())?.keepers ?? []).flatMap((k) =>
        k.keeperBalanceWei === null ? [] : [Number(k.keeperBalanceWei)],
      );
      this.set(balances.length === 0 ? Number.NaN : Math.min(...balances));
    },
  });
  new Gauge({
    name: 'glisk_reveal_batches_in_flight',
    help: 'Reveal transactions sent or about to be sent and not mined yet, all keepers.',
    registers: [registry],
    async collect() {
      const keepers = (await current())?.keepers ?? [];
      this.set(keepers.reduce((sum, k) => sum + k.batchesInFlight, 0));
    },
  });
  new Gauge({
    name: 'glisk_reveal_pending_nonce',
    help: 'The lowest nonce of a reveal batch in flight (NaN when none is).',
    registers: [registry],
    async collect() {
      const nonces = ((await current())?.keepers ?? []).flatMap((k) =>
        k.pendingNonce === undefined ? [] : [k.pendingNonce],
      );
      this.set(nonces.length === 0 ? Number.NaN : Math.min(...nonces));
    },
  });
  new Gauge({
    name: 'glisk_reveal_last_transaction_age_seconds',
    help: 'Seconds since the last reveal transaction was broadcast, any keeper (NaN when there was none).',
    registers: [registry],
    async collect() {
      const times = ((await current())?.keepers ?? []).flatMap((k) =>
        k.lastTransactionAt === undefined ? [] : [k.lastTransactionAt.getTime()],
      );
      this.set(times.length === 0 ? Number.NaN : Math.max(0, (now() - Math.max(...times)) / 1000));
    },
  });
  new Gauge({
    name: 'glisk_chain_reachable',
    help: 'Whether a part that talks to the chain (log-follower, gap-scan, reveal) reached it at its last try (1) or not (0).',
    labelNames: ['part'] as const,
    registers: [registry],
    async collect() {
      const snap = await current();
      this.reset();
      for (const part of snap?.chain ?? []) this.set({ part: part.source }, part.reachable ? 1 : 0);
    },
  });
}

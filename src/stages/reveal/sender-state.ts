// The reveal sender's state: its dependencies, the keeper, and what an operator sees of it (status(): sending,
// waiting and why, keeper balance), stored for every instance's stats through a RevealStatusStore. The sending
// logic extends it.
import type { RevealSenderDeps } from './reveal-types.js';
import { RevealStatusStore, type RevealStatus } from './reveal-status.js';
import type { Executor } from '../../db/client.js';
import type { Logger } from '../../logger.js';

/** A keeper balance read again within this time and unchanged is not stored again. */
const BALANCE_REFRESH_MS = 30_000;

export abstract class SenderState {
  protected readonly db: Executor;
  protected readonly keeper: string;
  protected readonly log: Logger;
  /** Shared with the stage (which records a chain that does not answer). */
  readonly statusStore: RevealStatusStore;

  constructor(protected readonly deps: RevealSenderDeps) {
    this.db = deps.database.db;
    // Stored lower-case (reveal_transactions_keeper_address_format).
    this.keeper = deps.chain.keeperAddress.toLowerCase();
    this.log = deps.logger.child({ stage: 'reveal' });
    this.statusStore = deps.status ?? new RevealStatusStore(this.db, this.keeper, this.log);
  }

  /** The keeper's address, checksummed. */
  get keeperAddress(): string {
    return this.deps.chain.keeperAddress;
  }

  status(): RevealStatus {
    return this.statusStore.get();
  }

  protected async waitFor(code: string, reason: string): Promise<void> {
    const now = this.statusStore.get();
    const changed = now.state !== 'waiting' || now.code !== code || now.reason !== reason;
    await this.statusStore.update({ state: 'waiting', code, reason, nextRetryAt: null });
    if (changed) this.log.warn('reveal.waiting', { code, reason });
  }

  protected async setStatus(state: 'idle' | 'sending'): Promise<void> {
    await this.statusStore.update({ state, code: null, reason: null, nextRetryAt: null });
  }

  protected async noteBalance(balance: bigint): Promise<void> {
    const now = this.statusStore.get();
    const checkedAt = now.balanceCheckedAt === null ? 0 : Date.parse(now.balanceCheckedAt);
    if (now.keeperBalanceWei === balance.toString() && Date.now() - checkedAt < BALANCE_REFRESH_MS) return;
    await this.statusStore.update({
      keeperBalanceWei: balance.toString(),
      balanceCheckedAt: new Date().toISOString(),
    });
  }
}

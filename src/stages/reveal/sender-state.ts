// The reveal sender's state: its dependencies, the keeper, and what an operator sees of it (status(): waiting
// and why, keeper balance, nonce in flight, last transaction). The sending logic extends it.
import type { RevealSenderDeps, RevealStatus } from './reveal-types.js';
import type { Executor } from '../../db/client.js';
import type { Logger } from '../../logger.js';

export abstract class SenderState {
  protected readonly db: Executor;
  protected readonly keeper: string;
  protected readonly log: Logger;
  protected readonly currentStatus: RevealStatus;

  constructor(protected readonly deps: RevealSenderDeps) {
    this.db = deps.database.db;
    // Stored lower-case (reveal_transactions_keeper_address_format).
    this.keeper = deps.chain.keeperAddress.toLowerCase();
    this.log = deps.logger.child({ stage: 'reveal' });
    this.currentStatus = {
      state: 'idle',
      reason: undefined,
      since: new Date(),
      keeperAddress: deps.chain.keeperAddress,
      keeperBalanceWei: undefined,
      pendingNonce: undefined,
      lastTransactionHash: undefined,
      lastTransactionAt: undefined,
    };
  }

  /** The keeper's address, checksummed. */
  get keeperAddress(): string {
    return this.deps.chain.keeperAddress;
  }

  status(): RevealStatus {
    return { ...this.currentStatus };
  }

  protected waitFor(code: string, reason: string): void {
    const changed = this.currentStatus.state !== 'waiting' || this.currentStatus.reason !== reason;
    this.setStatus('waiting', `${code}: ${reason}`);
    if (changed) this.log.warn('reveal.waiting', { code, reason });
  }

  protected setStatus(state: RevealStatus['state'], reason: string | undefined): void {
    if (this.currentStatus.state !== state || this.currentStatus.reason !== reason) {
      this.currentStatus.state = state;
      this.currentStatus.reason = reason;
      this.currentStatus.since = new Date();
    }
  }
}

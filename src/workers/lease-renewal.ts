// The stage runtime's lease renewal: every leaseSeconds/3, ONE statement renews the lease of every token the
// runner holds. A token missing from the answer has another owner now (its lease expired and was taken over, or
// an operator moved it): its unit's work is aborted and its result will be discarded by the compare-and-set
// finish.
import type { Database } from '../db/client.js';
import type { Token } from '../db/schema.js';
import type { StageDefinition } from '../domain/stages.js';
import type { Logger } from '../logger.js';
import * as tokenQueue from '../repositories/token-queue.repository.js';

/** What renewal needs of a unit in flight: its tokens, and how to abort its work. */
export type LeasedUnit = { tokens: readonly Token[]; controller: AbortController };

export type LeaseRenewalOptions = {
  database: Pick<Database, 'db'>;
  stage: Pick<StageDefinition, 'working'>;
  owner: string;
  leaseSeconds: number;
  log: Logger;
  /** The units in flight now (renewal skips a unit that has left it by the time the answer comes). */
  units: ReadonlySet<LeasedUnit>;
};

/** Starts renewing; returns the function that stops it. */
export function startLeaseRenewal(options: LeaseRenewalOptions): () => void {
  const { units, owner, log } = options;
  const renewEveryMs = Math.max(50, Math.floor((options.leaseSeconds * 1000) / 3));
  let renewing = false;

  const renew = () => {
    if (renewing) return;
    const held = new Map<string, LeasedUnit>();
    for (const unit of units) for (const token of unit.tokens) held.set(token.id, unit);
    if (held.size === 0) return;
    renewing = true;
    tokenQueue
      .extendLeases(options.database.db, {
        ids: [...held.keys()],
        owner,
        status: options.stage.working,
        leaseSeconds: options.leaseSeconds,
      })
      .then((renewed) => {
        const kept = new Set(renewed);
        for (const [id, unit] of held) {
          if (kept.has(id) || !units.has(unit)) continue;
          const token = unit.tokens.find((t) => t.id === id);
          log.warn('lease.lost', {
            tokenId: token?.tokenId,
            owner,
            detail: 'work aborted, result discarded',
          });
          unit.controller.abort(new Error('lease lost'));
        }
      })
      .catch((error: unknown) => log.warn('lease.renew_failed', { owner, error }))
      .finally(() => (renewing = false));
  };

  const timer = setInterval(renew, renewEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}

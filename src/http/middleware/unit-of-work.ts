// The request-scoped unit of work: one transaction per request, opened the first time the handler asks for it
// (routes that never do hold no connection), committed or rolled back by the route wrapper before it answers.
// Built on the data layer's db.transaction + bindRepositories; the transaction callback is held open until the
// wrapper says how it ends.
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { DatabaseAvailability, Schema } from '../../db/client.js';
import { connectionFailureCode } from '../../db/connection-errors.js';
import { bindRepositories, type UnitOfWork } from '../../repositories/unit-of-work.js';
import { DatabaseUnavailableError, ServiceUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';

type Outcome = 'commit' | 'rollback';

// Thrown inside the transaction callback to make drizzle roll back; never escapes this module.
class EndTransaction extends Error {
  constructor(readonly reason: 'rollback' | 'abandoned') {
    super(`transaction ${reason}`);
  }
}

export type RequestUnitOfWorkOptions = {
  /** Longest wait for a pool connection (and BEGIN) before answering 503. */
  poolTimeoutMs: number;
  /** The request's logger, built on first use. */
  log: () => Logger;
  /** Whether debug lines (commit/rollback) are logged at all. */
  debugEnabled: boolean;
  /** Shared by the requests of one pool: told how each BEGIN went, it shortens the wait during an outage. */
  availability?: DatabaseAvailability;
};

/** While the database is known to be unreachable, a request waits at most this long for a connection. */
export const OUTAGE_WAIT_MS = 800;

export class RequestUnitOfWork {
  private opened: Promise<UnitOfWork> | undefined;
  private transaction: Promise<void> | undefined;
  private finish: ((outcome: Outcome) => void) | undefined;
  private ended = false;
  private openedAt = 0;

  constructor(
    private readonly db: PostgresJsDatabase<Schema>,
    private readonly options: RequestUnitOfWorkOptions,
  ) {}

  /** The transaction's repositories; the first call takes a connection and sends BEGIN. */
  open(): Promise<UnitOfWork> {
    if (this.ended) return Promise.reject(new Error('the unit of work of this request has already ended'));
    this.opened ??= this.begin();
    return this.opened;
  }

  private begin(): Promise<UnitOfWork> {
    return new Promise<UnitOfWork>((resolveOpen, rejectOpen) => {
      let abandoned = false;
      const { poolTimeoutMs, availability } = this.options;
      // During an outage the wait is short and its end says so: DB_POOL_EXHAUSTED means a busy pool only.
      const down = availability?.unavailableBecause();
      const waitMs = down === undefined ? poolTimeoutMs : Math.min(poolTimeoutMs, OUTAGE_WAIT_MS);
      const timer = setTimeout(() => {
        abandoned = true;
        const cause = availability?.unavailableBecause();
        rejectOpen(
          cause !== undefined
            ? new DatabaseUnavailableError(cause)
            : new ServiceUnavailableError(
                'DB_POOL_EXHAUSTED',
                `No database connection became free within ${poolTimeoutMs} ms; the service is overloaded, retry later`,
                { waitedMs: poolTimeoutMs },
                1,
              ),
        );
      }, waitMs);
      const started = performance.now();
      this.transaction = this.db.transaction(async (tx) => {
        // The connection came after the request gave up waiting: hand it straight back.
        if (abandoned) throw new EndTransaction('abandoned');
        clearTimeout(timer);
        availability?.reportSuccess();
        this.openedAt = performance.now();
        const outcome = await new Promise<Outcome>((resolveOutcome) => {
          this.finish = resolveOutcome;
          resolveOpen(bindRepositories(tx));
        });
        if (outcome === 'rollback') throw new EndTransaction('rollback');
      });
      this.transaction.catch((error: unknown) => {
        clearTimeout(timer);
        if (error instanceof EndTransaction) {
          if (error.reason === 'abandoned') {
            this.debug('uow.abandoned', { waitedMs: Math.round(performance.now() - started) });
          }
          return;
        }
        const code = connectionFailureCode(error);
        if (code !== undefined) availability?.reportFailure(code);
        // Failing before the callback ran means no connection or no BEGIN: the database is not there.
        if (this.finish === undefined && !abandoned) {
          const cause = code ?? (error as { code?: unknown } | null)?.code;
          rejectOpen(new DatabaseUnavailableError(typeof cause === 'string' ? cause : undefined));
        }
      });
    });
  }

  /** Commits if a transaction was opened; throws what COMMIT threw (deferred constraints fail only here). */
  async commit(): Promise<void> {
    if (this.ended || !this.opened) {
      this.ended = true;
      return;
    }
    this.ended = true;
    await this.opened;
    this.settle('commit');
    try {
      await this.transaction;
      this.debug('uow.committed', { durationMs: this.elapsedMs() });
    } catch (error) {
      this.debug('uow.commit_failed', { durationMs: this.elapsedMs() });
      throw error;
    }
  }

  /**
   * Commits the work so far and lets the next open() begin a new transaction (with the same connection wait and
   * outage handling): a request that writes a large input in bounded chunks keeps each chunk's locks and memory
   * small, and what it committed survives a crash before the next chunk (the writes must be idempotent).
   */
  async checkpoint(): Promise<void> {
    if (this.ended) throw new Error('the unit of work of this request has already ended');
    if (!this.opened) return;
    await this.commit();
    this.ended = false;
    this.opened = undefined;
    this.transaction = undefined;
    this.finish = undefined;
  }

  /** Rolls back if a transaction is open; never throws (the request already failed for a reason). */
  async rollback(): Promise<void> {
    const opened = this.opened;
    const wasEnded = this.ended;
    this.ended = true;
    if (!opened || wasEnded) return;
    try {
      await opened;
    } catch {
      return; // never opened: nothing to roll back
    }
    this.settle('rollback');
    try {
      await this.transaction;
    } catch (error) {
      if (!(error instanceof EndTransaction)) {
        this.options.log().warn('uow.rollback_failed', { error });
        return;
      }
    }
    this.debug('uow.rolled_back', { durationMs: this.elapsedMs() });
  }

  // Lines at debug are usually filtered out: skip building the request logger and the line for them.
  private debug(event: string, fields: Record<string, unknown>): void {
    if (this.options.debugEnabled) this.options.log().debug(event, fields);
  }

  private settle(outcome: Outcome): void {
    const finish = this.finish;
    if (finish === undefined) throw new Error('the transaction callback has not started');
    finish(outcome);
  }

  private elapsedMs(): number {
    return Math.round((performance.now() - this.openedAt) * 100) / 100;
  }
}

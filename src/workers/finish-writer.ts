// The stage runtime's finishing writes, grouped: the writes that come in while earlier groups commit form the
// next group. The successful finishes of a group go as ONE statement on their own (completeMany: each row its own
// compare-and-set, a lost lease touches nothing and only that row says so; the attempts rows closed and the
// NOTIFY sent in the same statement, so one round trip and no BEGIN/COMMIT); the other writes of the group (the
// failures: a retry or a move to failed, with their attempts rows) go as one transaction, their statements
// pipelined on its connection, at the same time. A group part that fails as a whole (the database refused one
// statement) is retried write by write, so one bad write never takes the others down. Up to PARALLEL_GROUPS
// groups are written at once.
import type { Database, Executor } from '../db/client.js';

/** A successful finish (`C`: what completeMany needs of it), or any other write as a function of the transaction. */
export type FinishWrite<C> = { complete: C } | { apply: (tx: Executor) => Promise<boolean> };

export type FinishWriterOptions<C> = {
  database: Pick<Database, 'db'>;
  /**
   * Writes the successful finishes of one group in ONE statement given the database (its own transaction), the
   * NOTIFY of the status they move into included; true for each that applied, in order.
   */
  completeMany: (db: Executor, completes: readonly C[]) => Promise<readonly boolean[]>;
  /** A group was written (or refused) with `size` writes: the runner counts groups and their sizes. */
  onGroup?: (size: number) => void;
  /**
   * Gathering: while `more()` says other finishes are near (the runner: some of its units are still working), a
   * write waits up to `holdMs` for `size` writes to share its group, so that a stage whose units end one by one
   * still writes its finishes (and wakes the next stage, which then claims them) in groups rather than one
   * statement per token. As soon as `size` writes wait, or `more()` turns false (nothing else is coming), the
   * group goes at once. Omitted: every group goes on the next turn of the event loop.
   */
  gather?: { size: number; holdMs: number; more: () => boolean };
};

/** Queues a write; resolves true once committed and applied, false when its compare-and-set matched nothing. */
export type FinishWriter<C> = (write: FinishWrite<C>) => Promise<boolean>;

type Pending<C> = {
  write: FinishWrite<C>;
  /** When it was queued (performance.now()). */
  at: number;
  resolve: (applied: boolean) => void;
  reject: (error: unknown) => void;
};

/** Most writes in one group. */
const MAX_GROUP = 100;
/** Groups being written at once. */
const PARALLEL_GROUPS = 4;

export function createFinishWriter<C>(options: FinishWriterOptions<C>): FinishWriter<C> {
  const db = options.database.db;
  const queue: Pending<C>[] = [];
  let inFlight = 0;
  let scheduled = false;
  let holding: NodeJS.Timeout | undefined;
  const gather = options.gather;

  const completeAll = (writes: readonly FinishWrite<C>[]) =>
    options.completeMany(
      db,
      writes.flatMap((w) => ('complete' in w ? [w.complete] : [])),
    );
  const applyAll = (writes: readonly FinishWrite<C>[]) =>
    db.transaction((tx) => Promise.all(writes.flatMap((w) => ('apply' in w ? [w.apply(tx)] : []))));

  /** Writes a group part; if it fails as a whole, each of its writes alone. */
  async function write(
    part: readonly Pending<C>[],
    writeAll: (writes: readonly FinishWrite<C>[]) => Promise<readonly boolean[]>,
  ): Promise<void> {
    if (part.length === 0) return;
    try {
      const applied = await writeAll(part.map((p) => p.write));
      for (const [index, pending] of part.entries()) pending.resolve(applied[index] === true);
    } catch (error) {
      if (part.length === 1) {
        part[0]?.reject(error);
        return;
      }
      for (const pending of part) {
        await writeAll([pending.write]).then(
          ([applied]) => pending.resolve(applied === true),
          (alone: unknown) => pending.reject(alone),
        );
      }
    }
  }

  async function run(group: Pending<C>[]): Promise<void> {
    options.onGroup?.(group.length);
    await Promise.all([
      write(
        group.filter((p) => 'complete' in p.write),
        completeAll,
      ),
      write(
        group.filter((p) => 'apply' in p.write),
        applyAll,
      ),
    ]);
  }

  /** Milliseconds the queued writes may still wait for more to join their group; 0: write them now. */
  function holdLeft(): number {
    const oldest = queue[0];
    if (gather === undefined || oldest === undefined) return 0;
    if (queue.length >= gather.size || !gather.more()) return 0;
    return Math.max(0, oldest.at + gather.holdMs - performance.now());
  }

  /** Starts the groups that are ready, up to PARALLEL_GROUPS in flight; a held group is looked at again later. */
  function startGroups(): void {
    clearTimeout(holding);
    holding = undefined;
    while (queue.length > 0 && inFlight < PARALLEL_GROUPS) {
      const wait = holdLeft();
      if (wait > 0) {
        holding = setTimeout(startGroups, wait);
        return;
      }
      inFlight += 1;
      void run(queue.splice(0, MAX_GROUP)).finally(() => {
        inFlight -= 1;
        startGroups();
      });
    }
  }

  return (write) =>
    new Promise<boolean>((resolve, reject) => {
      queue.push({ write, at: performance.now(), resolve, reject });
      // On the next turn of the event loop, so the writes of units that end together share a group; a group in
      // flight also looks again when it ends.
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        startGroups();
      });
    });
}

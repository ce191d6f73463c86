// The stage runtime's finishing writes, grouped: the writes that come in while earlier groups commit form the
// next group, ONE transaction with its statements pipelined on its connection: the successful finishes of the
// group in one statement (each row its own compare-and-set: a lost lease touches nothing and only that row says
// so), the other writes each as given, and the NOTIFY of the status the finishes move into (delivered at commit;
// one whose rows all lost their lease only wakes a worker that finds nothing). A group that fails as a whole
// (the database refused one statement) is retried write by write, so one bad write never takes the others
// down. Up to PARALLEL_GROUPS groups commit at once.
import type { Database, Executor } from '../db/client.js';
import type { TokenStatus } from '../db/schema.js';
import * as tokenQueue from '../repositories/token-queue.repository.js';

/** A successful finish (`C`: what completeMany needs of it), or any other write as a function of the transaction. */
export type FinishWrite<C> = { complete: C } | { apply: (tx: Executor) => Promise<boolean> };

export type FinishWriterOptions<C> = {
  database: Pick<Database, 'db'>;
  /** Writes the successful finishes of one group; true for each that applied, in order. */
  completeMany: (tx: Executor, completes: readonly C[]) => Promise<readonly boolean[]>;
  /** The status successful finishes move into, NOTIFYed with them. */
  notify: TokenStatus;
};

/** Queues a write; resolves true once committed and applied, false when its compare-and-set matched nothing. */
export type FinishWriter<C> = (write: FinishWrite<C>) => Promise<boolean>;

type Pending<C> = {
  write: FinishWrite<C>;
  resolve: (applied: boolean) => void;
  reject: (error: unknown) => void;
};

/** Most writes in one transaction. */
const MAX_GROUP = 100;
/** Group transactions in flight at once. */
const PARALLEL_GROUPS = 4;

export function createFinishWriter<C>(options: FinishWriterOptions<C>): FinishWriter<C> {
  const queue: Pending<C>[] = [];
  let inFlight = 0;
  let scheduled = false;

  function commit(group: readonly Pending<C>[]): Promise<boolean[]> {
    return options.database.db.transaction(async (tx) => {
      const completes: C[] = [];
      const applies: Promise<boolean>[] = [];
      for (const { write } of group) {
        if ('complete' in write) completes.push(write.complete);
        else applies.push(write.apply(tx));
      }
      const [completed, applied] = await Promise.all([
        completes.length === 0 ? [] : options.completeMany(tx, completes),
        Promise.all(applies),
        completes.length === 0 ? undefined : tokenQueue.notifyStatus(tx, options.notify),
      ]);
      let c = 0;
      let a = 0;
      return group.map(({ write }) => ('complete' in write ? completed[c++] : applied[a++]) === true);
    });
  }

  async function run(group: Pending<C>[]): Promise<void> {
    try {
      const applied = await commit(group);
      for (const [index, pending] of group.entries()) pending.resolve(applied[index] === true);
    } catch (error) {
      if (group.length === 1) {
        group[0]?.reject(error);
        return;
      }
      for (const pending of group) {
        await commit([pending]).then(
          ([applied]) => pending.resolve(applied === true),
          (alone: unknown) => pending.reject(alone),
        );
      }
    }
  }

  function startGroups(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < PARALLEL_GROUPS) {
      inFlight += 1;
      void run(queue.splice(0, MAX_GROUP)).finally(() => {
        inFlight -= 1;
        startGroups();
      });
    }
  }

  return (write) =>
    new Promise<boolean>((resolve, reject) => {
      queue.push({ write, resolve, reject });
      // On the next turn of the event loop, so the writes of units that end together share a group.
      if (!scheduled && inFlight < PARALLEL_GROUPS) {
        scheduled = true;
        setImmediate(startGroups);
      }
    });
}

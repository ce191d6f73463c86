// One reveal sender per keeper wallet at a time, across processes and machines: a session-level PostgreSQL
// advisory lock held on a reserved connection for as long as the sender signs, sends and settles. A sender whose
// connection dies loses the lock with it, so a crashed process never blocks the keeper.
import type { Address } from 'viem';
import type { Database } from '../../db/client.js';
import { revealKeeperLockKey } from '../../db/lock-keys.js';

export type KeeperLock = {
  /** Throws when the session that holds the lock is gone (then another sender may hold it now). */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
};

/** The lock of `keeper`, or undefined at once when another sender holds it. */
export async function tryKeeperLock(database: Database, keeper: Address): Promise<KeeperLock | undefined> {
  const key = revealKeeperLockKey(keeper).toString();
  const session = await database.sql.reserve();
  let locked = false;
  try {
    const [row] = await session<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}::bigint) as locked`;
    locked = row?.locked === true;
  } finally {
    if (!locked) session.release();
  }
  if (!locked) return undefined;
  let released = false;
  return {
    async assertHeld() {
      if (released) throw new Error('the keeper lock was released');
      const [row] = await session<{ held: boolean }[]>`
        select exists (
          select 1 from pg_locks
          where locktype = 'advisory' and pid = pg_backend_pid() and granted
            and ((classid::bigint << 32) | objid::bigint) = ${key}::bigint
        ) as held`;
      if (row?.held !== true) throw new Error('the keeper lock is no longer held');
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await session`select pg_advisory_unlock(${key}::bigint)`;
      } finally {
        session.release();
      }
    },
  };
}

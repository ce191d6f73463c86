// The one registry of PostgreSQL advisory lock keys of this project. Advisory locks share one key space per
// database, so a key picked elsewhere could silently serialise (or never exclude) two unrelated jobs: add new
// keys here, where tests/db/lock-keys.test.ts checks that they are distinct and fit PostgreSQL's bigint.
// Channels of NOTIFY have their own registry: channels.ts.

export const LOCK_KEYS = {
  /**
   * Session-level lock held while migrating (src/db/migrate.ts): the ASCII bytes of "gliskmig" as a bigint.
   * Several processes starting together apply each migration once.
   */
  migration: 0x676c69736b6d6967n,
  /**
   * Transaction-level lock of the log follower (src/stages/detection/log-follower.ts): "GLSKFOLW" in ASCII.
   * A follower that dies mid-chunk loses the lock with its connection, and the chunk rolls back with it.
   */
  logFollower: 0x474c534b464f4c57n,
  /**
   * Session-level lock of a reveal sender (src/stages/reveal/keeper-lock.ts), one per keeper wallet: "GLRV" in
   * the high 32 bits, the first 4 bytes of the keeper address in the low 32 (see revealKeeperLockKey). This
   * entry is the keeper-less base; no other key may start with "GLRV".
   */
  revealKeeper: 0x474c525600000000n,
  /**
   * Transaction-level lock of the fold of token_status_counts (src/repositories/token-status-counts.repository.ts):
   * "GLSKCNTS" in ASCII. Taken with pg_try_advisory_xact_lock: a refresh that finds another folding skips it.
   */
  statusCountsFold: 0x474c534b434e5453n,
} as const satisfies Record<string, bigint>;

export type LockName = keyof typeof LOCK_KEYS;

/**
 * The lock a reveal sender holds for as long as it signs, sends and settles a batch of `keeper`, so that two
 * senders (two workers, two machines) never pick nonces for the same wallet at once. Two keepers sharing their
 * first 4 bytes merely take turns.
 */
export function revealKeeperLockKey(keeper: string): bigint {
  return LOCK_KEYS.revealKeeper | BigInt(`0x${keeper.slice(2, 10)}`);
}

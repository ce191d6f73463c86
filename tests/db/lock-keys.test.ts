import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCK_KEYS } from '../../src/db/lock-keys.js';

describe('advisory lock keys', () => {
  it('are distinct: two jobs sharing a key would exclude each other, or one would not be excluded at all', () => {
    const seen = new Map<bigint, string>();
    for (const [name, key] of Object.entries(LOCK_KEYS)) {
      assert.equal(seen.get(key), undefined, `${name} reuses the key of ${seen.get(key)}`);
      seen.set(key, name);
    }
  });

  it('fit a PostgreSQL bigint (pg_advisory_lock(bigint) rejects anything wider)', () => {
    for (const [name, key] of Object.entries(LOCK_KEYS)) {
      assert.ok(key >= -(2n ** 63n) && key < 2n ** 63n, `${name} = ${key} is outside int8`);
    }
  });
});

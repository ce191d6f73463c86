// Retry delays: grow with the attempts, never pass the cap, jitter within bounds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs } from '../../src/lib/backoff.js';

describe('backoffDelayMs', () => {
  const options = { baseMs: 1_000, maxMs: 30_000 };

  it('grows with the attempts: the smallest delay of attempt n+1 is at least the largest of n/1 until the cap', () => {
    for (let attempt = 1; attempt < 5; attempt += 1) {
      const low = backoffDelayMs(attempt + 1, { ...options, random: () => 0 });
      const high = backoffDelayMs(attempt, { ...options, random: () => 0.999_999 });
      assert.ok(low >= high, `attempt ${attempt + 1} min ${low} < attempt ${attempt} max ${high}`);
    }
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffDelayMs(n, { ...options, random: () => 0 })),
      [500, 1_000, 2_000, 4_000],
    );
  });

  it('never exceeds the cap, even for huge attempt numbers', () => {
    for (const attempt of [6, 7, 10, 50, 1_000, Number.MAX_SAFE_INTEGER]) {
      for (const r of [0, 0.5, 0.999_999]) {
        const delay = backoffDelayMs(attempt, { ...options, random: () => r });
        assert.ok(delay <= options.maxMs && delay >= options.maxMs / 2, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it('spreads delays of one attempt over [ceiling/2, ceiling] with the jitter', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(3, options)));
    assert.ok(delays.size > 10, 'jittered');
    for (const delay of delays) assert.ok(delay >= 2_000 && delay <= 4_000);
  });
});

// The stage runtime writes the glisk_stage_* metrics for every stage it runs: claimed, completed, failed by error
// class and outcome, in flight, and work duration. The runners here use the process's real Prometheus metrics
// (no hook passed), so each assertion fails when the runtime's call is removed. The registry is the process's,
// so every assertion is a difference between two reads.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Author } from '../../src/db/schema.js';
import { STAGES } from '../../src/domain/stages.js';
import { PermanentStageError, TransientStageError } from '../../src/errors.js';
import type { BatchStage, Stage, StageSettings } from '../../src/stages/stage.js';
import { startStageRunner, type StageRunner } from '../../src/workers/stage-runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { captureLogs } from '../helpers/logs.js';
import { readMetric as read, metricDeltas as snapshot } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

let t: TestDatabase;
let author: Author;
const running: StageRunner[] = [];

before(async () => {
  t = await createTestDatabase();
});
after(() => t.drop());
beforeEach(async () => {
  await t.sql`truncate tokens_s0, authors, mint_events cascade`;
  author = await insertAuthor(t.db, 1);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((runner) => runner.stop(2_000)));
});

const SETTINGS: StageSettings = {
  batchSize: 10,
  concurrency: 4,
  maxAttempts: 3,
  leaseSeconds: 30,
  pollIntervalMs: 60_000,
  retryBaseMs: 20,
  retryMaxMs: 50,
};

function start(stage: Stage): StageRunner {
  const runner = startStageRunner(stage, {
    database: t.database,
    logger: captureLogs().logger,
    random: () => 0.5,
  });
  running.push(runner);
  return runner;
}

describe('stage metrics written by the runtime', { timeout: 60_000 }, () => {
  it('a per-token stage: claimed, completed, failed by class and outcome, in flight, duration', async () => {
    await insertTokens(t.db, author, [1, 2, 3, 4, 5]);
    const delta = await snapshot({
      claimed: ['glisk_stage_claimed_total', { stage: 'image' }],
      completed: ['glisk_stage_completed_total', { stage: 'image' }],
      retry: ['glisk_stage_failed_total', { stage: 'image', error_class: 'transient', outcome: 'retry' }],
      failed: ['glisk_stage_failed_total', { stage: 'image', error_class: 'permanent', outcome: 'failed' }],
      durationOk: ['glisk_stage_duration_seconds', { stage: 'image', outcome: 'ok' }],
      durationError: ['glisk_stage_duration_seconds', { stage: 'image', outcome: 'error' }],
    });
    const inFlightBefore = await read('glisk_stage_in_flight', { stage: 'image' });
    const inFlightSeen: number[] = [];
    let failedOnce = false;
    const runner = start({
      mode: 'token',
      definition: STAGES.image,
      settings: SETTINGS,
      work: async (token) => {
        inFlightSeen.push(await read('glisk_stage_in_flight', { stage: 'image' }));
        if (token.tokenId === 4) throw new PermanentStageError('REFUSED', 'test: refused for good');
        if (token.tokenId === 5 && !failedOnce) {
          failedOnce = true;
          throw new TransientStageError('BUSY', 'test: try again');
        }
        return { changes: { imageCid: cidOf(token.tokenId) } };
      },
    });
    await waitUntil(() => runner.stats().completed === 4 && runner.stats().inFlight === 0, {
      what: 'four tokens completed, nothing in flight',
    });

    assert.deepEqual(await delta(), {
      claimed: 6, // five, and token 5 again after its retry
      completed: 4,
      retry: 1,
      failed: 1,
      durationOk: 4,
      durationError: 2,
    });
    assert.ok(
      inFlightSeen.every((n) => n >= inFlightBefore + 1),
      `in flight while working: ${inFlightSeen.join(',')}`,
    );
    assert.equal(await read('glisk_stage_in_flight', { stage: 'image' }), inFlightBefore, 'back down after');
  });

  it('a token whose attempts were used up by dead workers counts as failed', async () => {
    await insertTokens(t.db, author, [1], { generationAttempts: SETTINGS.maxAttempts });
    const delta = await snapshot({
      failed: ['glisk_stage_failed_total', { stage: 'image', error_class: 'transient', outcome: 'failed' }],
    });
    const runner = start({
      mode: 'token',
      definition: STAGES.image,
      settings: SETTINGS,
      work: () => Promise.reject(new Error('never called')),
    });
    await waitUntil(() => runner.stats().failed === 1, { what: 'the exhausted token failed' });
    assert.deepEqual(await delta(), { failed: 1 });
  });

  it('a batch stage: one unit of several tokens in flight and timed once, settled results counted', async () => {
    const ready = { status: 'ready' as const, imageCid: cidOf(1), metadataCid: cidOf(2) };
    await insertTokens(t.db, author, [1, 2, 3], ready);
    const delta = await snapshot({
      claimed: ['glisk_stage_claimed_total', { stage: 'reveal' }],
      completed: ['glisk_stage_completed_total', { stage: 'reveal' }],
      settledRetry: [
        'glisk_stage_failed_total',
        { stage: 'reveal', error_class: 'settled', outcome: 'retry' },
      ],
      settledFailed: [
        'glisk_stage_failed_total',
        { stage: 'reveal', error_class: 'settled', outcome: 'failed' },
      ],
      duration: ['glisk_stage_duration_seconds', { stage: 'reveal', outcome: 'ok' }],
    });
    const inFlightBefore = await read('glisk_stage_in_flight', { stage: 'reveal' });
    let inFlightWhileWorking = 0;
    const stage: BatchStage = {
      mode: 'batch',
      definition: STAGES.reveal,
      settings: { ...SETTINGS, concurrency: 1 },
      work: async (tokens) => {
        inFlightWhileWorking = await read('glisk_stage_in_flight', { stage: 'reveal' });
        // The stage writes its tokens itself (as the reveal does), then reports each outcome.
        await t.sql`update tokens_s0 set status = 'revealed', lease_owner = null, lease_expires_at = null
                    where token_id = 1`;
        await t.sql`update tokens_s0 set lease_owner = null, lease_expires_at = null,
                    next_attempt_at = now() + interval '1 hour' where token_id = 2`;
        await t.sql`update tokens_s0 set status = 'failed', lease_owner = null, lease_expires_at = null
                    where token_id = 3`;
        const outcomes = { 1: 'completed', 2: 'retried', 3: 'failed' } as const;
        return tokens.map((token) => ({
          ok: 'settled' as const,
          outcome: outcomes[token.tokenId as 1 | 2 | 3],
        }));
      },
    };
    const runner = start(stage);
    await waitUntil(() => runner.stats().failed === 1 && runner.stats().inFlight === 0, {
      what: 'the batch settled',
    });
    assert.deepEqual(await delta(), {
      claimed: 3,
      completed: 1,
      settledRetry: 1,
      settledFailed: 1,
      duration: 1,
    });
    assert.equal(inFlightWhileWorking, inFlightBefore + 3, 'the batch counts its three tokens');
    assert.equal(await read('glisk_stage_in_flight', { stage: 'reveal' }), inFlightBefore);
  });
});

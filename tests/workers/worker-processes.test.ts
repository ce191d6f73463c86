// The process boundary: `npm run worker` processes sharing one database. 4 processes over 500 tokens work each
// token exactly once; a process SIGKILLed mid-generation leaves its tokens to be finished after the lease expires.
// Provider calls are counted at the fake Replicate (one prompt per token), not trusted from the workers.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createReplicateImageProvider } from '../../src/providers/image/replicate.js';
import { createImageStage } from '../../src/stages/image/image.stage.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startFakeReplicate, type Behaviour, type FakeReplicate } from '../helpers/fake-replicate.js';
import { waitUntil } from '../helpers/wait.js';
import {
  assertStopsCleanly,
  exited,
  startSurvivor,
  survivorSettings,
  workerProcesses,
} from '../helpers/worker-processes.js';

let t: TestDatabase;
let fake: FakeReplicate;
let behaviour: Behaviour = 'succeed';
const workers = workerProcesses();

before(async () => {
  t = await createTestDatabase({ max: 4 });
  fake = await startFakeReplicate(() => behaviour);
});
afterEach(() => workers.killAll());
after(async () => {
  await fake.close();
  await t.drop();
});

const spawnWorker = (env: Record<string, string> = {}) =>
  workers.spawn({
    stages: 'image',
    databaseUrl: t.url,
    env: {
      IMAGE_PROVIDER: 'replicate',
      REPLICATE_API_URL: fake.url,
      REPLICATE_API_TOKEN: fake.token,
      IMAGE_CONCURRENCY: '8',
      ...env,
    },
  });

/** One author (with its own prompt) per token, so that the fake can count calls per token. */
async function insertTokensWithOwnPrompts(count: number): Promise<void> {
  await t.sql`
    with a as (
      insert into authors (wallet_address, prompt_text)
      select '0x' || lpad(to_hex(n), 40, '0'), 'prompt of token ' || n from generate_series(1, ${count}) n
      returning id, wallet_address, prompt_text)
    insert into tokens_s0 (token_id, author_id, minter_address, mint_timestamp)
    select substring(prompt_text from 17)::int, id, wallet_address, now() from a`;
}

const count = async (where: string) =>
  Number((await t.sql.unsafe<{ n: string }[]>(`select count(*) as n from tokens_s0 where ${where}`))[0]?.n);

describe('worker processes', { timeout: 240_000 }, () => {
  it('4 processes over 500 tokens: each token reaches uploading once, one provider call each; SIGTERM exits 0', async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs cascade`;
    fake.calls.length = 0;
    behaviour = 'succeed';
    await insertTokensWithOwnPrompts(500);
    const running = [1, 2, 3, 4].map(() => spawnWorker());
    await waitUntil(async () => (await count(`status = 'uploading'`)) === 500, {
      what: '500 tokens uploading',
      timeoutMs: 180_000,
      intervalMs: 50,
    });

    const perPrompt = new Map<string, number>();
    for (const call of fake.calls) perPrompt.set(call.prompt, (perPrompt.get(call.prompt) ?? 0) + 1);
    assert.equal(perPrompt.size, 500);
    assert.deepEqual([...new Set(perPrompt.values())], [1], 'no token was generated twice');
    const attempts = await t.sql<{ n: number }[]>`
      select count(*)::int as n from image_generation_jobs group by token_id`;
    assert.deepEqual([...new Set(attempts.map((row) => row.n))], [1], 'one attempt row per token');
    assert.equal(await count(`generation_attempts <> 1 or lease_owner is not null`), 0);

    await assertStopsCleanly(running);
  });

  it('a worker SIGKILLed mid-generation: its tokens finish after the lease expires, none stays generating', async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs cascade`;
    fake.calls.length = 0;
    behaviour = 'hang';
    await insertTokensWithOwnPrompts(12);
    const doomed = spawnWorker({ WORKER_LEASE_SECONDS: '2', IMAGE_CONCURRENCY: '4' });
    await waitUntil(() => fake.calls.length >= 4, {
      what: 'the doomed worker calling the provider',
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    doomed.kill('SIGKILL');
    await exited(doomed);
    const held = await count(`status = 'generating'`);
    assert.ok(held >= 4, `${held} tokens were in generation when it died`);

    behaviour = 'succeed';
    const provider = createReplicateImageProvider({
      apiToken: fake.token,
      model: 'black-forest-labs/flux-schnell',
      baseUrl: fake.url,
      timeoutMs: 5_000,
      pollIntervalMs: 20,
    });
    const survivor = startSurvivor(
      createImageStage({
        database: t.database,
        provider,
        prompts: { defaultPrompt: 'd', fallbackPrompt: 'f' },
        settings: survivorSettings,
      }),
      t.database,
    );
    try {
      await waitUntil(async () => (await count(`status = 'uploading'`)) === 12, {
        what: 'all 12 uploading',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      assert.equal(await count(`status = 'generating'`), 0);
      // The dead worker's tokens were attempted twice: its attempt (left running) and the survivor's.
      assert.equal(await count(`generation_attempts = 2`), held);
      const running = await t.sql<{ n: number }[]>`
        select count(*)::int as n from image_generation_jobs where status = 'running'`;
      assert.equal(running[0]?.n, held, 'the killed attempts stay visible as running');
    } finally {
      await survivor.stop(2_000);
    }
  });
});

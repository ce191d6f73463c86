// The process boundary: `npm run worker` processes sharing one database. 4 processes over 500 tokens work each
// token exactly once; a process SIGKILLed mid-generation leaves its tokens to be finished after the lease expires.
// Provider calls are counted at the fake Replicate (one prompt per token), not trusted from the workers.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { createReplicateImageProvider } from '../../src/providers/image/replicate.js';
import { createImageStage } from '../../src/stages/image/image.stage.js';
import { startStageRunner } from '../../src/workers/stage-runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startFakeReplicate, type Behaviour, type FakeReplicate } from '../helpers/fake-replicate.js';
import { REPO_ROOT } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';

let t: TestDatabase;
let fake: FakeReplicate;
let behaviour: Behaviour = 'succeed';
const children: ChildProcess[] = [];

before(async () => {
  t = await createTestDatabase({ max: 4 });
  fake = await startFakeReplicate(() => behaviour);
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
after(async () => {
  await fake.close();
  await t.drop();
});

function spawnWorker(env: Record<string, string> = {}): ChildProcess & { output: () => string } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
      path.join(REPO_ROOT, 'src/cli/worker.ts'),
      '--stages',
      'image',
    ],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        APP_ENV: 'test',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        DATABASE_URL: t.url,
        MIGRATE_ON_START: 'false',
        IMAGE_PROVIDER: 'replicate',
        REPLICATE_API_URL: fake.url,
        REPLICATE_API_TOKEN: fake.token,
        IMAGE_CONCURRENCY: '8',
        WORKER_BATCH_SIZE: '10',
        POLL_INTERVAL_SECONDS: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  children.push(child);
  return Object.assign(child, { output: () => out });
}

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

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const count = async (where: string) =>
  Number((await t.sql.unsafe<{ n: string }[]>(`select count(*) as n from tokens_s0 where ${where}`))[0]?.n);

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('worker processes', { timeout: 240_000 }, () => {
  it('4 processes over 500 tokens: each token reaches uploading once, one provider call each; SIGTERM exits 0', async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs cascade`;
    fake.calls.length = 0;
    behaviour = 'succeed';
    await insertTokensWithOwnPrompts(500);
    const workers = [1, 2, 3, 4].map(() => spawnWorker());
    await waitFor(async () => (await count(`status = 'uploading'`)) === 500, 180_000, '500 tokens uploading');

    const perPrompt = new Map<string, number>();
    for (const call of fake.calls) perPrompt.set(call.prompt, (perPrompt.get(call.prompt) ?? 0) + 1);
    assert.equal(perPrompt.size, 500);
    assert.deepEqual([...new Set(perPrompt.values())], [1], 'no token was generated twice');
    const attempts = await t.sql<{ n: number }[]>`
      select count(*)::int as n from image_generation_jobs group by token_id`;
    assert.deepEqual([...new Set(attempts.map((row) => row.n))], [1], 'one attempt row per token');
    assert.equal(await count(`generation_attempts <> 1 or lease_owner is not null`), 0);

    for (const worker of workers) worker.kill('SIGTERM');
    const codes = await Promise.all(workers.map(exited));
    assert.deepEqual(
      codes,
      [0, 0, 0, 0],
      workers
        .map((w) => w.output())
        .join('\n')
        .slice(-4000),
    );
  });

  it('a worker SIGKILLed mid-generation: its tokens finish after the lease expires, none stays generating', async () => {
    await t.sql`truncate tokens_s0, authors, content_blobs cascade`;
    fake.calls.length = 0;
    behaviour = 'hang';
    await insertTokensWithOwnPrompts(12);
    const doomed = spawnWorker({ WORKER_LEASE_SECONDS: '2', IMAGE_CONCURRENCY: '4' });
    await waitFor(
      () => Promise.resolve(fake.calls.length >= 4),
      60_000,
      'the doomed worker calling the provider',
    );
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
    const survivor = startStageRunner(
      createImageStage({
        database: t.database,
        provider,
        prompts: { defaultPrompt: 'd', fallbackPrompt: 'f' },
        settings: {
          batchSize: 10,
          concurrency: 8,
          maxAttempts: 5,
          leaseSeconds: 30,
          pollIntervalMs: 200,
          retryBaseMs: 50,
          retryMaxMs: 100,
        },
      }),
      { database: t.database, logger: captureLogs().logger },
    );
    try {
      await waitFor(async () => (await count(`status = 'uploading'`)) === 12, 30_000, 'all 12 uploading');
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

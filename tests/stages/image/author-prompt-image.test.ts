// Issue 8: a prompt set by its author through the signed route is the prompt the image stage uses for the
// author's tokens still waiting for an image; a token past the image stage keeps its image.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import * as authorsRepository from '../../../src/repositories/authors.repository.js';
import * as tokensRepository from '../../../src/repositories/tokens.repository.js';
import type { ImageProvider } from '../../../src/providers/image/image-provider.js';
import { createImageStage } from '../../../src/stages/image/image.stage.js';
import type { StageSettings } from '../../../src/stages/stage.js';
import { startStageRunner, type StageRunner } from '../../../src/workers/stage-runner.js';
import { cidOf, insertTokens } from '../../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../../helpers/http.js';
import { captureLogs } from '../../helpers/logs.js';
import { callJson, signSiwe } from '../../helpers/siwe.js';
import { waitUntil } from '../../helpers/wait.js';

const DOMAIN = 'glisk.test';
const CHAIN_ID = 84532; // NETWORK=BASE_SEPOLIA
const SETTINGS: StageSettings = {
  batchSize: 10,
  concurrency: 2,
  maxAttempts: 3,
  leaseSeconds: 30,
  pollIntervalMs: 100,
  retryBaseMs: 50,
  retryMaxMs: 100,
};
const DEFAULT_PROMPT = 'the default prompt';
const NEW_PROMPT = 'a lighthouse of folded paper';
const GENERATED_CID = cidOf(2);
const author = privateKeyToAccount(generatePrivateKey());
// The smallest valid PNG header is enough: the stage stores bytes, it does not draw them.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

describe('a prompt set by its author reaches the image stage', () => {
  let app: TestApp;
  let runner: StageRunner | undefined;
  const prompts = new Map<number, string>();
  const provider: ImageProvider = {
    name: 'recording',
    generate: ({ prompt, tokenId }) => {
      prompts.set(tokenId, prompt);
      return Promise.resolve({ bytes: PNG });
    },
  };

  before(async () => {
    app = await startTestApp({ env: { NETWORK: 'BASE_SEPOLIA', AUTH_DOMAIN: DOMAIN } });
  });
  after(async () => {
    await runner?.stop(2_000);
    await app?.close();
  });

  it('the waiting token is generated with the new prompt; the generated one is not regenerated', async () => {
    // Minted before any prompt: the author exists without one; token 2 is already past the image stage.
    const [row] = await authorsRepository.ensureByWallets(app.testDb.db, [author.address]);
    assert.ok(row);
    await insertTokens(app.testDb.db, row, [1]);
    await insertTokens(app.testDb.db, row, [2], { status: 'uploading', imageCid: GENERATED_CID });

    const nonce = await callJson(app.url, 'POST', '/api/auth/nonce');
    const signed = await signSiwe(author, {
      domain: DOMAIN,
      chainId: CHAIN_ID,
      nonce: nonce.json.nonce as string,
    });
    const set = await callJson(app.url, 'PUT', `/api/authors/${author.address}/prompt`, {
      ...signed,
      prompt: `  ${NEW_PROMPT}  `,
    });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.equal(set.json.tokensAwaitingImage, 1);

    const stage = createImageStage({
      database: app.testDb.database,
      provider,
      settings: SETTINGS,
      prompts: { defaultPrompt: DEFAULT_PROMPT, fallbackPrompt: 'kittens' },
    });
    runner = startStageRunner(stage, { database: app.testDb.database, logger: captureLogs().logger });
    await waitUntil(
      async () => (await tokensRepository.getByTokenId(app.testDb.db, 1))?.status === 'uploading',
      { what: 'token 1 generated', timeoutMs: 20_000 },
    );
    assert.equal(prompts.get(1), NEW_PROMPT, 'the image stage read the prompt the author set');
    assert.equal(prompts.has(2), false, 'a token past the image stage keeps its image');
    assert.equal((await tokensRepository.getByTokenId(app.testDb.db, 2))?.imageCid, GENERATED_CID);
  });
});

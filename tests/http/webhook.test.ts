// POST /webhooks/alchemy over real HTTP, with deliveries built from the real receipts of mints on the local
// chain: exact ingest, replays and concurrent duplicates, and every attack the issue lists.
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { mapSettled } from '../../src/lib/bounded-concurrency.js';
import { signAlchemyBody } from '../../src/stages/detection/alchemy-signature.js';
import { alchemyPayload, postWebhook, signedHeaders, type PayloadLog } from '../helpers/alchemy-webhook.js';
import { type TestDatabase } from '../helpers/database.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { assertScenarioRecorded, countRows } from '../helpers/mint-scenario.js';
import { scenarioChain } from '../helpers/scenario-chain.js';

const SECRET = 'whsec_test_0123456789abcdef';
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

type ErrorBody = {
  error: { code: string; message: string; details?: { path: string }[] };
  requestId: string;
};

describe('POST /webhooks/alchemy', () => {
  const apps: TestApp[] = [];
  // Registered first, so it runs first: the apps close before their databases are dropped.
  after(() => Promise.all(apps.map((a) => a.close())));
  const onChain = scenarioChain();
  let body: string;

  before(() => {
    body = JSON.stringify(alchemyPayload(onChain.scenario.payloadBlock));
  });

  async function serve(env: Record<string, string> = {}): Promise<{ app: TestApp; t: TestDatabase }> {
    const t = await onChain.database({ max: 20 });
    const app = await startTestApp({
      testDb: t,
      env: {
        LOG_LEVEL: 'warn',
        ALCHEMY_WEBHOOK_SECRET: SECRET,
        GLISK_NFT_CONTRACT_ADDRESS: onChain.chain.contractAddress,
        BODY_LIMIT: '256kb',
        ...env,
      },
    });
    apps.push(app);
    return { app, t };
  }

  const payloadWith = (logs: PayloadLog[]) =>
    JSON.stringify(alchemyPayload({ ...onChain.scenario.payloadBlock, logs }));
  const mintLogs = () =>
    onChain.scenario.payloadBlock.logs.filter((l) => l.topics.length === 4 && l.data.length === 130);

  it('records exactly the 58 tokens of a signed delivery; replays and 10 concurrent ones add nothing', async () => {
    const { app, t } = await serve();
    assert.equal(mintLogs().length, 3);
    const first = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(first.status, 200);
    assert.deepEqual(first.json, { created: ids(1, 58), skipped: [], mints: 3, ignored: 58 });
    await assertScenarioRecorded(t.db, onChain.scenario);

    const again = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.deepEqual(again.json, { created: [], skipped: ids(1, 58), mints: 3, ignored: 58 });
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => postWebhook(app.url, body, signedHeaders(body, SECRET))),
    );
    for (const answer of concurrent) {
      assert.equal(answer.status, 200);
      assert.deepEqual((answer.json as { created: number[] }).created, []);
    }
    await assertScenarioRecorded(t.db, onChain.scenario);
  });

  it('10 concurrent first deliveries create each token, event and author exactly once', async () => {
    const { app, t } = await serve();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => postWebhook(app.url, body, signedHeaders(body, SECRET))),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array.from({ length: 10 }, () => 200),
    );
    const created = answers.flatMap((a) => (a.json as { created: number[] }).created).sort((a, b) => a - b);
    assert.deepEqual(created, ids(1, 58));
    await assertScenarioRecorded(t.db, onChain.scenario);
  });

  it('a delivery whose first batch is already known still records the rest', async () => {
    const { app, t } = await serve();
    const [firstMint] = mintLogs();
    assert.ok(firstMint);
    const partial = payloadWith([firstMint]);
    assert.deepEqual((await postWebhook(app.url, partial, signedHeaders(partial, SECRET))).json, {
      created: [1],
      skipped: [],
      mints: 1,
      ignored: 0,
    });
    const full = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.deepEqual((full.json as { created: number[] }).created, ids(2, 58));
    await assertScenarioRecorded(t.db, onChain.scenario);
  });

  // One app and database for the cases, but each case checks that ITS deliveries wrote nothing (the counts when
  // it started), not that the database is empty: a bug that lets one attack write fails that case alone, not
  // every case after it.
  describe('attacks and malformed deliveries', () => {
    let app: TestApp;
    let t: TestDatabase;
    let atStart: Awaited<ReturnType<typeof countRows>>;
    before(async () => {
      ({ app, t } = await serve());
    });
    beforeEach(async () => {
      atStart = await countRows(t.db);
    });

    const expectError = async (
      answer: { status: number; json: unknown },
      status: number,
      code: string,
    ): Promise<ErrorBody> => {
      assert.equal(answer.status, status, JSON.stringify(answer.json));
      const error = answer.json as ErrorBody;
      assert.equal(error.error.code, code);
      assert.equal(typeof error.requestId, 'string');
      assert.deepEqual(await countRows(t.db), atStart, 'nothing written');
      return error;
    };

    it('refuses missing, wrong, truncated and upper-case signatures with 401', async () => {
      const good = signAlchemyBody(body, SECRET);
      const json = { 'content-type': 'application/json' };
      await expectError(await postWebhook(app.url, body, json), 401, 'SIGNATURE_MISSING');
      await expectError(
        await postWebhook(app.url, body, { ...json, 'x-alchemy-signature': '' }),
        401,
        'SIGNATURE_MISSING',
      );
      const wrong = signAlchemyBody(body, 'another secret');
      for (const signature of [
        wrong,
        good.slice(0, 40),
        good.slice(0, 63),
        good.toUpperCase(),
        `sha256=${good}`,
        `${good}0`,
      ]) {
        await expectError(
          await postWebhook(app.url, body, { ...json, 'x-alchemy-signature': signature }),
          401,
          'SIGNATURE_INVALID',
        );
      }
    });

    it('refuses a body changed after signing', async () => {
      const changed = body.replace('"timestamp":', '"timestamp": ');
      assert.notEqual(changed, body);
      await expectError(
        await postWebhook(app.url, changed, signedHeaders(body, SECRET)),
        401,
        'SIGNATURE_INVALID',
      );
    });

    it('refuses another content type (415) and an oversized body (413)', async () => {
      await expectError(
        await postWebhook(app.url, body, { ...signedHeaders(body, SECRET), 'content-type': 'text/plain' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      const big = JSON.stringify({
        ...alchemyPayload(onChain.scenario.payloadBlock),
        padding: 'x'.repeat(300 * 1024),
      });
      const answer = await postWebhook(app.url, big, signedHeaders(big, SECRET));
      assert.equal(answer.status, 413);
    });

    it('ignores logs of another contract, reverted transactions and removed logs', async () => {
      const other = '0x000000000000000000000000000000000000dEaD';
      const logs = mintLogs().map((log, i) =>
        i === 0
          ? { ...log, account: { address: other } }
          : i === 1
            ? { ...log, transaction: { ...log.transaction, status: 0 } }
            : { ...log, removed: true },
      );
      const payload = payloadWith(logs);
      const answer = await postWebhook(app.url, payload, signedHeaders(payload, SECRET));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { created: [], skipped: [], mints: 0, ignored: 3 });
      assert.deepEqual(await countRows(t.db), atStart);
    });

    it('refuses malformed topics or data of a BatchMinted log with 400 naming the field', async () => {
      const [first, second] = mintLogs();
      assert.ok(first && second);
      const cases: [PayloadLog, string][] = [
        [{ ...second, topics: second.topics.slice(0, 3) }, 'body.event.data.block.logs.1.topics'],
        [{ ...second, data: second.data.slice(0, 66) }, 'body.event.data.block.logs.1.data'],
        [
          { ...second, topics: [...second.topics.slice(0, 3), '0x12'] },
          'body.event.data.block.logs.1.topics.3',
        ],
        [{ ...second, data: '0xzz' }, 'body.event.data.block.logs.1.data'],
      ];
      for (const [log, path] of cases) {
        const payload = payloadWith([first, log]);
        const error = await expectError(
          await postWebhook(app.url, payload, signedHeaders(payload, SECRET)),
          400,
          'VALIDATION_ERROR',
        );
        assert.equal(error.error.details?.[0]?.path, path);
      }
      const notJson = '{"webhookId":';
      await expectError(
        await postWebhook(app.url, notJson, signedHeaders(notJson, SECRET)),
        400,
        'INVALID_JSON',
      );
    });

    it('answers 5,000 generated malformed deliveries with 400/401/413/415 only, writing nothing', async () => {
      // The deliveries are mutations of one with the three mints and two Transfer logs (~5 kB; the real one has
      // 61 logs, ~30 kB): the same fields are broken, and each of the 5,000 costs a fraction as much to build,
      // sign, send and parse.
      const transfers = onChain.scenario.payloadBlock.logs.filter((l) => !mintLogs().includes(l));
      const fuzzLogs = [...mintLogs(), ...transfers.slice(0, 2)];
      assert.equal(fuzzLogs.length, 5);
      const fuzzBody = payloadWith(fuzzLogs);
      const valid = JSON.parse(fuzzBody) as Record<string, unknown>;
      const invalidValue = fc.oneof(
        fc.constant(null),
        fc.boolean(),
        fc.integer({ min: -1000, max: -1 }),
        fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
        fc.string({ maxLength: 20 }).map((s) => `nothex${s}`),
        // Non-empty: an empty array is a valid `logs` or `topics` (a log without topics is just ignored).
        fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
      );
      // Paths that the schema or the decoder checks, so any replacement below makes the delivery invalid.
      const logCount = fuzzLogs.length;
      const logFields = [
        ['account'],
        ['account', 'address'],
        ['topics'],
        ['topics', 0],
        ['data'],
        ['index'],
        ['transaction'],
        ['transaction', 'hash'],
        ['transaction', 'status'],
      ];
      const mutation = fc.tuple(
        fc.oneof(
          fc.constantFrom<(string | number)[]>(
            ['type'],
            ['event'],
            ['event', 'data'],
            ['event', 'data', 'block'],
            ['event', 'data', 'block', 'number'],
            ['event', 'data', 'block', 'timestamp'],
            ['event', 'data', 'block', 'logs'],
            ['webhookId'],
          ),
          fc
            .tuple(fc.integer({ min: 0, max: logCount - 1 }), fc.constantFrom(...logFields))
            .map(([i, field]) => ['event', 'data', 'block', 'logs', i, ...field]),
        ),
        invalidValue,
      );
      // Each sample is a recipe, serialised only when its turn to be sent comes: 5,000 bodies (~165 MB) held
      // at once cost more in garbage collection than the requests themselves.
      type Delivery = () => { body: string; headers: Record<string, string> };
      const mutated = mutation.map(([path, value]): Delivery => () => {
        // Replace in place, serialise, put the original back: a deep copy of the ~30 kB delivery per sample
        // would cost more than sending it. Every key of every path exists, so the key order is unchanged.
        let node = valid as Record<string | number, unknown>;
        for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
        const last = path[path.length - 1] ?? 'type';
        const original = node[last];
        // 'webhookId' accepts any non-empty string, so only non-strings are invalid there.
        node[last] = last === 'webhookId' && typeof value === 'string' ? 42 : value;
        const text = JSON.stringify(valid);
        node[last] = original;
        return { body: text, headers: signedHeaders(text, SECRET) };
      });
      // topic0 stays (without it the log is no BatchMinted and is rightly ignored); data is always cut short.
      const truncatedMint = fc
        .tuple(
          fc.integer({ min: 0, max: 2 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 127 }),
        )
        .map(([which, topics, dataLength]): Delivery => () => {
          const log = mintLogs()[which];
          if (!log) throw new Error('scenario has three mints');
          const broken = {
            ...log,
            topics: log.topics.slice(0, topics),
            data: log.data.slice(0, 2 + dataLength),
          };
          const text = payloadWith([broken]);
          return { body: text, headers: signedHeaders(text, SECRET) };
        });
      const garbage = fc
        .oneof(
          fc.json(),
          fc.string(),
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
        )
        .map((text): Delivery => () => ({ body: text, headers: signedHeaders(text, SECRET) }));
      const goodHeaders = signedHeaders(fuzzBody, SECRET);
      // The mutation is drawn (unserialised) only so that the seed yields the same samples as it always has.
      const badSignature = fc
        .tuple(
          mutation,
          fc.oneof(
            fc.constant(undefined),
            fc.string({ maxLength: 70 }),
            fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
          ),
        )
        .map(([, signature]): Delivery => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (signature !== undefined) headers['x-alchemy-signature'] = signature;
          return () => ({
            body: fuzzBody,
            headers: signature === goodHeaders['x-alchemy-signature'] ? {} : headers,
          });
        });
      const badType = fc
        .constantFrom(
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=x',
          'application/json; charset=latin1',
        )
        .map((type): Delivery => () => ({
          body: fuzzBody,
          headers: { ...goodHeaders, 'content-type': type },
        }));
      // The text of JSON.stringify({ ...valid, padding }), without re-serialising the delivery each time.
      const oversized = fc.integer({ min: 260 * 1024, max: 300 * 1024 }).map((size): Delivery => () => {
        const text = `${fuzzBody.slice(0, -1)},"padding":"${'x'.repeat(size)}"}`;
        return { body: text, headers: signedHeaders(text, SECRET) };
      });
      const deliveries = fc.sample(
        fc.oneof(
          { arbitrary: mutated, weight: 10 },
          { arbitrary: truncatedMint, weight: 3 },
          { arbitrary: garbage, weight: 3 },
          { arbitrary: badSignature, weight: 2 },
          { arbitrary: badType, weight: 1 },
          { arbitrary: oversized, weight: 1 },
        ),
        { numRuns: 5000, seed: 20260101 },
      );
      const allowed = new Set([400, 401, 413, 415]);
      // 16 in flight over reused connections: the cost is the app's, not the client's connection setup.
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      let outcomes;
      try {
        outcomes = await mapSettled(deliveries, 16, async (delivery) => {
          const request = delivery();
          const answer = await postWebhook(app.url, request.body, request.headers, agent);
          return { status: answer.status, json: answer.json, body: request.body.slice(0, 300) };
        });
      } finally {
        agent.destroy();
      }
      const bad = outcomes.filter((o) => o.status === 'rejected' || !allowed.has(o.value.status));
      assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of 5000 answered outside 400/401/413/415`);
      const statuses = new Set(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.status : 0)));
      assert.deepEqual([...statuses].sort(), [400, 401, 413, 415]);
      assert.deepEqual(await countRows(t.db), atStart);
    });
  });

  it('answers 503 WEBHOOK_NOT_CONFIGURED without a contract address, even to a signed delivery', async () => {
    const { app, t } = await serve({ GLISK_NFT_CONTRACT_ADDRESS: '' });
    const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(answer.status, 503);
    assert.equal((answer.json as ErrorBody).error.code, 'WEBHOOK_NOT_CONFIGURED');
    assert.deepEqual(await countRows(t.db), { tokens: 0, events: 0, authors: 0 });
  });

  it('answers 503 WEBHOOK_NOT_CONFIGURED with an empty secret, even to a delivery signed with an empty key', async () => {
    const { app, t } = await serve({ ALCHEMY_WEBHOOK_SECRET: '' });
    const answer = await postWebhook(app.url, body, signedHeaders(body, ''));
    assert.equal(answer.status, 503);
    assert.equal((answer.json as ErrorBody).error.code, 'WEBHOOK_NOT_CONFIGURED');
    assert.deepEqual(await countRows(t.db), { tokens: 0, events: 0, authors: 0 });
  });
});

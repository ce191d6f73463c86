// Issue 13.3: every value that validation accepts fits the database. The walk below goes through the request
// schemas of every route together with the schema's columns: each number must say where it is stored
// (src/db/column-ranges.ts) and its bounds must lie inside that column's range. Then the values that answered
// 500 before are sent for real: 400 with the field path, and the largest accepted values are stored.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getTableColumns, getTableName } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { createDatabase } from '../../src/db/client.js';
import { columnTypeRange, storedAs, TIMESTAMP_SECONDS } from '../../src/db/column-ranges.js';
import * as schema from '../../src/db/schema.js';
import { routeFactories } from '../../src/http/routes/index.js';
import { alchemyPayload, batchMintedLog, postWebhook, signedHeaders } from '../helpers/alchemy-webhook.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';

type Leaf = { path: string; schema: z.ZodType };

// Zod 4 keeps the structure in _zod.def; only the kinds the request schemas use need following.
function numberLeaves(root: z.ZodType, path: string, out: Leaf[] = []): Leaf[] {
  const def = (root as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
  const walk = (child: unknown, childPath: string) => numberLeaves(child as z.ZodType, childPath, out);
  switch (def.type) {
    case 'number':
    case 'bigint':
      out.push({ path, schema: root });
      break;
    case 'object':
      for (const [key, child] of Object.entries(def.shape as Record<string, unknown>))
        walk(child, `${path}.${key}`);
      break;
    case 'array':
      walk(def.element, `${path}[]`);
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      walk(def.innerType, path);
      break;
    case 'pipe':
      walk(def.in, path);
      walk(def.out, path);
      break;
    case 'union':
      for (const option of def.options as unknown[]) walk(option, path);
      break;
    case 'intersection':
      walk(def.left, path);
      walk(def.right, path);
      break;
    case 'record':
      walk(def.valueType, `${path}{}`);
      break;
    case 'tuple':
      (def.items as unknown[]).forEach((item, i) => walk(item, `${path}[${i}]`));
      break;
    default:
      break;
  }
  return out;
}

function requestLeaves(): Leaf[] {
  const config = loadConfig({ APP_ENV: 'test' });
  // Never connected: building the routes does not query.
  const database = createDatabase('postgres://nobody:nothing@127.0.0.1:9/none');
  const routes = routeFactories.flatMap((factory) =>
    factory({ config, logger: captureLogs().logger, database }),
  );
  void database.close(0);
  const leaves: Leaf[] = [];
  for (const route of routes) {
    const name = `${route.method.toUpperCase()} ${route.path}`;
    if (route.params) numberLeaves(route.params, `${name} path`, leaves);
    if (route.query) numberLeaves(route.query, `${name} query`, leaves);
    if (route.body) numberLeaves(route.body.schema, `${name} body`, leaves);
  }
  return leaves;
}

describe('request schemas against the columns', () => {
  const columns = new Map<string, string>();
  for (const table of Object.values(schema)) {
    if (typeof table !== 'object' || table === null || !(Symbol.for('drizzle:IsDrizzleTable') in table))
      continue;
    for (const column of Object.values(getTableColumns(table as PgTable))) {
      columns.set(`${getTableName(table as PgTable)}.${column.name}`, column.columnType);
    }
  }

  it('finds the numbers of the routes (the walk works)', () => {
    const paths = requestLeaves().map((l) => l.path);
    for (const expected of [
      'GET /api/tokens/{tokenId} path.tokenId',
      'GET /api/tokens query.cursor',
      'POST /webhooks/alchemy body.event.data.block.logs[].index',
      'POST /webhooks/alchemy body.event.data.block.timestamp',
    ]) {
      assert.ok(paths.includes(expected), `${expected} not in ${JSON.stringify(paths)}`);
    }
  });

  it('every number says where it is stored, and its bounds lie inside that column', () => {
    const problems: string[] = [];
    for (const leaf of requestLeaves()) {
      const meta = storedAs.get(leaf.schema);
      if (meta === undefined) {
        problems.push(
          `${leaf.path}: not registered (build it with intFor/coercedIntFor/secondsFor or notStored)`,
        );
        continue;
      }
      if ('notStored' in meta) continue;
      const columnType = columns.get(meta.column);
      if (columnType === undefined) {
        problems.push(`${leaf.path}: ${meta.column} is not a column of src/db/schema.ts`);
        continue;
      }
      assert.equal(columnType, meta.columnType, meta.column);
      const range = columnTypeRange(columnType);
      const { minValue, maxValue } = leaf.schema as z.ZodNumber;
      if (minValue === null || minValue < range.min)
        problems.push(`${leaf.path}: min ${minValue} < ${range.min}`);
      if (maxValue === null || maxValue > range.max)
        problems.push(`${leaf.path}: max ${maxValue} > ${range.max}`);
    }
    assert.deepEqual(problems, []);
  });
});

const SECRET = 'whsec_ranges_0123456789abcdef';
const CONTRACT = '0x5fbdb2315678afecb367f642d30ab7ba0be3e0aa';
const MINTER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const AUTHOR = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';

describe('the values that answered 500', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      env: { ALCHEMY_WEBHOOK_SECRET: SECRET, GLISK_NFT_CONTRACT_ADDRESS: CONTRACT },
    });
  });
  after(() => app?.close());

  const logOf = (index: number, startTokenId: bigint) =>
    batchMintedLog({
      contract: CONTRACT,
      minter: MINTER,
      author: AUTHOR,
      startTokenId,
      quantity: 1n,
      txHash: `0x${'ab'.repeat(31)}${index.toString(16).slice(-2).padStart(2, '0')}`,
      index,
    });
  // The block is set after the helper: it derives createdAt from the timestamp, which these cases push out of
  // the range of a Date.
  const delivery = (block: { number: number; timestamp: number }, index: number, startTokenId = 1n): string =>
    JSON.stringify({
      ...alchemyPayload({ number: 1, timestamp: 1_760_000_000, logs: [] }),
      event: { data: { block: { ...block, logs: [logOf(index, startTokenId)] } } },
    });

  it('answers 400 with the field path for out-of-range cursors, log indexes and timestamps', async () => {
    for (const cursor of ['2147483648', '9999999999']) {
      const res = await fetch(`${app.url}/api/tokens?cursor=${cursor}`);
      assert.equal(res.status, 400, cursor);
      const body = (await res.json()) as { error: { details: { path: string }[] } };
      assert.equal(body.error.details[0]?.path, 'query.cursor');
    }
    const cases: Array<[string, string]> = [
      [
        delivery({ number: 10, timestamp: 1_760_000_000 }, 2_147_483_648),
        'body.event.data.block.logs.0.index',
      ],
      [
        delivery({ number: 10, timestamp: 1_760_000_000 }, 9_007_199_254_740_991),
        'body.event.data.block.logs.0.index',
      ],
      [delivery({ number: 10, timestamp: 8_640_000_000_000 }, 1), 'body.event.data.block.timestamp'],
      [delivery({ number: 10, timestamp: 9e12 }, 1), 'body.event.data.block.timestamp'],
      [delivery({ number: 10, timestamp: 2 ** 53 - 1 }, 1), 'body.event.data.block.timestamp'],
    ];
    for (const [body, path] of cases) {
      const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
      assert.equal(answer.status, 400, body);
      const details = (answer.json as { error: { details: { path: string }[] } }).error.details;
      assert.ok(
        details.some((d) => d.path === path),
        JSON.stringify(details),
      );
    }
    assert.deepEqual(
      app.logs.lines.filter((l) => l.level === 'error'),
      [],
      'a refused value was logged as an error',
    );
  });

  it('stores the largest values it accepts', async () => {
    const body = delivery(
      { number: Number.MAX_SAFE_INTEGER, timestamp: TIMESTAMP_SECONDS.max },
      2_147_483_647,
      7n,
    );
    const answer = await postWebhook(app.url, body, signedHeaders(body, SECRET));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual((answer.json as { created: number[] }).created, [7]);
    const page = await fetch(`${app.url}/api/tokens?cursor=2147483647`);
    assert.equal(page.status, 200);
    const token = await fetch(`${app.url}/api/tokens/7`);
    assert.equal(
      ((await token.json()) as { mintTimestamp: string }).mintTimestamp,
      '9999-12-31T23:59:59.000Z',
    );
  });
});

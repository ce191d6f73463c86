// GET /api/pipeline/stats and the dashboard's overview are polled every few seconds: none of their statements may
// read every token. Each statement the read model runs is captured and EXPLAINed on 30,000 analysed tokens spread
// over every status (as bench:http seeds them): no sequential scan of tokens_s0, and no plan node that reads more
// than a small share of the tokens (EXPLAIN ANALYZE: the rows each node really returned).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Executor } from '../../src/db/client.js';
import * as pipelineOverview from '../../src/repositories/pipeline-overview.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor } from '../helpers/db-fixtures.js';

const TOKENS = 30_000;

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
  const author = await insertAuthor(t.db, 1);
  const cid = cidOf(1);
  await t.sql`
    insert into tokens_s0 (token_id, author_id, minter_address, mint_timestamp, status, image_cid, metadata_cid,
                           error_data, ready_at, revealed_at, lease_owner, lease_expires_at, updated_at)
    select g, ${author.id}, ${author.walletAddress}, now() - interval '1 day',
           (array['detected','generating','uploading','ready','revealed','failed'])[g % 6 + 1],
           case when g % 6 in (2, 3, 4) then ${cid} end,
           case when g % 6 in (3, 4) then ${cid} end,
           case when g % 6 = 5 then '{"stage":"image","code":"X","message":"x"}'::jsonb end,
           case when g % 6 in (3, 4) then now() end,
           case when g % 6 = 4 then now() - (g || ' seconds')::interval end,
           case when g % 600 = 1 then 'worker-a' end,
           case when g % 600 = 1 then now() + interval '1 minute' end,
           now() - (g || ' seconds')::interval
    from generate_series(1, ${TOKENS}) g`;
  await t.sql`analyze tokens_s0`;
});
after(() => t.drop());

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
};

function* nodes(plan: PlanNode): Generator<PlanNode> {
  yield plan;
  for (const child of plan.Plans ?? []) yield* nodes(child);
}

/** Runs `read` against an executor that records each statement, then EXPLAINs each one. */
async function plansOf(read: (tx: Executor) => Promise<unknown>): Promise<{ sql: string; plan: PlanNode }[]> {
  const statements: SQL[] = [];
  const recording = new Proxy(t.db, {
    get(target, property, receiver) {
      if (property === 'execute') {
        return (query: SQL) => {
          statements.push(query);
          return target.execute(query);
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  }) as unknown as Executor;
  await read(recording);
  assert.ok(statements.length > 0, 'the read ran statements');
  const plans: { sql: string; plan: PlanNode }[] = [];
  for (const statement of statements) {
    const query = new PgDialect().sqlToQuery(statement);
    const [row] = await t.sql.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
      `explain (analyze, format json) ${query.sql}`,
      query.params as never[],
    );
    const plan = row?.['QUERY PLAN'][0]?.Plan;
    assert.ok(plan, `a plan for ${query.sql}`);
    plans.push({ sql: query.sql, plan });
  }
  return plans;
}

describe('the operator read model never reads every token', { timeout: 60_000 }, () => {
  const since = () => new Date(Date.now() - 60_000);
  for (const [name, read] of [
    ['statusStats (counts, next in line, leases, oldest failure)', (tx) => pipelineOverview.statusStats(tx)],
    ['nextInLine of the stages', (tx) => pipelineOverview.nextInLine(tx, ['detected', 'uploading', 'ready'])],
    [
      'completionsPerMinute (reveals by revealed_at)',
      (tx) => pipelineOverview.completionsPerMinute(tx, since()),
    ],
    ['recentFailures', (tx) => pipelineOverview.recentFailures(tx, 12)],
  ] as const satisfies readonly (readonly [string, (tx: Executor) => Promise<unknown>])[]) {
    it(name, async () => {
      for (const { sql, plan } of await plansOf(read)) {
        for (const node of nodes(plan)) {
          if (node['Relation Name'] !== 'tokens_s0') continue;
          assert.notEqual(node['Node Type'], 'Seq Scan', `a sequential scan of tokens_s0 in: ${sql}`);
          const read = node['Actual Rows'] * node['Actual Loops'];
          assert.ok(read <= TOKENS / 100, `${node['Node Type']} read ${read} tokens in: ${sql}`);
        }
      }
    });
  }
});

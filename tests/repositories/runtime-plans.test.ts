// The stage runtime's two hot statements (the claim, the grouped finish) are prepared statements: after a few runs
// PostgreSQL keeps ONE generic plan for them, planned without the parameters' values. That plan must still find
// its rows through an index, not read every token: a claim through the partial claim index in claim order (a
// partial index is usable only when the statement itself names the statuses, not as parameters), a finish by
// primary key. Each plan is the real one: auto_explain prints it to this connection (NOTICE) as the repository
// functions run, with plan_cache_mode = force_generic_plan so the first run already uses the generic plan.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from '../../src/db/schema.js';
import type { Executor } from '../../src/db/client.js';
import { STAGES } from '../../src/domain/stages.js';
import { completeClaims } from '../../src/repositories/token-completions.repository.js';
import { claimTokens } from '../../src/repositories/token-claims.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cidOf, insertAuthor } from '../helpers/db-fixtures.js';

const TOKENS = 3000;

let t: TestDatabase;
let client: postgres.Sql;
let db: Executor;
const notices: string[] = [];

before(async () => {
  t = await createTestDatabase();
  const author = await insertAuthor(t.db, 1);
  // Half waiting for the image stage, half for the IPFS stage: each claim's index has many rows to skip.
  await t.sql`
    insert into tokens_s0 (token_id, author_id, minter_address, mint_timestamp, status, image_cid)
    select g, ${author.id}, ${author.walletAddress}, now(),
           case when g % 2 = 0 then 'detected' else 'uploading' end,
           case when g % 2 = 1 then ${cidOf(1)} end
    from generate_series(1, ${TOKENS}) g`;
  await t.sql`analyze tokens_s0`;
  client = postgres(t.url, {
    max: 1,
    connection: { TimeZone: 'UTC', plan_cache_mode: 'force_generic_plan' },
    onnotice: (notice) => notices.push(String(notice.message)),
  });
  db = drizzle(client, { schema });
  await client`load 'auto_explain'`;
  await client`set auto_explain.log_min_duration = 0`;
  await client`set auto_explain.log_level = notice`;
});
after(async () => {
  await client.end();
  await t.drop();
});

/** The plans auto_explain printed while `run` ran. */
async function plansOf(run: () => Promise<unknown>): Promise<string> {
  notices.length = 0;
  await run();
  return notices.join('\n');
}

describe('generic plans of the runtime statements', { timeout: 30_000 }, () => {
  it('a claim reads its stage claim index in claim order: no scan of the waiting tokens, no sort of them', async () => {
    for (const [stage, index] of [
      [STAGES.image, 'tokens_s0_image_claim_idx'],
      [STAGES.ipfs, 'tokens_s0_claim_idx'],
    ] as const) {
      const plan = await plansOf(() =>
        claimTokens(db, stage, { owner: 'plans', leaseSeconds: 60, limit: 10 }).then((claim) =>
          assert.equal(claim.tokens.length, 10),
        ),
      );
      assert.match(plan, /plan_cache_mode|Query Text/, 'auto_explain printed the plan');
      assert.ok(plan.includes(`Index Scan using ${index} on tokens_s0`), `${stage.name}: ${plan}`);
      // Not every waiting token through another index and then sorted; not the whole table for the update.
      assert.ok(!/Sort Key: tokens_s0|status_created_idx/.test(plan), `${stage.name}: ${plan}`);
      assert.ok(!plan.includes('Seq Scan on tokens_s0'), `${stage.name}: ${plan}`);
    }
  });

  it('a grouped finish finds its tokens by primary key, not by a scan of the table, whatever the statistics', async () => {
    // Statistics taken while every token was leased (a busy moment, or stale): the planner cannot count on the
    // leased-tokens index being small, which is what made the finish's plan look fine so far.
    await t.sql`update tokens_s0 set lease_owner = 'busy', lease_expires_at = now()`;
    await t.sql`analyze tokens_s0`;
    await t.sql`update tokens_s0 set lease_owner = null, lease_expires_at = null`;
    const { tokens } = await claimTokens(db, STAGES.ipfs, { owner: 'finish', leaseSeconds: 60, limit: 10 });
    const plan = await plansOf(async () => {
      const moved = await completeClaims(
        db,
        tokens.map((token) => ({
          ref: token,
          to: 'ready',
          changes: { metadataCid: cidOf(2), readyAt: new Date() },
        })),
      );
      assert.equal(moved.size, 10);
    });
    assert.match(plan, /Update on tokens_s0/, plan);
    assert.match(plan, /Index Scan (using|on) tokens_s0_pkey/, plan);
    assert.ok(!plan.includes('Seq Scan on tokens_s0'), plan);
  });
});

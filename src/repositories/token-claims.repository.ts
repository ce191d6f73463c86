// The one claim statement of every stage, and what else reads the claimable rows (the reveal's backlog). Raw
// postgres.js tagged templates (sqlOf): prepared once per connection, one round trip each. The claim is the stage
// runtime's hot path: in ONE statement it picks and leases the tokens, begins their attempts rows (the stage's
// AttemptsSql.begin) and, when it comes back short, says when the next waiting token becomes due, so an idle
// worker knows how long it may sleep without another query.
import type postgres from 'postgres';
import { getTableColumns } from 'drizzle-orm';
import { sqlOf, type Executor } from '../db/client.js';
import { TOKEN_STATUSES, tokens, type Token, type TokenStatus } from '../db/schema.js';
import type { ClaimableStage } from './token-queue.repository.js';

/**
 * How a stage's attempts table takes part in the runtime's statements (src/stages/stage.ts AttemptRecorder):
 * SQL fragments over a relation the runtime names.
 */
export type AttemptsSql = {
  /**
   * An INSERT of one `running` row per row of `claimed` (tokens_s0 rows, SQL column names), RETURNING the new
   * row's id as `id` and the tokens_s0 id as `token_id`. Runs inside the claim statement.
   */
  begin: (sql: postgres.Sql, claimed: postgres.Fragment) => postgres.Fragment;
  /**
   * An UPDATE closing the attempts of `ends` (attempt_id uuid, outcome jsonb: what the stage's outcome mapping
   * made of the attempt's outcome). Runs inside the finishing statement, or alone.
   */
  end: (sql: postgres.Sql, ends: postgres.Fragment) => postgres.Fragment;
};

/**
 * What a stage reads with its claim (src/stages/stage.ts TokenStage.claimInputs): a jsonb expression over the
 * claimed tokens_s0 row, alias `c` (SQL column names), evaluated in the claim statement for each claimed token
 * and returned with it as `inputs`, so the stage's work starts without a read of its own.
 */
export type ClaimInputsSql = (sql: postgres.Sql) => postgres.Fragment;

export type ClaimOptions = {
  /** Who holds the lease (stage + host + process), compared on every later write. */
  owner: string;
  /** How long the claim stays valid; past it another worker may take the token over. */
  leaseSeconds: number;
  limit: number;
  /**
   * Begin an attempts row for each claimed token whose attempts count (after this claim) is at most
   * `maxAttempts`; the others are claimed without one (the runtime fails them as exhausted).
   */
  attempts?: { sql: AttemptsSql; maxAttempts: number };
  /** The stage's inputs, read in the same statement (ClaimedToken.inputs). */
  inputs?: ClaimInputsSql;
};

/**
 * A claimed token, with the id of the attempts row the claim began for it (if any) and, when the claim was asked
 * for them, the stage's inputs (the jsonb of ClaimOptions.inputs, parsed).
 */
export type ClaimedToken = Token & { attemptId?: string; inputs?: unknown };

export type Claim = {
  /** Oldest due first... then by token id: the claim's order. */
  tokens: ClaimedToken[];
  /**
   * Seconds until the next claimable token not claimed now is due: 0 when one is due already (more waiting than
   * `limit`, or one locked by another claimer at that moment), undefined when none waits. A claim that came back
   * full and says undefined (or a later time) took everything due: the next claim would come back empty.
   */
  nextDueSeconds: number | undefined;
};

const columns = Object.entries(getTableColumns(tokens));

/** A tokens_s0 row as postgres.js returns it (SQL names, driver values) -> the Token drizzle would return. */
export function tokenFromRow(row: Readonly<Record<string, unknown>>): Token {
  const token: Record<string, unknown> = {};
  for (const [key, column] of columns) {
    const value = row[column.name];
    token[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return token as Token;
}

/**
 * A status as an SQL literal, not a parameter: the claim indexes are partial (WHERE status IN ...), and a prepared
 * statement's generic plan, the one PostgreSQL keeps after a few runs, cannot prove a partial index's predicate
 * from a parameter. With parameters the claim read every waiting token through tokens_s0_status_created_idx and
 * sorted them all, each claim (3000 waiting: 0.9 of its 1.5 ms). A status is one of TOKEN_STATUSES, never input.
 */
function statusLiteral(sql: postgres.Sql, status: TokenStatus): postgres.Fragment {
  if (!TOKEN_STATUSES.includes(status)) throw new TypeError(`not a token status: ${String(status)}`);
  return sql.unsafe(`'${status}'`);
}

/** Which rows a stage may claim: waiting at its start, or left in its working status with no live lease. */
function claimable(sql: postgres.Sql, stage: ClaimableStage): postgres.Fragment {
  const leaseFree = sql`(lease_expires_at IS NULL OR lease_expires_at < now())`;
  const start = statusLiteral(sql, stage.start);
  const working = statusLiteral(sql, stage.working);
  const waiting =
    stage.start === stage.working
      ? sql`(status = ${start} AND ${leaseFree})`
      : sql`(status = ${start} OR (status = ${working} AND ${leaseFree}))`;
  if (!stage.skipTokensInFlightOnChain) return waiting;
  // A worker that died after sending leaves its transaction pending/sent: it may still be mined, so its tokens
  // stay out of every new batch until the transaction is settled (confirmed or failed), and are never sent twice.
  return sql`(${waiting} AND NOT EXISTS (
    SELECT 1 FROM reveal_transactions r
    WHERE r.status IN ('pending', 'sent') AND r.token_ids @> ARRAY[tokens_s0.id]
  ))`;
}

/**
 * The one claim statement of every stage. Safe with any number of workers in any number of processes: `picked`
 * locks the rows it picks FOR UPDATE and SKIPs rows another transaction has locked, so two claimers never pick the
 * same row, and `claimed` stamps the lease, the working status and the attempt in the same statement, so once the
 * claim commits the row is no longer claimable (or claimable again only when its lease expires). A claimer that
 * dies before committing rolls back: the lock, the lease and the attempts rows go with it. Given the database
 * rather than a transaction, the statement commits on its own, which is what a worker wants before its slow I/O.
 * Oldest due first. For one status (ipfs, reveal) tokens_s0_claim_idx (status, next_attempt_at, token_id) serves
 * both the filter and the order; the image stage's two statuses are served in order by tokens_s0_image_claim_idx
 * (in the generic plan too: the statuses are literals, see statusLiteral; tests/repositories/runtime-plans.test.ts).
 * `next` (the next due time of a token not picked) comes from the same indexes.
 */
export async function claimTokens(
  executor: Executor,
  stage: ClaimableStage,
  options: ClaimOptions,
): Promise<Claim> {
  const sql = sqlOf(executor);
  const attemptsColumn = sql(tokens[stage.attempts].name);
  const recorder = options.attempts;
  const attempts = recorder
    ? sql`, live AS (SELECT * FROM claimed WHERE ${attemptsColumn} <= ${recorder.maxAttempts}),
        attempts AS (${recorder.sql.begin(sql, sql`live`)})`
    : sql``;
  const attemptId = recorder ? sql`(SELECT a.id FROM attempts a WHERE a.token_id = c.id)` : sql`NULL::uuid`;
  const inputs = options.inputs
    ? sql`CASE WHEN c.id IS NOT NULL THEN ${options.inputs(sql)} END`
    : sql`NULL::jsonb`;
  const rows = await sql<Record<string, unknown>[]>`
    WITH picked AS (
      SELECT id FROM tokens_s0
      WHERE ${claimable(sql, stage)} AND next_attempt_at <= now()
      ORDER BY next_attempt_at, token_id
      LIMIT ${options.limit}
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE tokens_s0 AS t SET
        lease_owner = ${options.owner},
        lease_expires_at = now() + make_interval(secs => ${options.leaseSeconds}),
        status = ${stage.working},
        ${attemptsColumn} = t.${attemptsColumn} + 1,
        updated_at = now()
      -- The ANY(ARRAY(...)): the generic plan guesses LIMIT $n at a share of the table and would rather scan it
      -- all than probe the primary key that often; an array of ids it guesses at 10, and probes.
      FROM picked WHERE t.id = ANY(ARRAY(SELECT id FROM picked)) AND t.id = picked.id
      RETURNING t.*
    )${attempts}, next AS (
      SELECT greatest(0, extract(epoch from next_attempt_at - now()))::float8 AS seconds
      FROM tokens_s0
      WHERE ${claimable(sql, stage)} AND id NOT IN (SELECT id FROM picked)
      ORDER BY next_attempt_at
      LIMIT 1
    )
    SELECT c.*, ${attemptId} AS attempt_id, ${inputs} AS inputs, n.seconds AS next_due_seconds
    FROM (SELECT 1) AS one
    LEFT JOIN next AS n ON true
    LEFT JOIN claimed AS c ON true
    ORDER BY c.next_attempt_at, c.token_id`;
  const claimed: ClaimedToken[] = [];
  let nextDueSeconds: number | undefined;
  for (const row of rows) {
    if (row.next_due_seconds !== null && row.next_due_seconds !== undefined) {
      nextDueSeconds = Number(row.next_due_seconds);
    }
    if (row.id === null || row.id === undefined) continue;
    const token: ClaimedToken = tokenFromRow(row);
    if (typeof row.attempt_id === 'string') token.attemptId = row.attempt_id;
    if (options.inputs) token.inputs = row.inputs;
    claimed.push(token);
  }
  return { tokens: claimed, nextDueSeconds };
}

/**
 * How many tokens a stage could claim now, and since when the oldest of them is `ready` (the reveal sends a batch
 * when it is full or its oldest token has waited long enough). Same filter as the claim.
 */
export async function claimableBacklog(
  executor: Executor,
  stage: ClaimableStage,
): Promise<{ count: number; oldestReadyAt: Date | undefined }> {
  const sql = sqlOf(executor);
  const [row] = await sql<{ count: number; oldest: string | null }[]>`
    SELECT count(*)::int AS count, min(ready_at) AS oldest FROM tokens_s0
    WHERE ${claimable(sql, stage)} AND next_attempt_at <= now()`;
  return {
    count: Number(row?.count ?? 0),
    oldestReadyAt: row?.oldest ? new Date(row.oldest) : undefined,
  };
}

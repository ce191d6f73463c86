// The stage runtime's grouped finishes: many claimed tokens moved to their next status, their attempts rows
// closed and the next stage woken, in ONE statement (one round trip, no BEGIN/COMMIT: the statement is its own
// transaction, and a NOTIFY sent by it is delivered when it commits). Each row is still its own compare-and-set on
// (id, lease owner, status), exactly as token-queue.repository's completeClaim: a row whose lease was lost touches
// nothing, is missing from the answer, and its attempts row is left for the caller to close. Raw postgres.js
// (sqlOf): a prepared statement per connection.
import type postgres from 'postgres';
import { TOKENS_CHANNEL } from '../db/channels.js';
import { sqlOf, type Executor } from '../db/client.js';
import type { TokenStatus } from '../db/schema.js';
import { insertFragment as blobsInsert, type ContentBlobInput } from './content-blobs.repository.js';
import type { AttemptsSql } from './token-claims.repository.js';
import type { ClaimRef, TokenChanges } from './token-queue.repository.js';

// How completeClaims writes each TokenChanges key: its column and the type its JSON value is cast to.
const CHANGE_COLUMNS: Readonly<Record<keyof TokenChanges, readonly [string, string]>> = {
  imageCid: ['image_cid', 'text'],
  metadataCid: ['metadata_cid', 'text'],
  errorData: ['error_data', 'jsonb'],
  revealTxHash: ['reveal_tx_hash', 'text'],
  readyAt: ['ready_at', 'timestamptz'],
  revealedAt: ['revealed_at', 'timestamptz'],
  generationAttempts: ['generation_attempts', 'integer'],
  uploadAttempts: ['upload_attempts', 'integer'],
  revealAttempts: ['reveal_attempts', 'integer'],
  nextAttemptAt: ['next_attempt_at', 'timestamptz'],
};

// Each column takes the row's value when its key is present (JSON null: SQL NULL), else keeps its own.
const CHANGED_COLUMNS = Object.entries(CHANGE_COLUMNS)
  .map(([key, [column, type]]) => {
    const value = type === 'jsonb' ? `nullif(v.c->'${key}', 'null'::jsonb)` : `(v.c->>'${key}')::${type}`;
    return `${column} = CASE WHEN v.c ? '${key}' THEN ${value} ELSE t.${column} END`;
  })
  .join(',\n    ');

export type ClaimCompletion = {
  ref: ClaimRef;
  to: TokenStatus;
  changes: TokenChanges;
  /** The claim's attempts row, closed with `outcome` (AttemptsSql.end reads it) when the finish applies. */
  attempt?: { id: string; outcome: unknown };
  /** Files for the content store, written in the same statement whether or not the token moved. */
  blobs?: readonly ContentBlobInput[];
  /** The stage's own rows, written by CompleteOptions.rows in the same statement whether or not it moved. */
  rows?: readonly unknown[];
};

/**
 * How a stage writes rows of its own in the finishing statement (src/stages/stage.ts TokenStage.finishRows): a
 * data-modifying statement (an INSERT, no RETURNING) of `rows`, the rows the group's completions carry, in order.
 */
export type FinishRowsSql = (sql: postgres.Sql, rows: readonly unknown[]) => postgres.Fragment;

export type CompleteOptions = {
  /** How the attempts rows of the completions are closed (required when a completion names an attempt). */
  attempts?: AttemptsSql;
  /** NOTIFY this status on the tokens channel when at least one token moved (delivered at commit). */
  notify?: TokenStatus;
  /** How the completions' `rows` are written (required when a completion carries rows). */
  rows?: FinishRowsSql;
};

/**
 * completeClaim for many tokens in ONE statement (the stage runtime's grouped finishes), with the attempts rows
 * of those that moved closed, the completions' blobs and rows written and the NOTIFY, in the same statement.
 * Returns the ids that moved; an id missing lost its lease (its attempts row untouched).
 */
export async function completeClaims(
  executor: Executor,
  completions: readonly ClaimCompletion[],
  options: CompleteOptions = {},
): Promise<Set<string>> {
  const rows = completions
    .filter(({ ref }) => ref.leaseOwner !== null)
    .map(({ ref, to, changes, attempt }) => ({
      id: ref.id,
      owner: ref.leaseOwner,
      from: ref.status,
      to,
      c: changes,
      attempt_id: attempt?.id ?? null,
      outcome: attempt?.outcome ?? null,
    }));
  const blobs = completions.flatMap((completion) => completion.blobs ?? []);
  const stageRows = completions.flatMap((completion) => completion.rows ?? []);
  if (rows.length === 0 && blobs.length === 0 && stageRows.length === 0) return new Set();
  if (options.attempts === undefined && rows.some((row) => row.attempt_id !== null)) {
    throw new TypeError('completeClaims: attempts to close but no AttemptsSql to close them with');
  }
  if (options.rows === undefined && stageRows.length > 0) {
    throw new TypeError('completeClaims: rows to write but no FinishRowsSql to write them with');
  }
  const sql = sqlOf(executor);
  // Data-modifying WITHs run whether or not the final SELECT reads them.
  const stored = blobs.length > 0 ? sql`, stored AS (${blobsInsert(sql, blobs)})` : sql``;
  const written =
    options.rows !== undefined && stageRows.length > 0
      ? sql`, written AS (${options.rows(sql, stageRows)})`
      : sql``;
  const closing = options.attempts
    ? sql`, ends AS (
        SELECT v.attempt_id, v.outcome FROM v JOIN moved ON moved.id = v.id WHERE v.attempt_id IS NOT NULL
      ), closed AS (${options.attempts.end(sql, sql`ends`)})`
    : sql``;
  // The NOTIFY is read (once: an InitPlan) by the final SELECT only when it produces a row, i.e. when a token
  // moved; a group whose tokens all lost their lease wakes nobody.
  const notify = options.notify
    ? sql`, notified AS MATERIALIZED (SELECT pg_notify(${TOKENS_CHANNEL}, ${options.notify}))`
    : sql``;
  const notified = options.notify ? sql`(SELECT count(*) FROM notified)` : sql`0`;
  const moved = await sql<{ id: string }[]>`
    WITH v AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS v(id uuid, owner text, "from" text, "to" text, c jsonb, attempt_id uuid, outcome jsonb)
    ), moved AS (
      UPDATE tokens_s0 AS t SET
        status = v.to,
        ${sql.unsafe(CHANGED_COLUMNS)},
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
      FROM v
      -- The ANY(ARRAY(...)): jsonb_to_recordset is guessed at 100 rows, and with those the generic plan would
      -- rather scan the whole table than probe the primary key; an array of ids it guesses at 10, and probes.
      WHERE t.id = ANY(ARRAY(SELECT id FROM v)) AND t.id = v.id AND t.lease_owner = v.owner AND t.status = v."from"
      RETURNING t.id
    )${closing}${stored}${written}${notify}
    SELECT moved.id, ${notified} AS notified FROM moved`;
  return new Set(moved.map((row) => row.id));
}

/**
 * Closes attempts rows on their own (a lost lease, a failure written in its own transaction, a token given back):
 * one statement through the stage's AttemptsSql.end.
 */
export async function closeAttempts(
  executor: Executor,
  attempts: AttemptsSql,
  ends: readonly { attemptId: string; outcome: unknown }[],
): Promise<void> {
  if (ends.length === 0) return;
  const sql = sqlOf(executor);
  const rows = ends.map(({ attemptId, outcome }) => ({ attempt_id: attemptId, outcome }));
  await sql`
    WITH ends AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS e(attempt_id uuid, outcome jsonb)
    )
    ${attempts.end(sql, sql`ends`)}`;
}

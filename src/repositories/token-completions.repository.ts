// The stage runtime's grouped finishes: many claimed tokens moved to their next status in ONE statement (the
// finishes that become ready together, src/workers/finish-writer.ts). Each row is still its own compare-and-set
// on (id, lease owner, status), exactly as token-queue.repository's completeClaim: a row whose lease was lost
// touches nothing and is missing from the answer.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { tokens, type TokenStatus } from '../db/schema.js';
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
const changedColumns = sql.raw(
  Object.entries(CHANGE_COLUMNS)
    .map(([key, [column, type]]) => {
      const value = type === 'jsonb' ? `nullif(v.c->'${key}', 'null'::jsonb)` : `(v.c->>'${key}')::${type}`;
      return `${column} = CASE WHEN v.c ? '${key}' THEN ${value} ELSE t.${column} END`;
    })
    .join(',\n    '),
);

export type ClaimCompletion = { ref: ClaimRef; to: TokenStatus; changes: TokenChanges };

/**
 * completeClaim for many tokens in ONE statement (the stage runtime's grouped finishes): each row is still its
 * own compare-and-set on (id, lease owner, status). Returns the ids that moved; an id missing lost its lease.
 */
export async function completeClaims(
  tx: Executor,
  completions: readonly ClaimCompletion[],
): Promise<Set<string>> {
  const rows = completions
    .filter(({ ref }) => ref.leaseOwner !== null)
    .map(({ ref, to, changes }) => ({ id: ref.id, owner: ref.leaseOwner, from: ref.status, to, c: changes }));
  if (rows.length === 0) return new Set();
  const moved = await tx.execute<{ id: string }>(sql`
    UPDATE ${tokens} AS t SET
    status = v.to,
    ${changedColumns},
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      AS v(id uuid, owner text, "from" text, "to" text, c jsonb)
    WHERE t.id = v.id AND t.lease_owner = v.owner AND t.status = v."from"
    RETURNING t.id`);
  return new Set(moved.map((row) => row.id));
}

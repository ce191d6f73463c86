import { asc, desc, eq } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { imageGenerationJobs, type ImageGenerationJob, type NewImageGenerationJob } from '../db/schema.js';
import type { AttemptsSql } from './token-claims.repository.js';

export type ImageJobChanges = Partial<
  Pick<NewImageGenerationJob, 'status' | 'externalJobId' | 'retryCount' | 'errorData' | 'completedAt'>
>;

export async function add(tx: Executor, job: NewImageGenerationJob): Promise<ImageGenerationJob> {
  const [row] = await tx.insert(imageGenerationJobs).values(job).returning();
  if (!row) throw new Error('INSERT INTO image_generation_jobs returned no row');
  return row;
}

export async function getById(tx: Executor, id: string): Promise<ImageGenerationJob | undefined> {
  const [row] = await tx.select().from(imageGenerationJobs).where(eq(imageGenerationJobs.id, id));
  return row;
}

/** Every attempt for a token (tokens_s0.id), oldest first. */
export async function listByToken(tx: Executor, tokenRowId: string): Promise<ImageGenerationJob[]> {
  return tx
    .select()
    .from(imageGenerationJobs)
    .where(eq(imageGenerationJobs.tokenRowId, tokenRowId))
    .orderBy(asc(imageGenerationJobs.createdAt), asc(imageGenerationJobs.id));
}

export async function getLatestByToken(
  tx: Executor,
  tokenRowId: string,
): Promise<ImageGenerationJob | undefined> {
  const [row] = await tx
    .select()
    .from(imageGenerationJobs)
    .where(eq(imageGenerationJobs.tokenRowId, tokenRowId))
    .orderBy(desc(imageGenerationJobs.createdAt), desc(imageGenerationJobs.id))
    .limit(1);
  return row;
}

export async function update(
  tx: Executor,
  id: string,
  changes: ImageJobChanges,
): Promise<ImageGenerationJob | undefined> {
  const [row] = await tx
    .update(imageGenerationJobs)
    .set(changes)
    .where(eq(imageGenerationJobs.id, id))
    .returning();
  return row;
}

/**
 * The image stage's attempts rows as parts of the stage runtime's statements (AttemptsSql): `begin` inserts one
 * `running` row per claimed token of `claimed` (retry_count: the attempts before this one); `end` closes the rows
 * of `ends` (attempt_id, outcome: {status, external_job_id, error_data}, see imageAttemptOutcome).
 */
export function attemptsSql(service: string): AttemptsSql {
  return {
    begin: (sql, claimed) => sql`
      INSERT INTO image_generation_jobs (token_id, service, status, retry_count)
      SELECT c.id, ${service}, 'running', greatest(0, c.generation_attempts - 1) FROM ${claimed} AS c
      RETURNING id, token_id`,
    end: (sql, ends) => sql`
      UPDATE image_generation_jobs AS j SET
        status = e.outcome->>'status',
        external_job_id = e.outcome->>'external_job_id',
        error_data = nullif(e.outcome->'error_data', 'null'::jsonb),
        completed_at = now()
      FROM ${ends} AS e
      WHERE j.id = e.attempt_id`,
  };
}

/** An attempt's outcome as attemptsSql().end reads it. */
export type ImageAttemptOutcome = {
  status: ImageGenerationJob['status'];
  external_job_id: string | null;
  error_data: ImageGenerationJob['errorData'];
};

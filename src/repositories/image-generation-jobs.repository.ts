import { asc, desc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { imageGenerationJobs, type ImageGenerationJob, type NewImageGenerationJob } from '../db/schema.js';

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

/** Ends many attempts in one statement (completed_at now). */
export async function finishMany(
  tx: Executor,
  rows: readonly {
    id: string;
    status: ImageGenerationJob['status'];
    externalJobId: string | null;
    errorData: ImageGenerationJob['errorData'];
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await tx.execute(sql`
    UPDATE image_generation_jobs AS j SET
      status = v.status, external_job_id = v.external_job_id, error_data = v.error_data, completed_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(
      rows.map((r) => ({
        id: r.id,
        status: r.status,
        external_job_id: r.externalJobId,
        error_data: r.errorData,
      })),
    )}::jsonb) AS v(id uuid, status text, external_job_id text, error_data jsonb)
    WHERE j.id = v.id`);
}

/** One `running` attempt row per claimed token, in one statement; returns the new ids by tokens_s0.id. */
export async function addRunning(
  tx: Executor,
  rows: readonly { tokenRowId: string; service: string; retryCount: number }[],
): Promise<Map<string, string>> {
  if (rows.length === 0) return new Map();
  const inserted = await tx
    .insert(imageGenerationJobs)
    .values(
      rows.map((row) => ({
        tokenRowId: row.tokenRowId,
        service: row.service,
        status: 'running' as const,
        retryCount: row.retryCount,
      })),
    )
    .returning({ id: imageGenerationJobs.id, tokenRowId: imageGenerationJobs.tokenRowId });
  return new Map(inserted.map((row) => [row.tokenRowId, row.id]));
}

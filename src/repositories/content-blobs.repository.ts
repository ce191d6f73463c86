// The content store (content_blobs): immutable files keyed by their CID, handed from one stage to the next.
import { eq, sql } from 'drizzle-orm';
import type postgres from 'postgres';
import { sqlOf, type Executor } from '../db/client.js';
import { contentBlobs, type ContentBlob, type ContentMediaType } from '../db/schema.js';

export type ContentBlobInput = {
  /** Canonical CIDv1 of `bytes` (src/lib/cid.ts computeCid); the caller computes it, the store trusts it. */
  cid: string;
  mediaType: ContentMediaType;
  bytes: Uint8Array;
};

/** A blob's description without its bytes. */
export type ContentBlobInfo = Omit<ContentBlob, 'bytes'>;

/**
 * Stores a blob once: a CID names its bytes, so a second put of the same CID (a retried stage, two workers after
 * a lease expiry) changes nothing. Returns true when this call inserted it.
 */
export async function put(tx: Executor, blob: ContentBlobInput): Promise<boolean> {
  const sql = sqlOf(tx);
  const rows = await sql`${insertFragment(sql, [blob])} RETURNING cid`;
  return rows.length > 0;
}

/**
 * The INSERT of `blobs` (as `put`: a CID already stored is left alone) as a postgres.js fragment with no
 * RETURNING, for a caller that stores blobs in the same statement as rows of its own (a data-modifying WITH: the
 * stage runtime's finish, an upload record): one round trip instead of two. The same statement text for any
 * number of blobs (one prepared statement): their bytes travel as ONE bytea parameter, in binary format, as they
 * are (patches/postgres+3.4.9.patch), cut apart by the server; their CIDs, media types and lengths as JSON.
 * (Unpatched, postgres.js sent bytes as hex text, twice their size, built by the client and parsed by the
 * server: a 120 KB PNG, measured, 1.6 ms client + 2.8 ms server CPU per insert as hex.)
 */
export function insertFragment(
  sql: postgres.Sql,
  blobs: readonly ContentBlobInput[],
): postgres.PendingQuery<postgres.Row[]> {
  let offset = 0;
  const parts = blobs.map((blob) => {
    const part = { cid: blob.cid, media_type: blob.mediaType, at: offset, size: blob.bytes.byteLength };
    offset += blob.bytes.byteLength;
    return part;
  });
  const only = blobs.length === 1 ? blobs[0]?.bytes : undefined;
  const bytes =
    only === undefined
      ? Buffer.concat(blobs.map((blob) => blob.bytes))
      : Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  return sql`INSERT INTO content_blobs (cid, media_type, size_bytes, bytes)
    SELECT b.cid, b.media_type, b.size, substring(${bytes}::bytea FROM b.at + 1 FOR b.size)
    FROM jsonb_to_recordset(${JSON.stringify(parts)}::jsonb) AS b(cid text, media_type text, at int, size int)
    ON CONFLICT (cid) DO NOTHING`;
}

export async function get(tx: Executor, cid: string): Promise<ContentBlob | undefined> {
  const [row] = await tx.select().from(contentBlobs).where(eq(contentBlobs.cid, cid));
  return row;
}

/** Media type and size without reading the bytes. */
export async function getInfo(tx: Executor, cid: string): Promise<ContentBlobInfo | undefined> {
  const [row] = await tx
    .select({
      cid: contentBlobs.cid,
      mediaType: contentBlobs.mediaType,
      sizeBytes: contentBlobs.sizeBytes,
      createdAt: contentBlobs.createdAt,
    })
    .from(contentBlobs)
    .where(eq(contentBlobs.cid, cid));
  return row;
}

export async function exists(tx: Executor, cid: string): Promise<boolean> {
  const rows = await tx.execute(sql`SELECT 1 FROM ${contentBlobs} WHERE ${contentBlobs.cid} = ${cid}`);
  return rows.length > 0;
}

/**
 * Content retention (IPFS_LOCAL_RETENTION_HOURS), with a remote provider: deletes up to `limit` blobs that a
 * remote provider (not `local`, not unknown) has pinned in a completed upload, and that no token still needs:
 * every token whose completed upload holds the blob was revealed more than `retentionHours` ago (database clock),
 * and no token that is not revealed names it as its image (one still in the pipeline, or failed and retryable).
 * Content pinned only by `local` is never deleted: there the store is the pin. Returns the deleted CIDs.
 */
export async function deleteRetired(
  tx: Executor,
  options: { retentionHours: number; limit: number },
): Promise<string[]> {
  const retentionSeconds = options.retentionHours * 3600;
  const rows = await tx.execute<{ cid: string }>(sql`
    DELETE FROM content_blobs WHERE cid IN (
      SELECT b.cid FROM content_blobs b
      WHERE EXISTS (
          SELECT 1 FROM ipfs_upload_records r
          WHERE r.computed_cid = b.cid AND r.status = 'completed'
            AND r.provider IS NOT NULL AND r.provider <> 'local')
        AND NOT EXISTS (
          SELECT 1 FROM ipfs_upload_records r JOIN tokens_s0 t ON t.id = r.token_id
          WHERE r.computed_cid = b.cid AND r.status = 'completed'
            AND (t.status <> 'revealed' OR t.revealed_at IS NULL
                 OR t.revealed_at > now() - make_interval(secs => ${retentionSeconds})))
        AND NOT EXISTS (
          SELECT 1 FROM tokens_s0 t WHERE t.image_cid = b.cid AND t.status <> 'revealed')
      LIMIT ${options.limit})
    RETURNING cid`);
  return rows.map((row) => row.cid);
}

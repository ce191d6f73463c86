// The content store (content_blobs): immutable files keyed by their CID, handed from one stage to the next.
import { eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
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
  const bytes = Buffer.from(blob.bytes.buffer, blob.bytes.byteOffset, blob.bytes.byteLength);
  const rows = await tx
    .insert(contentBlobs)
    .values({ cid: blob.cid, mediaType: blob.mediaType, sizeBytes: bytes.byteLength, bytes })
    .onConflictDoNothing({ target: contentBlobs.cid })
    .returning({ cid: contentBlobs.cid });
  return rows.length > 0;
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

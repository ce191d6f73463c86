import { and, asc, desc, eq, isNotNull, ne, type SQL } from 'drizzle-orm';
import type postgres from 'postgres';
import { sqlOf, type Executor } from '../db/client.js';
import {
  ipfsUploadRecords,
  type ContentMediaType,
  type IpfsRecordType,
  type IpfsUploadRecord,
  type NewIpfsUploadRecord,
} from '../db/schema.js';
import { insertFragment as blobInsert, type ContentBlobInput } from './content-blobs.repository.js';

export type IpfsRecordChanges = Partial<
  Pick<NewIpfsUploadRecord, 'cid' | 'computedCid' | 'status' | 'retryCount' | 'errorData' | 'completedAt'>
>;

export async function add(tx: Executor, record: NewIpfsUploadRecord): Promise<IpfsUploadRecord> {
  const [row] = await tx.insert(ipfsUploadRecords).values(record).returning();
  if (!row) throw new Error('INSERT INTO ipfs_upload_records returned no row');
  return row;
}

export type NewRecord = Pick<
  NewIpfsUploadRecord,
  'tokenRowId' | 'recordType' | 'provider' | 'computedCid' | 'status' | 'retryCount'
> &
  Partial<Pick<NewIpfsUploadRecord, 'cid' | 'errorData' | 'completedAt'>>;

/**
 * Inserts one record and returns its id; with `storeBlob`, stores that blob in the content store in the same
 * statement (a data-modifying WITH: both or neither), one round trip for what the IPFS stage writes together.
 */
export async function addRecord(
  tx: Executor,
  record: NewRecord,
  options: { storeBlob?: ContentBlobInput } = {},
): Promise<string> {
  const [id] = await addRecords(tx, [record], options);
  if (id === undefined) throw new Error('INSERT INTO ipfs_upload_records returned no row');
  return id;
}

/**
 * Inserts records (in order; their ids returned in that order) and, with `storeBlob`, that blob, in ONE prepared
 * statement: a remote upload's first record with the metadata's bytes, or an attempt's local pins when it failed.
 */
export async function addRecords(
  tx: Executor,
  records: readonly NewRecord[],
  options: { storeBlob?: ContentBlobInput } = {},
): Promise<string[]> {
  const sql = sqlOf(tx);
  const stored =
    options.storeBlob === undefined ? sql`` : sql`WITH stored AS (${blobInsert(sql, [options.storeBlob])})`;
  const inserted = await sql<{ id: string }[]>`${stored} ${insertFragment(sql, records)} RETURNING id`;
  return inserted.map((row) => row.id);
}

/**
 * The INSERT of `records` as a postgres.js fragment (no RETURNING): for addRecords, and for the stage runtime's
 * finish, which writes a successful attempt's local pins in its own statement (the IPFS stage's finishRows).
 * Records written together keep their order by created_at (listByToken's): the k-th is stamped k microseconds
 * after the transaction's now().
 */
export function insertFragment(
  sql: postgres.Sql,
  records: readonly NewRecord[],
): postgres.PendingQuery<postgres.Row[]> {
  const rows = JSON.stringify(
    records.map((record, ord) => ({
      ord,
      token_id: record.tokenRowId,
      record_type: record.recordType,
      provider: record.provider,
      computed_cid: record.computedCid,
      cid: record.cid ?? null,
      status: record.status,
      retry_count: record.retryCount,
      error_data: record.errorData ?? null,
      completed_at: record.completedAt?.toISOString() ?? null,
    })),
  );
  return sql`INSERT INTO ipfs_upload_records
      (token_id, record_type, provider, computed_cid, cid, status, retry_count, error_data, completed_at, created_at)
    SELECT token_id, record_type, provider, computed_cid, cid, status, retry_count, error_data, completed_at,
      now() + make_interval(secs => ord / 1e6)
    FROM jsonb_to_recordset(${rows}::jsonb) AS v(ord int, token_id uuid, record_type text, provider text,
      computed_cid text, cid text, status text, retry_count int, error_data jsonb, completed_at timestamptz)
    ORDER BY ord`;
}

/** What the IPFS stage reads before pinning a token, in one statement. */
export type UploadInputs = {
  /** The author's handles; undefined when the author row is missing. */
  author: { twitterHandle: string | null; farcasterHandle: string | null } | undefined;
  /** The image in the content store (its bytes only when asked for); undefined when it is not stored. */
  image: { mediaType: ContentMediaType; bytes: Uint8Array | undefined } | undefined;
  /** The CID a completed upload of this image to this provider answered for the token (findPinned), if any. */
  pinnedImageCid: string | undefined;
};

/** SQL expressions naming a token's row id, its author's id and its image's CID in the statement around. */
export type UploadInputRefs = {
  tokenRowId: postgres.Fragment;
  authorId: postgres.Fragment;
  imageCid: postgres.Fragment;
};

/**
 * The author's handles (authors), the stored image's media type (content_blobs) and an earlier completed image
 * upload of the token to `provider` (as findPinned), as ONE jsonb expression over `refs`: read by uploadInputs,
 * and by the IPFS stage's claim statement itself (TokenStage.claimInputs) so that an attempt starts with them.
 * parseUploadInputs reads it back.
 */
export function uploadInputsJson(
  sql: postgres.Sql,
  refs: UploadInputRefs,
  provider: string,
): postgres.Fragment {
  return sql`(SELECT jsonb_build_object(
      'imageCid', ${refs.imageCid}::text,
      'authorFound', a.id IS NOT NULL, 'twitterHandle', a.twitter_handle, 'farcasterHandle', a.farcaster_handle,
      'mediaType', b.media_type,
      'pinnedCid', (SELECT r.cid FROM ipfs_upload_records r
        WHERE r.token_id = ${refs.tokenRowId} AND r.record_type = 'image' AND r.provider = ${provider}::text
          AND r.computed_cid = ${refs.imageCid} AND r.status = 'completed'
        ORDER BY r.created_at DESC LIMIT 1))
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN authors a ON a.id = ${refs.authorId}
    LEFT JOIN content_blobs b ON b.cid = ${refs.imageCid})`;
}

type UploadInputsRow = {
  imageCid: string | null;
  authorFound: boolean;
  twitterHandle: string | null;
  farcasterHandle: string | null;
  mediaType: ContentMediaType | null;
  pinnedCid: string | null;
};

function isUploadInputsRow(json: unknown): json is UploadInputsRow {
  if (typeof json !== 'object' || json === null) return false;
  const row = json as Record<string, unknown>;
  const textOrNull = (key: string) => row[key] === null || typeof row[key] === 'string';
  return (
    typeof row.authorFound === 'boolean' &&
    ['imageCid', 'twitterHandle', 'farcasterHandle', 'mediaType', 'pinnedCid'].every(textOrNull)
  );
}

/**
 * The inputs in uploadInputsJson's jsonb, for the image `imageCid`; undefined when `json` is not that object or
 * was read for another CID (the claim reads them for the token's image_cid as stored, which may not be the
 * canonical form the stage looks up).
 */
export function parseUploadInputs(
  json: unknown,
  imageCid: string,
  bytes?: Uint8Array,
): UploadInputs | undefined {
  if (!isUploadInputsRow(json) || json.imageCid !== imageCid) return undefined;
  return {
    author: json.authorFound
      ? { twitterHandle: json.twitterHandle, farcasterHandle: json.farcasterHandle }
      : undefined,
    image: json.mediaType === null ? undefined : { mediaType: json.mediaType, bytes },
    pinnedImageCid: json.pinnedCid ?? undefined,
  };
}

/**
 * The three reads of an IPFS attempt (uploadInputsJson), and the image's bytes with `withBytes`, in one round
 * trip (a prepared statement: it runs once per token).
 */
export async function uploadInputs(
  tx: Executor,
  query: { tokenRowId: string; authorId: string; imageCid: string; provider: string; withBytes: boolean },
): Promise<UploadInputs> {
  const sql = sqlOf(tx);
  const refs = {
    tokenRowId: sql`${query.tokenRowId}::uuid`,
    authorId: sql`${query.authorId}::uuid`,
    imageCid: sql`${query.imageCid}::text`,
  };
  const [row] = await sql<{ inputs: unknown; bytes: Buffer | null }[]>`
    SELECT ${uploadInputsJson(sql, refs, query.provider)} AS inputs,
      ${query.withBytes ? sql`(SELECT b.bytes FROM content_blobs b WHERE b.cid = ${query.imageCid})` : sql`NULL::bytea`} AS bytes`;
  const inputs = parseUploadInputs(row?.inputs, query.imageCid, row?.bytes ?? undefined);
  if (inputs === undefined) throw new Error('the IPFS upload inputs query returned no inputs');
  return inputs;
}

export async function getById(tx: Executor, id: string): Promise<IpfsUploadRecord | undefined> {
  const [row] = await tx.select().from(ipfsUploadRecords).where(eq(ipfsUploadRecords.id, id));
  return row;
}

const ofToken = (tokenRowId: string, recordType?: IpfsRecordType): SQL | undefined =>
  and(
    eq(ipfsUploadRecords.tokenRowId, tokenRowId),
    recordType === undefined ? undefined : eq(ipfsUploadRecords.recordType, recordType),
  );

/** Every upload attempt for a token (tokens_s0.id), oldest first, optionally of one record type. */
export async function listByToken(
  tx: Executor,
  tokenRowId: string,
  recordType?: IpfsRecordType,
): Promise<IpfsUploadRecord[]> {
  return tx
    .select()
    .from(ipfsUploadRecords)
    .where(ofToken(tokenRowId, recordType))
    .orderBy(asc(ipfsUploadRecords.createdAt), asc(ipfsUploadRecords.id));
}

export async function getLatestByToken(
  tx: Executor,
  tokenRowId: string,
  recordType?: IpfsRecordType,
): Promise<IpfsUploadRecord | undefined> {
  const [row] = await tx
    .select()
    .from(ipfsUploadRecords)
    .where(ofToken(tokenRowId, recordType))
    .orderBy(desc(ipfsUploadRecords.createdAt), desc(ipfsUploadRecords.id))
    .limit(1);
  return row;
}

export async function update(
  tx: Executor,
  id: string,
  changes: IpfsRecordChanges,
): Promise<IpfsUploadRecord | undefined> {
  const [row] = await tx
    .update(ipfsUploadRecords)
    .set(changes)
    .where(eq(ipfsUploadRecords.id, id))
    .returning();
  return row;
}

/**
 * The CID a completed upload of exactly this content (computed CID) to this provider answered for the token, if
 * any: a retried token does not upload its image again after only its metadata failed.
 */
export async function findPinned(
  tx: Executor,
  query: { tokenRowId: string; recordType: IpfsRecordType; provider: string; computedCid: string },
): Promise<string | undefined> {
  const [row] = await tx
    .select({ cid: ipfsUploadRecords.cid })
    .from(ipfsUploadRecords)
    .where(
      and(
        ofToken(query.tokenRowId, query.recordType),
        eq(ipfsUploadRecords.provider, query.provider),
        eq(ipfsUploadRecords.computedCid, query.computedCid),
        eq(ipfsUploadRecords.status, 'completed'),
      ),
    )
    .orderBy(desc(ipfsUploadRecords.createdAt))
    .limit(1);
  return row?.cid ?? undefined;
}

/**
 * The stored (computed) CID that a provider's CID stands for, when a completed upload answered `providerCid` for
 * content we address differently (the provider laid the same file out another way). Undefined when none did.
 */
export async function storedCidFor(tx: Executor, providerCid: string): Promise<string | undefined> {
  const [row] = await tx
    .select({ computedCid: ipfsUploadRecords.computedCid })
    .from(ipfsUploadRecords)
    .where(
      and(
        eq(ipfsUploadRecords.cid, providerCid),
        eq(ipfsUploadRecords.status, 'completed'),
        isNotNull(ipfsUploadRecords.computedCid),
        ne(ipfsUploadRecords.cid, ipfsUploadRecords.computedCid),
      ),
    )
    .limit(1);
  return row?.computedCid ?? undefined;
}

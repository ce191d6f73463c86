import { and, asc, desc, eq, isNotNull, ne, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import {
  ipfsUploadRecords,
  type IpfsRecordType,
  type IpfsUploadRecord,
  type NewIpfsUploadRecord,
} from '../db/schema.js';

export type IpfsRecordChanges = Partial<
  Pick<NewIpfsUploadRecord, 'cid' | 'computedCid' | 'status' | 'retryCount' | 'errorData' | 'completedAt'>
>;

export async function add(tx: Executor, record: NewIpfsUploadRecord): Promise<IpfsUploadRecord> {
  const [row] = await tx.insert(ipfsUploadRecords).values(record).returning();
  if (!row) throw new Error('INSERT INTO ipfs_upload_records returned no row');
  return row;
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

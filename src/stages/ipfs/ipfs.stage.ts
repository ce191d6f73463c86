// The IPFS stage: a token arrives `uploading` with its image in the content store under image_cid; its image is
// pinned, its metadata document (metadata.ts) is built around the image's pinned CID, serialized once, stored and
// pinned as a dag-pb file (CIDv0-able, for the reveal), and the token leaves `ready` with both CIDs in the
// runtime's one compare-and-set finish. Runs on the stage runtime (src/workers/stage-runner.ts), which claims,
// leases, retries and fails; this file only does the work of one claimed token.
//
// Every upload is one ipfs_upload_records row per attempt and record type. A remote upload's row is written
// `uploading` before the request, then `completed` with the provider's CID or `failed` with the error; the local
// provider's pin (a look at the content store) is recorded once with its outcome. The CID computed here is on the
// row too; when the provider answers another one, the provider's is kept (it is what gateways serve), both are
// recorded and a warning names both. Round trips per token with `local`: none of its own (the author, the image
// and an earlier upload, uploadInputsJson, come with the runtime's claim: claimInputs; both records and the
// metadata's bytes go with the runtime's finish: WorkDone.rows and blobs); the runtime's claim and finish.
import type { Database } from '../../db/client.js';
import type { ContentMediaType, IpfsRecordType, Token } from '../../db/schema.js';
import { STAGES } from '../../domain/stages.js';
import { IpfsProviderError, PermanentStageError } from '../../errors.js';
import { computeCid, toCanonicalCid, type CidLayout } from '../../lib/cid.js';
import { observeProviderCall } from '../../metrics/registry.js';
import {
  imageFileName,
  metadataFileName,
  type IpfsFile,
  type IpfsProvider,
} from '../../providers/ipfs/ipfs-provider.js';
import type { ContentBlobInput } from '../../repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../repositories/ipfs-upload-records.repository.js';
import type { UploadInputs } from '../../repositories/ipfs-upload-records.repository.js';
import type { StageSettings, TokenStage, WorkContext } from '../stage.js';
import { buildMetadata, METADATA_MEDIA_TYPE, serializeMetadata } from './metadata.js';

export type IpfsStageDeps = {
  database: Pick<Database, 'db'>;
  provider: IpfsProvider;
  settings: StageSettings;
};

type Pinned = { cid: string; computedCid: string; reused: boolean };

/**
 * The records of an attempt's local pins (and the metadata's bytes), written together once the attempt's pins are
 * done: by the runtime's finish when it succeeded (done: WorkDone.rows and blobs), in one statement of their own
 * when it failed (write).
 */
type LocalRecords = {
  add: (record: ipfsRecords.NewRecord, storeBlob?: ContentBlobInput) => void;
  write: () => Promise<void>;
  done: () => { rows: ipfsRecords.NewRecord[]; blobs: ContentBlobInput[] };
};

export function createIpfsStage(deps: IpfsStageDeps): TokenStage {
  const { provider } = deps;
  const db = deps.database.db;

  /**
   * Pins one file, with its attempts row; answers the CID to keep. A remote upload is recorded `uploading` before
   * the request (a crash mid-request leaves that row) and updated with its outcome. A local pin is a check of the
   * content store (none when the file is vouched for: IpfsFile.inStore), recorded once with its outcome: its row
   * joins the attempt's `local` list, written by writeLocal in one statement with the others. `storeBlob`:
   * content-store bytes written with the file's first row, in the same statement.
   */
  async function pinWithRecord(
    token: Token,
    recordType: IpfsRecordType,
    file: IpfsFile,
    ctx: WorkContext,
    local: LocalRecords,
    storeBlob?: ContentBlobInput,
  ): Promise<Pinned> {
    const base = {
      tokenRowId: token.id,
      recordType,
      provider: provider.name,
      computedCid: file.cid,
      retryCount: Math.max(0, token.uploadAttempts - 1),
    };
    const recordId = provider.remote
      ? await ipfsRecords.addRecord(db, { ...base, status: 'uploading' }, { storeBlob })
      : undefined;
    let answered: string;
    try {
      ({ cid: answered } = await observeProviderCall(provider.name, `pin_${recordType}`, () =>
        provider.pin(file, ctx.signal),
      ));
    } catch (error) {
      const failed = {
        status: 'failed',
        errorData: describeFailure(error),
        completedAt: new Date(),
      } as const;
      if (recordId === undefined) local.add({ ...base, ...failed }, storeBlob);
      else await ipfsRecords.update(db, recordId, failed);
      throw error;
    }
    const completed = { status: 'completed', cid: answered, completedAt: new Date() } as const;
    if (recordId === undefined) local.add({ ...base, ...completed }, storeBlob);
    else await ipfsRecords.update(db, recordId, completed);
    if (answered !== file.cid) {
      ctx.log.warn('ipfs.cid_mismatch', {
        tokenId: token.tokenId,
        recordType,
        provider: provider.name,
        computedCid: file.cid,
        providerCid: answered,
        kept: 'provider',
      });
    }
    return { cid: answered, computedCid: file.cid, reused: false };
  }

  async function pinImage(
    token: Token,
    cid: string,
    inputs: UploadInputs,
    ctx: WorkContext,
    local: LocalRecords,
  ): Promise<Pinned> {
    // The image was uploaded to this provider by an earlier attempt whose metadata failed: not again.
    if (inputs.pinnedImageCid !== undefined)
      return { cid: inputs.pinnedImageCid, computedCid: cid, reused: true };
    if (inputs.image === undefined) {
      throw new PermanentStageError(
        'IMAGE_BYTES_MISSING',
        `the image ${cid} of token ${token.tokenId} is not in the content store; generate it again`,
      );
    }
    // Only a remote provider needs the bytes (read with the inputs); the local one pins what the store holds.
    const bytes = inputs.image.bytes ?? new Uint8Array(0);
    const file = { ...fileOf(token, 'raw-leaves', cid, inputs.image.mediaType, bytes), inStore: true };
    return pinWithRecord(token, 'image', file, ctx, local);
  }

  async function pinMetadata(
    token: Token,
    imageCid: string,
    author: NonNullable<UploadInputs['author']>,
    ctx: WorkContext,
    local: LocalRecords,
  ): Promise<Pinned> {
    const bytes = serializeMetadata(
      buildMetadata({
        tokenId: token.tokenId,
        imageCid,
        twitterHandle: author.twitterHandle,
        farcasterHandle: author.farcasterHandle,
      }),
    );
    const cid = await computeCid(bytes, 'dag-pb');
    // Stored whatever the provider (the gateway serves it; with `local` this row is the pin), with the record's
    // first write: before a remote request, and in the same statement as a local pin's record.
    const blob = { cid, mediaType: METADATA_MEDIA_TYPE, bytes } as const;
    const file = { ...fileOf(token, 'dag-pb', cid, METADATA_MEDIA_TYPE, bytes), inStore: true };
    return pinWithRecord(token, 'metadata', file, ctx, local, blob);
  }

  function localRecords(): LocalRecords {
    const records: ipfsRecords.NewRecord[] = [];
    let blob: ContentBlobInput | undefined;
    return {
      add: (record, storeBlob) => {
        if (storeBlob !== undefined && blob !== undefined) throw new Error('one stored file per attempt');
        records.push(record);
        blob ??= storeBlob;
      },
      write: async () => {
        if (records.length === 0) return;
        await ipfsRecords.addRecords(db, records.splice(0), { storeBlob: blob });
      },
      done: () => ({ rows: records.splice(0), blobs: blob === undefined ? [] : [blob] }),
    };
  }

  return {
    mode: 'token',
    definition: STAGES.ipfs,
    settings: deps.settings,
    // The reads of an attempt, done by the claim statement for the token's image_cid as stored. A remote provider
    // also needs the image's bytes, so its claim reads nothing and its work reads all of it in one statement; a
    // stored CID that is not the canonical form is looked up by that form: then the work reads them itself too.
    claimInputs: provider.remote
      ? undefined
      : (sql) =>
          ipfsRecords.uploadInputsJson(
            sql,
            { tokenRowId: sql`c.id`, authorId: sql`c.author_id`, imageCid: sql`c.image_cid` },
            provider.name,
          ),
    work: async (token, ctx, claimInputs) => {
      if (token.imageCid === null) {
        throw new PermanentStageError(
          'IMAGE_CID_MISSING',
          `token ${token.tokenId} is uploading without image_cid`,
        );
      }
      const imageCid = toCanonicalCid(token.imageCid);
      const inputs =
        ipfsRecords.parseUploadInputs(claimInputs, imageCid) ??
        (await ipfsRecords.uploadInputs(db, {
          tokenRowId: token.id,
          authorId: token.authorId,
          imageCid,
          provider: provider.name,
          withBytes: provider.remote,
        }));
      const local = localRecords();
      let image: Pinned;
      let metadata: Pinned;
      try {
        image = await pinImage(token, imageCid, inputs, ctx, local);
        if (inputs.author === undefined) {
          throw new PermanentStageError(
            'AUTHOR_MISSING',
            `the author of token ${token.tokenId} does not exist`,
          );
        }
        metadata = await pinMetadata(token, image.cid, inputs.author, ctx, local);
      } catch (error) {
        // The local pins made before the failure are recorded all the same (a failing write fails the attempt).
        await local.write();
        throw error;
      }
      ctx.note({ imageReused: image.reused });
      ctx.log.debug('ipfs.pinned', {
        tokenId: token.tokenId,
        provider: provider.name,
        imageCid: image.cid,
        metadataCid: metadata.cid,
      });
      return { changes: { imageCid: image.cid, metadataCid: metadata.cid }, ...local.done() };
    },
    // The rows of a WorkDone are only ever the NewRecords of this stage's own work (LocalRecords.done).
    finishRows: (sql, rows) => ipfsRecords.insertFragment(sql, rows as readonly ipfsRecords.NewRecord[]),
  };
}

function fileOf(
  token: Token,
  layout: CidLayout,
  cid: string,
  mediaType: ContentMediaType,
  bytes: Uint8Array,
): IpfsFile {
  return {
    bytes,
    mediaType,
    fileName:
      layout === 'raw-leaves' ? imageFileName(token.tokenId, mediaType) : metadataFileName(token.tokenId),
    layout,
    cid,
    tokenId: token.tokenId,
  };
}

function describeFailure(error: unknown): { code: string; message: string; [key: string]: unknown } {
  if (error instanceof IpfsProviderError) {
    return {
      code: error.code,
      message: error.message,
      class: error.errorClass,
      ...(error.providerStatus === undefined ? {} : { providerStatus: error.providerStatus }),
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    };
  }
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
}

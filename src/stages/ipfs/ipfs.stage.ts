// The IPFS stage: a token arrives `uploading` with its image in the content store under image_cid; its image is
// pinned, its metadata document (metadata.ts) is built around the image's pinned CID, serialized once, stored and
// pinned as a dag-pb file (CIDv0-able, for the reveal), and the token leaves `ready` with both CIDs in the
// runtime's one compare-and-set finish. Runs on the stage runtime (src/workers/stage-runner.ts), which claims,
// leases, retries and fails; this file only does the work of one claimed token.
//
// Every upload is one ipfs_upload_records row per attempt and record type: `uploading` before the request,
// then `completed` with the provider's CID or `failed` with the error. The CID computed here is on the row too;
// when the provider answers another one, the provider's is kept (it is what gateways serve), both are recorded
// and a warning names both.
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
import * as authorsRepository from '../../repositories/authors.repository.js';
import * as contentBlobs from '../../repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../repositories/ipfs-upload-records.repository.js';
import type { StageSettings, TokenStage, WorkContext } from '../stage.js';
import { buildMetadata, METADATA_MEDIA_TYPE, serializeMetadata } from './metadata.js';

export type IpfsStageDeps = {
  database: Pick<Database, 'db'>;
  provider: IpfsProvider;
  settings: StageSettings;
};

type Pinned = { cid: string; computedCid: string; reused: boolean };

export function createIpfsStage(deps: IpfsStageDeps): TokenStage {
  const { provider } = deps;
  const db = deps.database.db;

  /** Pins one file, with its attempts row; answers the CID to keep. */
  async function pinWithRecord(
    token: Token,
    recordType: IpfsRecordType,
    file: IpfsFile,
    ctx: WorkContext,
  ): Promise<Pinned> {
    const record = await ipfsRecords.add(db, {
      tokenRowId: token.id,
      recordType,
      provider: provider.name,
      computedCid: file.cid,
      status: 'uploading',
      retryCount: Math.max(0, token.uploadAttempts - 1),
    });
    let answered: string;
    try {
      ({ cid: answered } = await observeProviderCall(provider.name, `pin_${recordType}`, () =>
        provider.pin(file, ctx.signal),
      ));
    } catch (error) {
      await ipfsRecords.update(db, record.id, {
        status: 'failed',
        errorData: describeFailure(error),
        completedAt: new Date(),
      });
      throw error;
    }
    await ipfsRecords.update(db, record.id, { status: 'completed', cid: answered, completedAt: new Date() });
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

  async function pinImage(token: Token, ctx: WorkContext): Promise<Pinned> {
    if (token.imageCid === null) {
      throw new PermanentStageError(
        'IMAGE_CID_MISSING',
        `token ${token.tokenId} is uploading without image_cid`,
      );
    }
    const cid = toCanonicalCid(token.imageCid);
    // The image was uploaded to this provider by an earlier attempt whose metadata failed: not again.
    const earlier = await ipfsRecords.findPinned(db, {
      tokenRowId: token.id,
      recordType: 'image',
      provider: provider.name,
      computedCid: cid,
    });
    if (earlier !== undefined) return { cid: earlier, computedCid: cid, reused: true };
    // Only a remote provider needs the bytes; the local one pins what the store already holds.
    const blob = provider.remote
      ? await contentBlobs.get(db, cid)
      : await contentBlobs.getInfo(db, cid).then((info) => info && { ...info, bytes: new Uint8Array(0) });
    if (blob === undefined) {
      throw new PermanentStageError(
        'IMAGE_BYTES_MISSING',
        `the image ${cid} of token ${token.tokenId} is not in the content store; generate it again`,
      );
    }
    const file = fileOf(token, 'raw-leaves', cid, blob.mediaType, blob.bytes);
    return pinWithRecord(token, 'image', file, ctx);
  }

  async function pinMetadata(token: Token, imageCid: string, ctx: WorkContext): Promise<Pinned> {
    const author = await authorsRepository.getById(db, token.authorId);
    if (author === undefined) {
      throw new PermanentStageError('AUTHOR_MISSING', `the author of token ${token.tokenId} does not exist`);
    }
    const bytes = serializeMetadata(
      buildMetadata({
        tokenId: token.tokenId,
        imageCid,
        twitterHandle: author.twitterHandle,
        farcasterHandle: author.farcasterHandle,
      }),
    );
    const cid = await computeCid(bytes, 'dag-pb');
    // Stored whatever the provider: the gateway serves it, and with `local` this row is the pin.
    await contentBlobs.put(db, { cid, mediaType: METADATA_MEDIA_TYPE, bytes });
    return pinWithRecord(token, 'metadata', fileOf(token, 'dag-pb', cid, METADATA_MEDIA_TYPE, bytes), ctx);
  }

  return {
    mode: 'token',
    definition: STAGES.ipfs,
    settings: deps.settings,
    work: async (token, ctx) => {
      const image = await pinImage(token, ctx);
      const metadata = await pinMetadata(token, image.cid, ctx);
      ctx.note({ imageReused: image.reused });
      ctx.log.debug('ipfs.pinned', {
        tokenId: token.tokenId,
        provider: provider.name,
        imageCid: image.cid,
        metadataCid: metadata.cid,
      });
      return { imageCid: image.cid, metadataCid: metadata.cid };
    },
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

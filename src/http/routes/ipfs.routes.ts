// GET and HEAD /ipfs/{cid}: a read-only IPFS gateway over the content store, so that with IPFS_PROVIDER=local the
// ipfs:// links of a ready token (its metadata, the image the metadata names) can be followed here. Content is
// addressed by its CID, so it never changes: ETag is the CID, caching is immutable, ranges are plain byte ranges.
// A CID that a remote provider answered for content we address differently (it laid the same file out another
// way, and the token keeps its CID) is served too: the token's ipfs:// links work here whatever the provider.
import type { Request } from 'express';
import { z } from '../../lib/zod.js';
import type { ContentBlobInfo } from '../../repositories/content-blobs.repository.js';
import type { UnitOfWork } from '../../repositories/unit-of-work.js';
import { NotFoundError } from '../../errors.js';
import { isCid, toCanonicalCid } from '../../lib/cid.js';
import { BinaryBody, defineRoute, type RouteFactory } from '../route.js';

// What public IPFS gateways send for /ipfs/ paths: one year, never revalidated.
const IMMUTABLE = 'public, max-age=29030400, immutable';

const CidParams = z.object({
  cid: z
    .string()
    .max(200)
    .refine(isCid, 'expected a CID: CIDv0 (Qm..., 46 characters) or CIDv1 (bafy..., bafk...)')
    .openapi({ example: 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4' }),
});

const NOT_FOUND = 'CONTENT_NOT_FOUND: no content with this CID is stored here.';

/**
 * The canonical CID under which the content named `cid` is stored: `cid` itself, or the content a provider
 * answered `cid` for. Undefined when neither is stored (unknown, or dropped after IPFS_LOCAL_RETENTION_HOURS).
 */
export async function storedCidServing(
  repos: Pick<UnitOfWork, 'contentBlobs' | 'ipfsRecords'>,
  cid: string,
): Promise<string | undefined> {
  const canonical = toCanonicalCid(cid);
  if (await repos.contentBlobs.exists(canonical)) return canonical;
  const stored = await repos.ipfsRecords.storedCidFor(canonical);
  return stored !== undefined && (await repos.contentBlobs.exists(stored)) ? stored : undefined;
}

function notFound(cid: string): NotFoundError {
  return new NotFoundError('CONTENT_NOT_FOUND', `No content ${cid} is stored here`);
}

type Answer =
  | { status: 200 | 206; headers: Record<string, string>; body: Uint8Array }
  | { status: 304 | 416; headers: Record<string, string> };

/**
 * The answer for stored content, from the request's conditional and range headers. `bytes` is undefined for
 * HEAD: the headers are the same, the body is not read.
 */
function answer(req: Request, cid: string, info: ContentBlobInfo, bytes: Uint8Array | undefined): Answer {
  const etag = `"${cid}"`;
  const headers: Record<string, string> = {
    'Content-Type': info.mediaType,
    ETag: etag,
    'Cache-Control': IMMUTABLE,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'X-Ipfs-Path': `/ipfs/${cid}`,
  };
  if (matchesAny(req.get('if-none-match'), etag)) return { status: 304, headers };

  const size = info.sizeBytes;
  const ifRange = req.get('if-range');
  // Express's range parser: undefined without a Range header, -1 unsatisfiable, -2 malformed (ignored: 200).
  const ranges = ifRange === undefined || ifRange === etag ? req.range(size, { combine: true }) : undefined;
  if (ranges === -1) {
    return { status: 416, headers: { ...headers, 'Content-Range': `bytes */${size}` } };
  }
  // One range is answered 206; several (rare for a gateway) get the whole content, which RFC 9110 allows.
  const range =
    Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1 ? ranges[0] : undefined;
  if (range !== undefined) {
    const length = range.end - range.start + 1;
    return {
      status: 206,
      headers: {
        ...headers,
        'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
        'Content-Length': String(length),
      },
      body: bytes === undefined ? new Uint8Array(0) : bytes.subarray(range.start, range.end + 1),
    };
  }
  return {
    status: 200,
    headers: { ...headers, 'Content-Length': String(size) },
    body: bytes ?? new Uint8Array(0),
  };
}

/** If-None-Match: `*` or a list of entity tags, weak ones compared weakly (RFC 9110 section 13.1.2). */
function matchesAny(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

const contract = {
  path: '/ipfs/{cid}',
  tags: ['ipfs'],
  params: CidParams,
  description:
    'Content stored by the pipeline (images, metadata JSON), by CIDv0 or CIDv1. `ETag` is the CID, ' +
    '`Cache-Control` immutable; `If-None-Match` answers 304; one `Range` answers 206 (unsatisfiable: 416).',
  errors: { 404: NOT_FOUND },
} as const;

export const ipfsRoutes: RouteFactory = () => [
  // HEAD first: Express would otherwise answer HEAD with the GET route (and read the bytes for nothing).
  defineRoute({
    ...contract,
    method: 'head',
    operationId: 'headIpfsContent',
    summary: 'Headers of stored content (no body)',
    responses: {
      200: { description: 'Stored: its media type, length and ETag.' },
      206: { description: 'The range is satisfiable.' },
      304: { description: 'Not modified: If-None-Match names this CID.' },
      416: { description: 'The range lies beyond the content.' },
    },
  }).handle(async ({ params, uow, req }) => {
    const repos = await uow();
    const stored = await storedCidServing(repos, params.cid);
    const info = stored === undefined ? undefined : await repos.contentBlobs.getInfo(stored);
    if (info === undefined) throw notFound(params.cid);
    const { status, headers } = answer(req, params.cid, info, undefined);
    return { status, headers };
  }),
  defineRoute({
    ...contract,
    method: 'get',
    operationId: 'getIpfsContent',
    summary: 'Stored content by its CID (IPFS gateway)',
    responses: {
      200: { description: 'The content, with its media type.', schema: BinaryBody, contentType: '*/*' },
      206: { description: 'The requested byte range.', schema: BinaryBody, contentType: '*/*' },
      304: { description: 'Not modified: If-None-Match names this CID.' },
      416: { description: 'The range lies beyond the content (Content-Range: bytes */size).' },
    },
  }).handle(async ({ params, uow, req }) => {
    const repos = await uow();
    const stored = await storedCidServing(repos, params.cid);
    const blob = stored === undefined ? undefined : await repos.contentBlobs.get(stored);
    if (blob === undefined) throw notFound(params.cid);
    return answer(req, params.cid, blob, blob.bytes);
  }),
];

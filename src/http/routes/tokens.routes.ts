// GET /api/tokens and GET /api/tokens/{tokenId}: the tokens as the pipeline sees them. Rows are mapped field by
// field (no internal column such as the lease ever leaves), timestamps as ISO 8601 UTC.
import { z } from '../../lib/zod.js';
import { coercedIntFor, notStored } from '../../db/column-ranges.js';
import { TOKEN_STATUSES, tokens as tokensTable } from '../../db/schema.js';
import { NotFoundError } from '../../errors.js';
import { isCid } from '../../lib/cid.js';
import type { TokenWithAuthor } from '../../repositories/tokens.repository.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';
import { storedCidServing } from './ipfs.routes.js';

const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x address (40 hex digits)');
const Cid = z.string().openapi({ example: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi' });

export const TokenSchema = z
  .object({
    tokenId: z.int().min(1).openapi({ example: 42 }),
    status: z.enum(TOKEN_STATUSES),
    authorWallet: Address.openapi({ example: '0xA11CE00000000000000000000000000000000A11' }),
    minterAddress: Address,
    mintTimestamp: IsoTimestamp.describe('Time of the block that minted the token.'),
    imageCid: Cid.nullable(),
    metadataCid: Cid.nullable(),
    attempts: z.object({ generation: z.int(), upload: z.int(), reveal: z.int() }),
    lastError: z
      .object({ code: z.string(), message: z.string(), at: IsoTimestamp.optional() })
      .nullable()
      .describe('The last error of any stage, or null.'),
    revealTxHash: z.string().nullable(),
    revealedAt: IsoTimestamp.nullable(),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
  })
  .openapi('Token');

const GatewayPath = z
  .string()
  .openapi({ example: '/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4' });

export const TokenDetailSchema = TokenSchema.extend({
  imageUrl: GatewayPath.nullable().describe(
    "The image on this service's IPFS gateway, or null when not stored here.",
  ),
  metadataUrl: GatewayPath.nullable().describe(
    "The metadata JSON on this service's IPFS gateway, or null when not stored here.",
  ),
}).openapi('TokenDetail');

export const TokenPage = z
  .object({
    items: z.array(TokenSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` for the next (older) page; null on the last page.'),
  })
  .openapi('TokenPage');

const ListQuery = z.object({
  status: z.enum(TOKEN_STATUSES).optional(),
  author: Address.optional().describe('Author wallet, compared case-insensitively.'),
  // A token id: the page starts below it.
  cursor: coercedIntFor(tokensTable.tokenId, { min: 1 })
    .optional()
    .describe('nextCursor of the previous page.'),
  limit: notStored(z.coerce.number().int().min(1).max(100), 'a page size').default(20),
});

export const TokenParams = z.object({
  tokenId: coercedIntFor(tokensTable.tokenId, { min: 1 }).describe('The on-chain token id.'),
});

export function toTokenResponse(row: TokenWithAuthor): z.input<typeof TokenSchema> {
  const error = row.errorData;
  return {
    tokenId: row.tokenId,
    status: row.status,
    authorWallet: row.authorWallet,
    minterAddress: row.minterAddress,
    mintTimestamp: row.mintTimestamp.toISOString(),
    imageCid: row.imageCid,
    metadataCid: row.metadataCid,
    attempts: { generation: row.generationAttempts, upload: row.uploadAttempts, reveal: row.revealAttempts },
    lastError:
      error === null
        ? null
        : {
            code: error.code,
            message: error.message,
            ...(typeof error.at === 'string' ? { at: new Date(error.at).toISOString() } : {}),
          },
    revealTxHash: row.revealTxHash,
    revealedAt: row.revealedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export const tokensRoutes: RouteFactory = () => [
  defineRoute({
    method: 'get',
    path: '/api/tokens',
    operationId: 'listTokens',
    summary: 'List tokens, newest first',
    description: 'Filter by status and author wallet; page with `cursor` (keyset on token id, newest first).',
    tags: ['tokens'],
    query: ListQuery,
    responses: { 200: { description: 'One page of tokens.', schema: TokenPage } },
  }).handle(async ({ query, uow }) => {
    const { tokens } = await uow();
    // One extra row tells whether another page follows without a count query.
    const rows = await tokens.listPage({
      limit: query.limit + 1,
      beforeTokenId: query.cursor,
      status: query.status,
      authorWallet: query.author,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      status: 200,
      body: {
        items: page.map(toTokenResponse),
        nextCursor: rows.length > query.limit && last !== undefined ? String(last.tokenId) : null,
      },
    };
  }),
  defineRoute({
    method: 'get',
    path: '/api/tokens/{tokenId}',
    operationId: 'getToken',
    summary: 'One token by its on-chain id',
    tags: ['tokens'],
    params: TokenParams,
    description: 'With the `/ipfs/{cid}` gateway links of its image and metadata when they are stored here.',
    responses: { 200: { description: 'The token.', schema: TokenDetailSchema } },
    errors: { 404: 'TOKEN_NOT_FOUND: no token with this id has been detected.' },
  }).handle(async ({ params, uow }) => {
    const repos = await uow();
    const row = await repos.tokens.getWithAuthorByTokenId(params.tokenId);
    if (row === undefined) {
      throw new NotFoundError('TOKEN_NOT_FOUND', `Token ${params.tokenId} has not been detected`);
    }
    // A CID is linked only when the gateway can serve it (a remote provider's bytes expire after the reveal).
    const gatewayPath = async (cid: string | null) =>
      cid !== null && isCid(cid) && (await storedCidServing(repos, cid)) !== undefined
        ? `/ipfs/${cid}`
        : null;
    return {
      status: 200,
      body: {
        ...toTokenResponse(row),
        imageUrl: await gatewayPath(row.imageCid),
        metadataUrl: await gatewayPath(row.metadataCid),
      },
    };
  }),
];

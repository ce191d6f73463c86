// GET /api/mint-events: the BatchMinted events recorded, by block range, in chain order.
import { z } from '../../lib/zod.js';
import { coercedIntFor, notStored } from '../../db/column-ranges.js';
import { mintEvents, type MintEvent } from '../../db/schema.js';
import { ValidationError } from '../../errors.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';

export const MintEventSchema = z
  .object({
    txHash: z.string().openapi({ example: `0x${'ab'.repeat(32)}` }),
    logIndex: z.int().min(0),
    blockNumber: z.int().min(1),
    blockTimestamp: IsoTimestamp,
    startTokenId: z.int().min(1),
    quantity: z.int().min(1).max(50),
    minterAddress: z.string(),
    authorWallet: z.string(),
    totalPaidWei: z.string().regex(/^\d+$/).describe('msg.value of the mint in wei, as a decimal string.'),
    detectedAt: IsoTimestamp,
  })
  .openapi('MintEvent');

const MintEventList = z.object({ items: z.array(MintEventSchema) }).openapi('MintEventList');

const block = coercedIntFor(mintEvents.blockNumber, { min: 0 });

const RangeQuery = z.object({
  fromBlock: block.default(0).describe('First block, included.'),
  toBlock: block.optional().describe('Last block, included; default: no upper bound.'),
  limit: notStored(z.coerce.number().int().min(1).max(1000), 'a page size').default(100),
});

function toMintEventResponse(row: MintEvent): z.input<typeof MintEventSchema> {
  return {
    txHash: row.txHash,
    logIndex: row.logIndex,
    blockNumber: row.blockNumber,
    blockTimestamp: row.blockTimestamp.toISOString(),
    startTokenId: row.startTokenId,
    quantity: row.quantity,
    minterAddress: row.minterAddress,
    authorWallet: row.authorWallet,
    totalPaidWei: row.totalPaidWei,
    detectedAt: row.detectedAt.toISOString(),
  };
}

export const mintEventsRoutes: RouteFactory = () => [
  defineRoute({
    method: 'get',
    path: '/api/mint-events',
    operationId: 'listMintEvents',
    summary: 'Mint events of a block range, in chain order',
    tags: ['mint events'],
    query: RangeQuery,
    responses: { 200: { description: 'The events, at most `limit`.', schema: MintEventList } },
  }).handle(async ({ query, uow }) => {
    const toBlock = query.toBlock ?? Number.MAX_SAFE_INTEGER;
    if (query.fromBlock > toBlock) {
      throw new ValidationError('Invalid request query: fromBlock is after toBlock', [
        { path: 'query.fromBlock', code: 'too_big', message: 'fromBlock must not be after toBlock' },
      ]);
    }
    const { mintEvents } = await uow();
    const rows = await mintEvents.listByBlockRange({
      fromBlock: query.fromBlock,
      toBlock,
      limit: query.limit,
    });
    return { status: 200, body: { items: rows.map(toMintEventResponse) } };
  }),
];

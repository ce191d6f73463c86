// GET /api/reveal-transactions: the reveal batches for operators, newest first: status, tokens, the hash of every
// signed attempt (the first send and each replacement), gas used and fees. Mapped field by field: the signed
// bytes stay in the database, and nothing here can carry the keeper's key (it is never stored).
import { z } from '../../lib/zod.js';
import { notStored } from '../../db/column-ranges.js';
import { REVEAL_ATTEMPT_STATUSES, REVEAL_TX_STATUSES } from '../../db/schema.js';
import type { RevealAttempt } from '../../db/schema.js';
import type { RevealTransactionWithTokens } from '../../repositories/reveal-transactions.repository.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';

const TxHash = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/)
  .openapi({ example: `0x${'ab'.repeat(32)}` });
const Wei = z.string().regex(/^\d+$/).describe('An amount in wei, as a decimal string.');

const RevealAttemptSchema = z
  .object({
    bump: z.int().min(0).describe('0 for the first send, 1.. for each same-nonce replacement.'),
    txHash: TxHash,
    status: z.enum(REVEAL_ATTEMPT_STATUSES),
    maxFeePerGasWei: Wei,
    maxPriorityFeePerGasWei: Wei,
    gasLimit: z.int().min(1),
    broadcastError: z
      .object({ code: z.string(), message: z.string() })
      .nullable()
      .describe("The node's last refusal of these bytes, raw text kept."),
    createdAt: IsoTimestamp,
    broadcastAt: IsoTimestamp.nullable(),
  })
  .openapi('RevealAttempt');

const RevealTransactionSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(REVEAL_TX_STATUSES),
    keeperAddress: z.string().nullable(),
    tokenIds: z.array(z.int().min(1)).describe('On-chain ids of the batch, ascending.'),
    nonce: z.int().min(0).nullable(),
    txHash: TxHash.nullable().describe('The hash that landed (confirmed, reverted) or the latest one sent.'),
    blockNumber: z.int().min(1).nullable(),
    gasUsed: z.int().min(0).nullable(),
    effectiveGasPriceGwei: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    attempts: z.array(RevealAttemptSchema),
    createdAt: IsoTimestamp,
    sentAt: IsoTimestamp.nullable(),
    confirmedAt: IsoTimestamp.nullable(),
  })
  .openapi('RevealTransaction');

const RevealTransactionPage = z
  .object({
    items: z.array(RevealTransactionSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` for the next (older) page; null on the last page.'),
  })
  .openapi('RevealTransactionPage');

const ListQuery = z.object({
  status: z.enum(REVEAL_TX_STATUSES).optional(),
  cursor: z
    .uuid('expected the nextCursor of a previous page')
    .optional()
    .describe('nextCursor of the previous page.'),
  limit: notStored(z.coerce.number().int().min(1).max(100), 'a page size').default(20),
});

function toAttempt(row: RevealAttempt): z.input<typeof RevealAttemptSchema> {
  return {
    bump: row.bump,
    txHash: row.txHash,
    status: row.status,
    maxFeePerGasWei: row.maxFeePerGasWei,
    maxPriorityFeePerGasWei: row.maxPriorityFeePerGasWei,
    gasLimit: row.gasLimit,
    broadcastError:
      row.broadcastError === null
        ? null
        : { code: row.broadcastError.code, message: row.broadcastError.message },
    createdAt: row.createdAt.toISOString(),
    broadcastAt: row.broadcastAt?.toISOString() ?? null,
  };
}

function toRevealTransaction(
  row: RevealTransactionWithTokens,
  attempts: readonly RevealAttempt[],
): z.input<typeof RevealTransactionSchema> {
  return {
    id: row.id,
    status: row.status,
    keeperAddress: row.keeperAddress,
    tokenIds: row.onChainTokenIds,
    nonce: row.nonce,
    txHash: row.txHash,
    blockNumber: row.blockNumber,
    gasUsed: row.gasUsed,
    effectiveGasPriceGwei: row.gasPriceGwei,
    error: row.errorData === null ? null : { code: row.errorData.code, message: row.errorData.message },
    attempts: attempts.map(toAttempt),
    createdAt: row.createdAt.toISOString(),
    sentAt: row.sentAt?.toISOString() ?? null,
    confirmedAt: row.confirmedAt?.toISOString() ?? null,
  };
}

export const revealTransactionsRoutes: RouteFactory = () => [
  defineRoute({
    method: 'get',
    path: '/api/reveal-transactions',
    operationId: 'listRevealTransactions',
    summary: 'Reveal batches with every signed attempt, newest first',
    tags: ['reveal'],
    query: ListQuery,
    responses: { 200: { description: 'A page of reveal batches.', schema: RevealTransactionPage } },
  }).handle(async ({ query, uow }) => {
    const { revealTransactions, revealAttempts } = await uow();
    const rows = await revealTransactions.listPageWithTokens({
      limit: query.limit + 1,
      status: query.status,
      beforeId: query.cursor,
    });
    const page = rows.slice(0, query.limit);
    const attempts = await revealAttempts.listByTransactions(page.map((r) => r.id));
    const last = page.at(-1);
    return {
      status: 200,
      body: {
        items: page.map((row) =>
          toRevealTransaction(
            row,
            attempts.filter((a) => a.revealTransactionId === row.id),
          ),
        ),
        nextCursor: rows.length > query.limit && last !== undefined ? last.id : null,
      },
    };
  }),
];

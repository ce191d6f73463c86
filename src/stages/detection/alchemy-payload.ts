// The part of an Alchemy custom (GraphQL "block") webhook delivery that the backend reads (domain.md section 4).
// Fields we do not read are allowed and ignored; the ones we read must have exactly the expected shape, so that a
// malformed delivery is refused as a whole (400, nothing written) rather than half processed.
import { z } from '../../lib/zod.js';
import { intFor, notStored, secondsFor } from '../../db/column-ranges.js';
import { mintEvents } from '../../db/schema.js';

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected 0x and 64 hex characters');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected 0x and 40 hex characters');
const hexData = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'expected 0x and an even number of hex characters');

const transactionFields = {
  hash: hex32,
  // 1 success, 0 reverted (a reverted transaction keeps no logs, but a forged payload may say otherwise).
  status: notStored(z.number().int().min(0).max(1), 'only status 1 is ingested'),
};

const logFields = {
  account: z.looseObject({ address }),
  // An EVM log has at most four topics; anonymous events may have none.
  topics: z.array(hex32).max(4),
  data: hexData,
  index: intFor(mintEvents.logIndex, { min: 0 }),
  // Only present when the block was re-orged away; absent means a canonical log.
  removed: z.boolean().optional(),
};

/** A log of the block-shaped query (`block { logs { ... transaction { hash status } } }`). */
export const alchemyLogSchema = z.looseObject({
  ...logFields,
  transaction: z.looseObject(transactionFields),
});

/** A transaction of the transaction-shaped query (`block { transactions { hash status logs { ... } } }`). */
const alchemyTransactionSchema = z.looseObject({
  ...transactionFields,
  logs: z.array(z.looseObject(logFields)),
});

export const alchemyWebhookSchema = z.looseObject({
  webhookId: z.string().min(1),
  id: z.string().min(1),
  createdAt: z.string().min(1),
  type: z.literal('GRAPHQL'),
  event: z.looseObject({
    data: z.looseObject({
      block: z
        .looseObject({
          // Absent from Alchemy's heartbeat (a block whose query result is empty); required with logs.
          number: intFor(mintEvents.blockNumber, { min: 1 }).optional(),
          // Seconds since the epoch, as the block header has it.
          timestamp: secondsFor(mintEvents.blockTimestamp).optional(),
          logs: z.array(alchemyLogSchema).optional(),
          transactions: z.array(alchemyTransactionSchema).optional(),
        })
        .superRefine((block, ctx) => {
          if (block.logs === undefined && block.transactions === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['logs'],
              message:
                'expected logs (block-shaped query) or transactions (transaction-shaped query); register the query given in the README',
            });
            return;
          }
          const logs =
            (block.logs?.length ?? 0) + (block.transactions ?? []).reduce((n, t) => n + t.logs.length, 0);
          if (logs === 0) return;
          for (const field of ['number', 'timestamp'] as const) {
            if (block[field] === undefined) {
              ctx.addIssue({
                code: 'custom',
                path: [field],
                message: `required when the block has logs (register the query given in the README)`,
              });
            }
          }
        }),
    }),
  }),
});

export type AlchemyLog = z.infer<typeof alchemyLogSchema>;
export type AlchemyWebhook = z.infer<typeof alchemyWebhookSchema>;

/** A log of either query shape, with its transaction and the path it has in the delivery. */
export type LocatedLog = { log: AlchemyLog; path: string };

/** Every log of a delivery, whichever query shape it came in (both may be present; block logs first). */
export function deliveryLogs(payload: AlchemyWebhook): LocatedLog[] {
  const { block } = payload.event.data;
  const out: LocatedLog[] = (block.logs ?? []).map((log, i) => ({ log, path: `event.data.block.logs.${i}` }));
  (block.transactions ?? []).forEach((transaction, t) => {
    transaction.logs.forEach((log, i) => {
      out.push({
        log: { ...log, transaction: { hash: transaction.hash, status: transaction.status } },
        path: `event.data.block.transactions.${t}.logs.${i}`,
      });
    });
  });
  return out;
}

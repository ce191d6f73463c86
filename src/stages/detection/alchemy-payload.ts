// The part of an Alchemy custom (GraphQL "block") webhook delivery that the backend reads (domain.md section 4).
// Fields we do not read are allowed and ignored; the ones we read must have exactly the expected shape, so that a
// malformed delivery is refused as a whole (400, nothing written) rather than half processed.
import { z } from 'zod';
import { intFor, notStored, secondsFor } from '../../db/column-ranges.js';
import { mintEvents } from '../../db/schema.js';

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected 0x and 64 hex characters');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected 0x and 40 hex characters');
const hexData = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'expected 0x and an even number of hex characters');

export const alchemyLogSchema = z.looseObject({
  account: z.looseObject({ address }),
  // An EVM log has at most four topics; anonymous events may have none.
  topics: z.array(hex32).max(4),
  data: hexData,
  index: intFor(mintEvents.logIndex, { min: 0 }),
  // Only present when the block was re-orged away; absent means a canonical log.
  removed: z.boolean().optional(),
  transaction: z.looseObject({
    hash: hex32,
    // 1 success, 0 reverted (a reverted transaction keeps no logs, but a forged payload may say otherwise).
    status: notStored(z.number().int().min(0).max(1), 'only status 1 is ingested'),
  }),
});

export const alchemyWebhookSchema = z.looseObject({
  webhookId: z.string().min(1),
  id: z.string().min(1),
  createdAt: z.string().min(1),
  type: z.literal('GRAPHQL'),
  event: z.looseObject({
    data: z.looseObject({
      block: z.looseObject({
        number: intFor(mintEvents.blockNumber, { min: 1 }),
        // Seconds since the epoch, as the block header has it.
        timestamp: secondsFor(mintEvents.blockTimestamp),
        logs: z.array(alchemyLogSchema),
      }),
    }),
  }),
});

export type AlchemyLog = z.infer<typeof alchemyLogSchema>;
export type AlchemyWebhook = z.infer<typeof alchemyWebhookSchema>;

// POST /webhooks/alchemy: Alchemy's signed delivery of a block's logs. The signature is checked over the raw bytes
// before anything is parsed; every BatchMinted of our contract in the block is ingested, in transactions of about
// WEBHOOK_CHUNK_TOKENS tokens each; replays, concurrent duplicates and the redelivery of a delivery cut between
// chunks create nothing twice (the ingest is idempotent).
import type { Address } from 'viem';
import { z } from '../../lib/zod.js';
import { alchemyWebhookSchema } from '../../stages/detection/alchemy-payload.js';
import {
  ALCHEMY_SIGNATURE_HEADER,
  verifyAlchemySignature,
} from '../../stages/detection/alchemy-signature.js';
import { mintsFromAlchemyPayloadInSlices } from '../../stages/detection/batch-minted.js';
import { chunkMints, ingestMints } from '../../stages/detection/mint-ingest.js';
import { ServiceUnavailableError, SignatureError, ValidationError } from '../../errors.js';
import { yieldToEventLoop } from '../../lib/sleep.js';
import { defineRoute, type RouteFactory } from '../route.js';

export const WebhookResult = z
  .object({
    created: z.array(z.int()).describe('Token ids created by this delivery, ascending.'),
    skipped: z.array(z.int()).describe('Token ids of this delivery that already existed, ascending.'),
    mints: z.int().describe('BatchMinted logs of the GLISK contract in the delivery.'),
    ignored: z.int().describe('Other logs: other contracts or events, reverted transactions, removed logs.'),
    conflicts: z
      .int()
      .optional()
      .describe(
        'Present when > 0: mints whose (tx_hash, log_index) is recorded with other content; nothing was created from them.',
      ),
  })
  .openapi('AlchemyWebhookResult');

const AlchemyWebhookBody = alchemyWebhookSchema.openapi('AlchemyWebhook');

export const webhookRoutes: RouteFactory = (deps) => {
  const secret = deps.config.detection.webhookSecret;
  const contract: Address | undefined = deps.config.chain.contractAddress;
  const chunkTokens = deps.config.detection.webhookChunkTokens;
  return [
    defineRoute({
      method: 'post',
      path: '/webhooks/alchemy',
      operationId: 'receiveAlchemyWebhook',
      summary: 'Receive a signed Alchemy block webhook and ingest its GLISK mints',
      description:
        'X-Alchemy-Signature must be the lower-case hex HMAC-SHA256 of the raw body keyed with ' +
        'ALCHEMY_WEBHOOK_SECRET. Logs of the GLISK contract whose topic0 is BatchMinted, whose transaction ' +
        'succeeded and that were not removed are ingested; the rest is ignored. Idempotent.',
      tags: ['webhooks'],
      body: {
        schema: AlchemyWebhookBody,
        description: 'An Alchemy custom (GraphQL block) webhook delivery.',
        verify: (rawBody, req) => {
          // An empty key makes every signature computable by anyone: refuse to run rather than accept forgeries.
          if (secret === '' || contract === undefined) {
            throw new ServiceUnavailableError(
              'WEBHOOK_NOT_CONFIGURED',
              secret === ''
                ? 'ALCHEMY_WEBHOOK_SECRET is not set; the webhook refuses unsigned deliveries'
                : 'GLISK_NFT_CONTRACT_ADDRESS is not set; the webhook cannot tell which logs are mints',
            );
          }
          const check = verifyAlchemySignature(rawBody, req.headers[ALCHEMY_SIGNATURE_HEADER], secret);
          if (!check.ok) throw new SignatureError(check.code, check.message);
        },
      },
      responses: {
        200: { description: 'Every matching mint is recorded (now or before).', schema: WebhookResult },
      },
      errors: {
        401: 'SIGNATURE_MISSING or SIGNATURE_INVALID: the delivery is not signed with our key.',
        503: 'WEBHOOK_NOT_CONFIGURED: no signing key (or contract address) is configured.',
      },
    }).handle(async ({ body, uow, checkpoint, log }) => {
      if (contract === undefined) throw new Error('webhook route reached without a contract address');
      const decoded = await mintsFromAlchemyPayloadInSlices(body, contract);
      if (!decoded.ok) {
        const details = decoded.issues.map((issue) => ({
          path: `body.${issue.path}`,
          code: 'invalid_batch_minted',
          message: issue.message,
        }));
        const first = details[0];
        throw new ValidationError(
          `Invalid request body: ${first ? `${first.path}: ${first.message}` : 'undecodable BatchMinted log'}`,
          details,
        );
      }
      // One transaction per chunk of about WEBHOOK_CHUNK_TOKENS tokens, committed before the next: a huge
      // delivery holds few locks and little memory at a time, and yields to other requests (/health) between
      // chunks. A failure answers 5xx after the chunks before it were committed; Alchemy's redelivery skips them.
      const chunks = chunkMints(decoded.mints, chunkTokens);
      const created: number[] = [];
      const skipped: number[] = [];
      let conflicts = 0;
      for (const [index, chunk] of chunks.entries()) {
        if (index > 0) await yieldToEventLoop();
        const { tx } = await uow();
        const result = await ingestMints(tx, chunk);
        await checkpoint();
        for (const id of result.created) created.push(id);
        for (const id of result.skipped) skipped.push(id);
        conflicts += result.conflicts.length;
        for (const conflict of result.conflicts) {
          log.warn('webhook.conflict', { delivery: body.id, ...conflict });
        }
      }
      created.sort((a, b) => a - b);
      skipped.sort((a, b) => a - b);
      log.info('webhook.ingested', {
        delivery: body.id,
        block: body.event.data.block.number,
        mints: decoded.mints.length,
        ignored: decoded.ignored,
        created: created.length,
        skipped: skipped.length,
        chunks: chunks.length,
      });
      return {
        status: 200,
        body: {
          created,
          skipped,
          mints: decoded.mints.length,
          ignored: decoded.ignored,
          ...(conflicts > 0 ? { conflicts } : {}),
        },
      };
    }),
  ];
};

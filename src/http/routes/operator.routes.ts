// Operator routes, behind ADMIN_API_KEY (src/http/admin-auth.ts): send a failed token back to the start of the
// stage it failed in, and the pipeline's state at a glance (counts, oldest waiting, attempts and failures per
// stage and error class over the last hour, leases held, throughput over the last minute). The stats read the
// database, so they cover every worker process on every machine.
import { z } from '../../lib/zod.js';
import { TOKEN_STATUSES } from '../../db/schema.js';
import { STAGES } from '../../domain/stages.js';
import { STAGE_NAMES } from '../../stage-names.js';
import { retryFailedToken } from '../../domain/token-state.js';
import { CHAIN_STATUS_SOURCES, readChainStatuses } from '../../domain/chain-status.js';
import { REVEAL_STATES, readRevealStatuses } from '../../stages/reveal/reveal-status.js';
import { NotFoundError } from '../../errors.js';
import type { AttemptCount, RevealKeeperActivity } from '../../repositories/pipeline-overview.repository.js';
import { adminAuth } from '../admin-auth.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';
import { TokenParams, TokenSchema, toTokenResponse } from './tokens.routes.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

const Count = z.int().min(0);

const RevealKeeper = z
  .object({
    keeperAddress: z.string().describe('The keeper wallet (lower case).'),
    state: z
      .enum(REVEAL_STATES)
      .describe(
        'sending: a batch is on its way; waiting: the stage holds a batch back (code: GAS_PRICE_ABOVE_CAP, ' +
          'KEEPER_BALANCE_LOW, TRANSACTION_STUCK, a refused send ...); stalled: the chain does not answer ' +
          '(CHAIN_UNREACHABLE, CHAIN_TIMEOUT, CHAIN_HTTP_ERROR), nothing is claimed until it does.',
      ),
    code: z.string().nullable(),
    reason: z.string().nullable().describe('Why the stage waits or is stalled, in words.'),
    since: IsoTimestamp.nullable().describe('When the state last changed; null when never recorded.'),
    statusUpdatedAt: IsoTimestamp.nullable().describe('When a worker process last stored the state.'),
    nextRetryAt: IsoTimestamp.nullable().describe('Stalled: when the chain is tried again.'),
    keeperBalanceWei: z.string().nullable().describe('The balance at the last check, in wei (decimal).'),
    balanceCheckedAt: IsoTimestamp.nullable(),
    pendingNonce: z.int().min(0).nullable().describe('Nonce of the batch in flight; null when none is.'),
    batchesInFlight: Count,
    lastTransactionHash: z.string().nullable(),
    lastTransactionAt: IsoTimestamp.nullable().describe(
      'When the last transaction was broadcast (or signed).',
    ),
    lastTransactionAgeSeconds: z.number().min(0).nullable(),
  })
  .openapi('RevealKeeperStatus');

const ChainStatusSchema = z
  .object({
    source: z.enum(CHAIN_STATUS_SOURCES).describe('The part of the service that talked to the chain.'),
    reachable: z.boolean(),
    code: z
      .string()
      .nullable()
      .describe('CHAIN_UNREACHABLE, CHAIN_TIMEOUT or CHAIN_HTTP_ERROR; null when reachable.'),
    endpoint: z.string().nullable().describe("The node's origin (never its credentials, path or query)."),
    detail: z.string().nullable(),
    since: IsoTimestamp,
    checkedAt: IsoTimestamp,
    nextRetryAt: IsoTimestamp.nullable(),
  })
  .openapi('ChainStatus');

const PipelineStats = z
  .object({
    generatedAt: IsoTimestamp,
    statuses: z.array(
      z.object({
        status: z.enum(TOKEN_STATUSES),
        count: Count,
        oldestWaitingSeconds: z
          .number()
          .min(0)
          .nullable()
          .describe(
            'For a status a stage claims: the age (since its last move) of the token next in line, due and ' +
              'under no live lease (as glisk_stage_oldest_waiting_age_seconds); for failed: the oldest ' +
              'failure. Null when there is none, and always for revealed.',
          ),
        leasesHeld: Count.describe('Tokens in this status a worker holds under a live lease.'),
      }),
    ),
    stages: z.array(
      z.object({
        stage: z.enum(STAGE_NAMES),
        waitsIn: z.enum(TOKEN_STATUSES),
        leasesHeld: Count.describe('Tokens of this stage under a live lease.'),
        lastHour: z
          .object({
            attempts: Count,
            completed: Count,
            failed: Count,
            running: Count,
            failures: z.array(
              z.object({
                errorClass: z.string().describe('transient, permanent, or unknown'),
                code: z.string(),
                count: Count,
              }),
            ),
          })
          .describe(
            'Attempts started in the last hour. image: one generation job; ipfs: one try of a token (its ' +
              'image and metadata uploads); reveal: one batch transaction.',
          ),
        completedLastMinute: Count.describe('Tokens through this stage in the last minute.'),
      }),
    ),
    reveal: z
      .array(RevealKeeper)
      .describe(
        "Per keeper, the reveal stage as the worker process running it last stored it (any process's), with " +
          'the nonce in flight and the last transaction from the database.',
      ),
    chain: z
      .array(ChainStatusSchema)
      .describe('Whether the chain answered, as each part that talks to it last found (any process).'),
  })
  .openapi('PipelineStats');

export const operatorRoutes: RouteFactory = ({ config }) => {
  const auth = adminAuth(config.admin.apiKey);
  return [
    defineRoute({
      method: 'post',
      path: '/api/tokens/{tokenId}/retry',
      operationId: 'retryToken',
      summary: 'Send a failed token back to the start of the stage it failed in (operator)',
      description:
        "The stage is error_data.stage. That stage's attempts, the backoff, the lease and the last error are " +
        "reset; the token is claimable at once (idle workers are woken). Other stages' attempts and the CIDs " +
        'already recorded are kept.',
      tags: ['operator'],
      auth,
      params: TokenParams,
      responses: { 200: { description: 'The token, back in the pipeline.', schema: TokenSchema } },
      errors: {
        404: 'TOKEN_NOT_FOUND: no token with this id has been detected.',
        409: 'INVALID_STATE_TRANSITION: the token is not failed (details: its status).',
      },
    }).handle(async ({ params, uow, log }) => {
      const work = await uow();
      const moved = await retryFailedToken(work.tx, { tokenId: params.tokenId });
      const row = await work.tokens.getWithAuthorByTokenId(params.tokenId);
      if (row === undefined) {
        throw new NotFoundError('TOKEN_NOT_FOUND', `Token ${params.tokenId} has not been detected`);
      }
      log.info('token.retried', { tokenId: params.tokenId, status: moved.status });
      return { status: 200, body: toTokenResponse(row) };
    }),
    defineRoute({
      method: 'get',
      path: '/api/pipeline/stats',
      operationId: 'getPipelineStats',
      summary:
        'Tokens per status, oldest waiting, attempts and failures per stage, leases, throughput (operator)',
      tags: ['operator'],
      auth,
      responses: { 200: { description: 'The pipeline now.', schema: PipelineStats } },
    }).handle(async ({ uow }) => {
      const work = await uow();
      const { pipelineOverview } = work;
      const now = Date.now();
      const [statuses, attempts, completions, activity, revealStatuses, chain] = await Promise.all([
        pipelineOverview.statusStats(),
        pipelineOverview.attemptsSince(new Date(now - HOUR_MS)),
        pipelineOverview.completionsPerMinute(new Date(now - MINUTE_MS)),
        pipelineOverview.revealKeeperActivity(),
        readRevealStatuses(work.tx),
        readChainStatuses(work.tx),
      ]);
      const byStatus = new Map(statuses.map((s) => [s.status, s]));
      return {
        status: 200,
        body: {
          generatedAt: new Date(now).toISOString(),
          statuses: TOKEN_STATUSES.map((status) => ({
            status,
            count: byStatus.get(status)?.count ?? 0,
            oldestWaitingSeconds:
              status === 'revealed' ? null : (byStatus.get(status)?.oldestWaitingSeconds ?? null),
            leasesHeld: byStatus.get(status)?.leasesHeld ?? 0,
          })),
          stages: STAGE_NAMES.map((stage) => ({
            stage,
            waitsIn: STAGES[stage].start,
            leasesHeld: byStatus.get(STAGES[stage].working)?.leasesHeld ?? 0,
            lastHour: lastHour(attempts.filter((a) => a.stage === stage)),
            completedLastMinute: completions
              .filter((c) => c.stage === stage)
              .reduce((sum, c) => sum + c.count, 0),
          })),
          reveal: revealKeepers(revealStatuses, activity),
          chain,
        },
      };
    }),
  ];
};

function lastHour(rows: readonly AttemptCount[]) {
  const total = (outcome: AttemptCount['outcome']) =>
    rows.filter((r) => r.outcome === outcome).reduce((sum, r) => sum + r.count, 0);
  const completed = total('completed');
  const failed = total('failed');
  const running = total('running');
  return {
    attempts: completed + failed + running,
    completed,
    failed,
    running,
    failures: rows
      .filter((r) => r.outcome === 'failed')
      .map((r) => ({ errorClass: r.errorClass ?? 'unknown', code: r.code ?? 'unknown', count: r.count }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
  };
}

type StoredRevealStatus = Awaited<ReturnType<typeof readRevealStatuses>>[number];

/** Every keeper with a stored status or reveal transactions, the two joined on the address. */
function revealKeepers(stored: readonly StoredRevealStatus[], activity: readonly RevealKeeperActivity[]) {
  const keepers = [
    ...new Set([...stored.map((s) => s.keeperAddress), ...activity.map((a) => a.keeperAddress)]),
  ];
  return keepers.sort().map((keeperAddress) => {
    const status = stored.find((s) => s.keeperAddress === keeperAddress);
    const seen = activity.find((a) => a.keeperAddress === keeperAddress);
    return {
      keeperAddress,
      state: status?.state ?? 'idle',
      code: status?.code ?? null,
      reason: status?.reason ?? null,
      since: status?.since ?? null,
      statusUpdatedAt: status?.updatedAt.toISOString() ?? null,
      nextRetryAt: status?.nextRetryAt ?? null,
      keeperBalanceWei: status?.keeperBalanceWei ?? null,
      balanceCheckedAt: status?.balanceCheckedAt ?? null,
      pendingNonce: seen?.pendingNonce ?? null,
      batchesInFlight: seen?.batchesInFlight ?? 0,
      lastTransactionHash: seen?.lastTransactionHash ?? null,
      lastTransactionAt: seen?.lastTransactionAt?.toISOString() ?? null,
      lastTransactionAgeSeconds: seen?.lastTransactionAgeSeconds ?? null,
    };
  });
}

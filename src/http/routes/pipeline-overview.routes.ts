// GET /api/pipeline/overview: what the operator dashboard (/dashboard) shows, in one read-only answer: the
// funnel, the oldest token waiting for each stage, completions per minute over the last hour, recent
// failures, recent reveal transactions and the newest tokens with an image. Public like the token API: it
// holds no prompt, no key and no wallet beyond what the chain already shows.
import { z } from '../../lib/zod.js';
import { TOKEN_STATUSES, type TokenStatus } from '../../db/schema.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';

const STAGES = [
  { stage: 'image', waitsIn: 'detected' },
  { stage: 'ipfs', waitsIn: 'uploading' },
  { stage: 'reveal', waitsIn: 'ready' },
] as const satisfies readonly { stage: string; waitsIn: TokenStatus }[];

const MINUTES = 60;
const LIST_LIMIT = 12;

const Funnel = z.object(
  Object.fromEntries(TOKEN_STATUSES.map((s) => [s, z.int().min(0)])) as Record<TokenStatus, z.ZodInt>,
);

const Overview = z
  .object({
    generatedAt: IsoTimestamp,
    funnel: Funnel.describe('Tokens per status.'),
    stages: z.array(
      z.object({
        stage: z.enum(['image', 'ipfs', 'reveal']),
        waitsIn: z.enum(TOKEN_STATUSES),
        waiting: z.int().min(0),
        oldestWaiting: z
          .object({ tokenId: z.int().min(1), since: IsoTimestamp, ageSeconds: z.number().min(0) })
          .nullable()
          .describe(
            'The token next in line for the stage (due, under no live lease: the one it claims first) and how ' +
              'long it has been in its status.',
          ),
      }),
    ),
    throughput: z
      .object({
        minutes: z.int(),
        since: IsoTimestamp,
        perMinute: z.object({
          image: z.array(z.int().min(0)),
          ipfs: z.array(z.int().min(0)),
          reveal: z.array(z.int().min(0)),
        }),
      })
      .describe('Completions per minute, oldest minute first, the current minute last.'),
    failures: z.array(
      z.object({
        tokenId: z.int().min(1),
        stage: z.string().nullable(),
        errorClass: z.string().nullable(),
        code: z.string().nullable(),
        message: z.string().nullable(),
        attempts: z.int().nullable(),
        failedAt: IsoTimestamp,
      }),
    ),
    reveals: z.array(
      z.object({
        id: z.string(),
        status: z.string(),
        txHash: z.string().nullable(),
        tokenCount: z.int().min(0),
        gasUsed: z.int().nullable(),
        gasPriceGwei: z.string().nullable(),
        blockNumber: z.int().nullable(),
        createdAt: IsoTimestamp,
        confirmedAt: IsoTimestamp.nullable(),
      }),
    ),
    gallery: z.array(
      z.object({
        tokenId: z.int().min(1),
        status: z.enum(TOKEN_STATUSES),
        imageCid: z.string(),
        imageUrl: z.string().describe("The image on this service's IPFS gateway."),
      }),
    ),
  })
  .openapi('PipelineOverview');

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

export const pipelineOverviewRoutes: RouteFactory = () => [
  defineRoute({
    method: 'get',
    path: '/api/pipeline/overview',
    operationId: 'getPipelineOverview',
    summary: 'Everything the operator dashboard shows',
    description:
      'Funnel counts per status, the oldest token waiting per stage, completions per minute over the last ' +
      'hour, recent failures and reveal transactions, and the newest tokens with an image. Read-only.',
    tags: ['pipeline'],
    responses: { 200: { description: 'The overview.', schema: Overview } },
  }).handle(async ({ uow }) => {
    const { pipelineOverview } = await uow();
    const now = new Date();
    const currentMinute = Math.floor(now.getTime() / 60_000) * 60_000;
    const since = new Date(currentMinute - (MINUTES - 1) * 60_000);
    const [counts, oldest, perMinute, failures, reveals, gallery] = await Promise.all([
      // The counts of GET /api/pipeline/stats (same statement), so the dashboard's funnel and the stats agree.
      pipelineOverview.statusStats(),
      pipelineOverview.nextInLine(STAGES.map((s) => s.waitsIn)),
      pipelineOverview.completionsPerMinute(since),
      pipelineOverview.recentFailures(LIST_LIMIT),
      pipelineOverview.recentReveals(LIST_LIMIT),
      pipelineOverview.newestWithImage(LIST_LIMIT),
    ]);
    const funnel = Object.fromEntries(TOKEN_STATUSES.map((s) => [s, 0])) as Record<TokenStatus, number>;
    for (const row of counts) funnel[row.status] = row.count;
    const series = {
      image: new Array<number>(MINUTES).fill(0),
      ipfs: new Array<number>(MINUTES).fill(0),
      reveal: new Array<number>(MINUTES).fill(0),
    };
    for (const row of perMinute) {
      const index = Math.round((row.minute.getTime() - since.getTime()) / 60_000);
      if (index >= 0 && index < MINUTES) series[row.stage][index] = row.count;
    }
    return {
      status: 200,
      body: {
        generatedAt: now.toISOString(),
        funnel,
        stages: STAGES.map(({ stage, waitsIn }) => {
          const first = oldest.find((o) => o.status === waitsIn);
          return {
            stage,
            waitsIn,
            waiting: funnel[waitsIn],
            oldestWaiting: first
              ? {
                  tokenId: first.tokenId,
                  since: first.since.toISOString(),
                  ageSeconds: Math.max(0, (now.getTime() - first.since.getTime()) / 1000),
                }
              : null,
          };
        }),
        throughput: { minutes: MINUTES, since: since.toISOString(), perMinute: series },
        failures: failures.map((f) => ({
          tokenId: f.tokenId,
          stage: text(f.errorData?.stage),
          errorClass: text(f.errorData?.class),
          code: text(f.errorData?.code),
          message: text(f.errorData?.message),
          attempts: typeof f.errorData?.attempts === 'number' ? f.errorData.attempts : null,
          failedAt: f.failedAt.toISOString(),
        })),
        reveals: reveals.map((r) => ({
          ...r,
          createdAt: r.createdAt.toISOString(),
          confirmedAt: r.confirmedAt?.toISOString() ?? null,
        })),
        gallery: gallery.map((g) => ({ ...g, imageUrl: `/ipfs/${g.imageCid}` })),
      },
    };
  }),
];

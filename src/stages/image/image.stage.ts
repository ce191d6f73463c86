// The image stage: a detected token's prompt -> image bytes from the configured provider -> the content store
// (content_blobs, keyed by the CID `ipfs add --cid-version=1` gives them) -> the token moves to `uploading` with
// its image_cid, the bytes stored by the runtime in the same statement as that move (WorkDone.blobs). Runs on the
// stage runtime (src/workers/stage-runner.ts), which claims, retries, records and finishes.
import type { Database } from '../../db/client.js';
import type { Token } from '../../db/schema.js';
import { STAGES } from '../../domain/stages.js';
import { ContentPolicyError, TransientStageError } from '../../errors.js';
import { computeCid } from '../../lib/cid.js';
import { sniffImageMediaType } from '../../lib/media-type.js';
import { observeProviderCall } from '../../metrics/registry.js';
import type { GeneratedImage, ImageProvider } from '../../providers/image/image-provider.js';
import * as imageJobs from '../../repositories/image-generation-jobs.repository.js';
import * as tokensRepository from '../../repositories/tokens.repository.js';
import type { AttemptRecorder, StageSettings, TokenStage, WorkContext } from '../stage.js';

export type ImageStageDeps = {
  database: Pick<Database, 'db'>;
  provider: ImageProvider;
  settings: StageSettings;
  /** DEFAULT_PROMPT and FALLBACK_CENSORED_PROMPT. */
  prompts: { defaultPrompt: string; fallbackPrompt: string };
};

/** The author's prompt, trimmed, or the default while there is none. */
export function resolvePrompt(authorPrompt: string | null | undefined, defaultPrompt: string): string {
  const trimmed = authorPrompt?.trim() ?? '';
  return trimmed === '' ? defaultPrompt : trimmed;
}

/** image_generation_jobs: one row per attempt, `running` from the claim, then `completed` or `failed`. */
export function imageAttemptRecorder(service: string): AttemptRecorder {
  return {
    ...imageJobs.attemptsSql(service),
    outcome: (outcome): imageJobs.ImageAttemptOutcome => ({
      status: outcome.status,
      external_job_id:
        typeof outcome.details.externalJobId === 'string' ? outcome.details.externalJobId : null,
      // A refused prompt that the fallback got past is a success, recorded with what happened.
      error_data:
        outcome.errorData ??
        (outcome.details.fallbackPrompt === true
          ? {
              code: 'CONTENT_POLICY_FALLBACK',
              message: 'the prompt was refused on content policy; generated from FALLBACK_CENSORED_PROMPT',
              fallbackPrompt: true,
            }
          : null),
    }),
  };
}

/** The claim's inputs of the image stage: the author's prompt (null: none, or no author row). */
function isPromptInputs(inputs: unknown): inputs is { prompt: string | null } {
  if (typeof inputs !== 'object' || inputs === null || !('prompt' in inputs)) return false;
  return typeof inputs.prompt === 'string' || inputs.prompt === null;
}

export function createImageStage(deps: ImageStageDeps): TokenStage {
  const { provider, prompts } = deps;
  const db = deps.database.db;

  async function generate(token: Token, ctx: WorkContext, inputs: unknown): Promise<GeneratedImage> {
    const authorPrompt = isPromptInputs(inputs)
      ? inputs.prompt
      : await tokensRepository.getAuthorPrompt(db, token.id);
    // Prompts are private: logged by source and length only, never in full.
    const prompt = resolvePrompt(authorPrompt, prompts.defaultPrompt);
    ctx.note({ promptSource: prompt === prompts.defaultPrompt ? 'default' : 'author' });
    try {
      return await observeProviderCall(provider.name, 'generate', () =>
        provider.generate({ prompt, tokenId: token.tokenId, signal: ctx.signal }),
      );
    } catch (error) {
      if (!(error instanceof ContentPolicyError)) throw error;
      // Once, with the fallback prompt; a second refusal fails the token (ContentPolicyError is permanent).
      ctx.log.warn('image.content_policy_refused', { promptLength: prompt.length, retry: 'fallback prompt' });
      ctx.note({ fallbackPrompt: true });
      return observeProviderCall(provider.name, 'generate', () =>
        provider.generate({ prompt: prompts.fallbackPrompt, tokenId: token.tokenId, signal: ctx.signal }),
      );
    }
  }

  return {
    mode: 'token',
    definition: STAGES.image,
    settings: deps.settings,
    attempts: imageAttemptRecorder(provider.name),
    claimInputs: (sql) =>
      sql`jsonb_build_object('prompt', (SELECT a.prompt_text FROM authors a WHERE a.id = c.author_id))`,
    work: async (token, ctx, inputs) => {
      const image = await generate(token, ctx, inputs);
      if (image.externalJobId !== undefined) ctx.note({ externalJobId: image.externalJobId });
      const mediaType = sniffImageMediaType(image.bytes);
      if (mediaType === undefined) {
        throw new TransientStageError(
          'INVALID_IMAGE',
          `${provider.name} returned ${image.bytes.byteLength} bytes that are neither PNG, JPEG nor WebP`,
        );
      }
      const cid = await computeCid(image.bytes, 'raw-leaves');
      ctx.log.debug('image.generated', { cid, mediaType, sizeBytes: image.bytes.byteLength });
      // Stored by the runtime in the statement that moves the token on (WorkDone.blobs): no round trip here.
      return { changes: { imageCid: cid }, blobs: [{ cid, mediaType, bytes: image.bytes }] };
    },
  };
}

// What the image stage needs of an image service: a prompt and a token id in, image bytes out. Providers throw
// TransientStageError / PermanentStageError (src/errors.ts), and ContentPolicyError for a refused prompt, which
// the stage retries once with FALLBACK_CENSORED_PROMPT.

export type ImageRequest = {
  prompt: string;
  tokenId: number;
  /** Aborts when the worker loses the token's lease or stops: cancel the provider's job. */
  signal: AbortSignal;
};

export type GeneratedImage = {
  bytes: Uint8Array;
  /** The provider's id for the job (a Replicate prediction id), recorded on the attempt. */
  externalJobId?: string;
};

export type ImageProvider = {
  /** Recorded as image_generation_jobs.service. */
  readonly name: string;
  generate: (request: ImageRequest) => Promise<GeneratedImage>;
};

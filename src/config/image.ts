// The image stage: which provider renders (local sharp or Replicate), and the prompts used when the author's
// cannot be.
import { str, type CleanedEnv } from 'envalid';
import { httpUrl, positiveNumber, toMs, type AreaContext } from './validators.js';

export const IMAGE_PROVIDERS = ['local', 'replicate'] as const;
export type ImageProviderName = (typeof IMAGE_PROVIDERS)[number];

export type ImageConfig = {
  image: Readonly<{
    provider: ImageProviderName;
    /** The prompt of a token whose author has not written one yet. */
    defaultPrompt: string;
    /** Sent once in place of a prompt the provider refused on content policy. */
    fallbackPrompt: string;
    replicate: Readonly<{
      /** Required with IMAGE_PROVIDER=replicate (secret). */
      apiToken: string;
      model: string;
      apiUrl: string;
      timeoutMs: number;
    }>;
  }>;
};

const UPSTREAM_DEFAULT_PROMPT =
  "Geometric patterns and vibrant colors with text saying 'No prompt yet - author still thinking...'";
const UPSTREAM_FALLBACK_PROMPT =
  "Cute kittens and flowers in a peaceful garden, with text overlay saying 'Original prompt was censored by AI service'";

export const imageSpecs = {
  IMAGE_PROVIDER: str({ choices: IMAGE_PROVIDERS, default: 'local', desc: IMAGE_PROVIDERS.join(' or ') }),
  DEFAULT_PROMPT: str({ default: UPSTREAM_DEFAULT_PROMPT, desc: 'a prompt' }),
  REPLICATE_API_TOKEN: str({ default: '', desc: 'a Replicate API token' }),
  REPLICATE_MODEL: str({
    default: 'black-forest-labs/flux-schnell',
    desc: 'owner/name of a Replicate model',
  }),
  REPLICATE_API_URL: httpUrl({ default: 'https://api.replicate.com/v1', desc: 'the Replicate API base URL' }),
  REPLICATE_TIMEOUT_SECONDS: positiveNumber({ default: 120, desc: 'seconds' }),
  FALLBACK_CENSORED_PROMPT: str({ default: UPSTREAM_FALLBACK_PROMPT, desc: 'a prompt' }),
};

export function readImageConfig(e: CleanedEnv<typeof imageSpecs>, area: AreaContext): ImageConfig {
  if (e.IMAGE_PROVIDER === 'replicate' && e.REPLICATE_API_TOKEN === '') {
    area.problems.push('REPLICATE_API_TOKEN: required when IMAGE_PROVIDER=replicate');
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(e.REPLICATE_MODEL)) {
    area.problems.push(`REPLICATE_MODEL: expected owner/name, got "${e.REPLICATE_MODEL}"`);
  }
  area.secrets.push(e.REPLICATE_API_TOKEN);
  return {
    image: {
      provider: e.IMAGE_PROVIDER,
      defaultPrompt: e.DEFAULT_PROMPT.trim(),
      fallbackPrompt: e.FALLBACK_CENSORED_PROMPT.trim(),
      replicate: {
        apiToken: e.REPLICATE_API_TOKEN,
        model: e.REPLICATE_MODEL,
        apiUrl: e.REPLICATE_API_URL,
        timeoutMs: toMs(e.REPLICATE_TIMEOUT_SECONDS),
      },
    },
  };
}

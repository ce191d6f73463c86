// The names of the pipeline's stages, in the order a token passes them. A single-file room at the bottom of the
// house: configuration (WORKERS), metrics labels and the stage table (src/domain/stages.ts) all read them.
export const STAGE_NAMES = ['image', 'ipfs', 'reveal'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export function isStageName(value: unknown): value is StageName {
  return typeof value === 'string' && (STAGE_NAMES as readonly string[]).includes(value);
}

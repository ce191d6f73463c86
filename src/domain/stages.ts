// The STAGE TABLE: for each pipeline stage, the status a token waits in for it, the status it holds while a
// worker has it under lease, where success takes it, and which attempts column counts its tries. The claim SQL
// (token-queue.repository), the runtime's retries and releases (src/workers/stage-runner.ts) and the operator
// retry all read their statuses from here, so no status list is written twice.
import type { TokenStatus } from '../db/schema.js';
import type { AttemptsColumn } from '../repositories/token-queue.repository.js';
import type { StageName } from '../stage-names.js';

export type StageDefinition = Readonly<{
  name: StageName;
  /** Where a token waits for the stage, and where a transient failure or a release sends it back. */
  start: TokenStatus;
  /** The status of a claimed token; a token left in it without a live lease is claimable again. */
  working: TokenStatus;
  /** Where a successful finish moves the token. */
  next: TokenStatus;
  attempts: AttemptsColumn;
  /**
   * Reveal only: never claim a token that an unfinished reveal transaction names (it may still be mined).
   * The SQL of the condition lives in the queue repository.
   */
  skipTokensInFlightOnChain: boolean;
}>;

export const STAGES: Readonly<Record<StageName, StageDefinition>> = Object.freeze({
  image: {
    name: 'image',
    start: 'detected',
    working: 'generating',
    next: 'uploading',
    attempts: 'generationAttempts',
    skipTokensInFlightOnChain: false,
  },
  ipfs: {
    name: 'ipfs',
    start: 'uploading',
    working: 'uploading',
    next: 'ready',
    attempts: 'uploadAttempts',
    skipTokensInFlightOnChain: false,
  },
  reveal: {
    name: 'reveal',
    start: 'ready',
    working: 'ready',
    next: 'revealed',
    attempts: 'revealAttempts',
    skipTokensInFlightOnChain: true,
  },
});

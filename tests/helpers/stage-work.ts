// Driving a per-token stage's work by hand, as the stage runtime does: claim one token with the stage's claim
// inputs (the runtime's one claim statement), then call work() with a context of its own.
import assert from 'node:assert/strict';
import type { Executor } from '../../src/db/client.js';
import * as tokenClaims from '../../src/repositories/token-claims.repository.js';
import type { TokenStage, WorkContext } from '../../src/stages/stage.js';
import { captureLogs } from './logs.js';

/** Claims the stage's next token as the runtime would, with the inputs its claim statement reads. */
export async function claimOne(db: Executor, stage: TokenStage): Promise<tokenClaims.ClaimedToken> {
  const claim = await tokenClaims.claimTokens(db, stage.definition, {
    owner: 'test',
    leaseSeconds: 30,
    limit: 1,
    inputs: stage.claimInputs,
  });
  const [claimed] = claim.tokens;
  assert.ok(claimed, `no ${stage.definition.name} token to claim`);
  return claimed;
}

/** A work context that is never aborted, its logs captured and its notes dropped. */
export function workContext(): WorkContext {
  return { signal: new AbortController().signal, log: captureLogs().logger, note: () => {} };
}

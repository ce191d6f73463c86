// The token lifecycle: one pure transition table, and the functions that apply it in the database with a
// compare-and-set on the status, so that two writers racing on one token can never both win.
import type { Executor } from '../db/client.js';
import { TOKEN_STATUSES, type ErrorData, type Token, type TokenStatus } from '../db/schema.js';
import { InvalidStateTransition, NotFoundError, TransitionConflict } from '../errors.js';
import * as tokenQueue from '../repositories/token-queue.repository.js';
import * as tokenCompletions from '../repositories/token-completions.repository.js';
import type { TokenChanges } from '../repositories/token-queue.repository.js';
import * as tokensRepository from '../repositories/tokens.repository.js';
import { isStageName } from '../stage-names.js';
import { STAGES, type StageDefinition } from './stages.js';

// failed -> anything is deliberately absent: only an operator moves a failed token back (retryFailedToken).
// generating -> detected: a transient image failure (or a stopping worker) sends the token back to its stage's
// start (src/domain/stages.ts); the other stages work in their start status.
const TRANSITIONS: { readonly [S in TokenStatus]: readonly TokenStatus[] } = {
  detected: ['generating', 'failed'],
  generating: ['uploading', 'detected', 'failed'],
  uploading: ['ready', 'failed'],
  ready: ['revealed', 'failed'],
  revealed: [],
  failed: [],
};

export function canTransition(from: TokenStatus, to: TokenStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function allowedTransitions(from: TokenStatus): readonly TokenStatus[] {
  return TRANSITIONS[from];
}

/** No worker moves a token out of these; `failed` leaves only through retryFailedToken. */
export function isTerminal(status: TokenStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

export const NON_TERMINAL_STATUSES: readonly TokenStatus[] = TOKEN_STATUSES.filter((s) => !isTerminal(s));

/** A token by its on-chain id or by its row id (tokens_s0.id). */
export type TokenRef = { tokenId: number } | { id: string };

function describe(ref: TokenRef): string {
  return 'tokenId' in ref ? `Token ${ref.tokenId}` : `Token row ${ref.id}`;
}

async function load(tx: Executor, ref: TokenRef): Promise<Token> {
  const row =
    'tokenId' in ref
      ? await tokensRepository.getByTokenId(tx, ref.tokenId)
      : await tokensRepository.getById(tx, ref.id);
  if (row === undefined) throw new NotFoundError('TOKEN_NOT_FOUND', `${describe(ref)} does not exist`, ref);
  return row;
}

/** The columns a move to `to` always writes besides the caller's. */
function stamped(to: TokenStatus, changes: TokenChanges): TokenChanges {
  if (to === 'failed' && (changes.errorData === undefined || changes.errorData === null)) {
    throw new TypeError('a move to failed must record errorData');
  }
  if (to === 'revealed' && changes.revealedAt === undefined) return { ...changes, revealedAt: new Date() };
  if (to === 'ready' && changes.readyAt === undefined) return { ...changes, readyAt: new Date() };
  return changes;
}

/** After a compare-and-set that touched nothing: why. */
async function lostRace(tx: Executor, token: Token, to: TokenStatus): Promise<never> {
  const now = await tokensRepository.getById(tx, token.id);
  if (now === undefined) {
    throw new NotFoundError('TOKEN_NOT_FOUND', `Token ${token.tokenId} no longer exists`, {
      tokenId: token.tokenId,
    });
  }
  throw new TransitionConflict(token.tokenId, token.status, now.status, to);
}

export type TransitionOptions = {
  /** The status the caller believes the token has; a different one raises TransitionConflict. */
  from?: TokenStatus;
  changes?: TokenChanges;
};

/**
 * Moves a token to `to` if the transition table allows it from its current status, with
 * `UPDATE ... WHERE id = $id AND status = $current`. Any lease on the token is dropped. `revealed` stamps
 * revealed_at; `failed` needs `changes.errorData`. Throws NotFoundError, InvalidStateTransition, or
 * TransitionConflict when the status changed between the read and the update.
 */
export async function transitionToken(
  tx: Executor,
  ref: TokenRef,
  to: TokenStatus,
  options: TransitionOptions = {},
): Promise<Token> {
  const changes = stamped(to, options.changes ?? {});
  const token = await load(tx, ref);
  const from = options.from ?? token.status;
  if (!canTransition(from, to))
    throw new InvalidStateTransition(token.tokenId, from, to, allowedTransitions(from));
  if (token.status !== from) throw new TransitionConflict(token.tokenId, from, token.status, to);
  const moved = await tokenQueue.setStatusIf(tx, token.id, from, to, changes);
  return moved ?? lostRace(tx, token, to);
}

/** Any non-terminal token -> failed, recording why. */
export async function failToken(
  tx: Executor,
  ref: TokenRef,
  errorData: ErrorData,
  options: Omit<TransitionOptions, 'changes'> = {},
): Promise<Token> {
  return transitionToken(tx, ref, 'failed', { ...options, changes: { errorData } });
}

/** The stage a failed token failed in (error_data.stage), or the image stage for a failure that names none. */
export function failedStage(token: Pick<Token, 'errorData'>): StageDefinition {
  const stage = token.errorData?.stage;
  return isStageName(stage) ? STAGES[stage] : STAGES.image;
}

/**
 * The operator's retry, the only way out of `failed`: back to the start of the stage it failed in
 * (error_data.stage), with that stage's attempts, the backoff, the lease and the last error reset, claimable at
 * once. Other stages' attempts and the CIDs already recorded are kept.
 */
export async function retryFailedToken(tx: Executor, ref: TokenRef): Promise<Token> {
  const token = await load(tx, ref);
  const stage = failedStage(token);
  if (token.status !== 'failed') {
    throw new InvalidStateTransition(
      token.tokenId,
      token.status,
      stage.start,
      allowedTransitions(token.status),
      'only a failed token can be retried',
    );
  }
  const moved = await tokenQueue.setStatusIf(tx, token.id, 'failed', stage.start, {
    [stage.attempts]: 0,
    nextAttemptAt: new Date(),
    errorData: null,
    ...(stage.start === 'ready' ? {} : { readyAt: null }),
  });
  if (moved === undefined) return lostRace(tx, token, stage.start);
  await tokenQueue.notifyStatus(tx, stage.start);
  return moved;
}

/**
 * finishClaimedToken for many claimed tokens in one statement (with their attempts rows closed and the NOTIFY,
 * as `options` say); returns the ids of the tokens that moved (the others lost their lease). Throws
 * InvalidStateTransition, before writing anything, for a move the table forbids.
 */
export async function finishClaimedTokens(
  tx: Executor,
  finishes: readonly ({
    token: Token;
    to: TokenStatus;
    changes?: TokenChanges;
  } & Pick<tokenCompletions.ClaimCompletion, 'attempt' | 'blobs' | 'rows'>)[],
  options: tokenCompletions.CompleteOptions = {},
): Promise<Set<string>> {
  for (const { token, to } of finishes) {
    if (!canTransition(token.status, to)) {
      throw new InvalidStateTransition(token.tokenId, token.status, to, allowedTransitions(token.status));
    }
  }
  return tokenCompletions.completeClaims(
    tx,
    finishes.map(({ token, to, changes, ...written }) => ({
      ref: token,
      to,
      changes: stamped(to, changes ?? {}),
      ...written,
    })),
    options,
  );
}

/**
 * Ends a worker's claim on `token` (the row its claim returned) by moving it to `to`, if the table allows it.
 * Undefined when the lease was lost (expired and taken over, or the token moved meanwhile): the worker must
 * drop its result. Throws InvalidStateTransition for a move the table forbids.
 */
export async function finishClaimedToken(
  tx: Executor,
  token: Token,
  to: TokenStatus,
  changes: TokenChanges = {},
): Promise<Token | undefined> {
  if (!canTransition(token.status, to))
    throw new InvalidStateTransition(token.tokenId, token.status, to, allowedTransitions(token.status));
  return tokenQueue.completeClaim(tx, token, to, stamped(to, changes));
}

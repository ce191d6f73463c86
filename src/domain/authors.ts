// What an author can write about themself: the prompt (signed with the wallet), read by the image stage for every
// token of theirs that it has not generated yet. The prompt is never returned by the API and never logged.
import type { Address } from 'viem';
import type { UnitOfWork } from '../repositories/unit-of-work.js';
import { ValidationError } from '../errors.js';
import { consumeNonce, type CheckedMessage } from './sign-in.js';
import { STAGES } from './stages.js';

export const PROMPT_MAX_CHARACTERS = 1000;

/**
 * The prompt as stored: trimmed, 1..1000 characters (Unicode code points, as PostgreSQL's char_length counts),
 * no control characters (C0, DEL, C1: newlines and tabs included), no lone surrogates. Throws a 400 whose message
 * never quotes the prompt.
 */
export function normalizePrompt(raw: string): string {
  const prompt = raw.trim();
  const problem = promptProblem(prompt);
  if (problem !== undefined) {
    throw new ValidationError(`Invalid request body: body.prompt: ${problem}`, [
      { path: 'body.prompt', code: 'invalid_prompt', message: problem },
    ]);
  }
  return prompt;
}

function promptProblem(prompt: string): string | undefined {
  if (prompt.length === 0) return 'the prompt is empty (after trimming spaces)';
  if (/\p{Cs}/u.test(prompt)) return 'the prompt contains a lone UTF-16 surrogate';
  const length = [...prompt].length;
  if (length > PROMPT_MAX_CHARACTERS) {
    return `the prompt has ${length} characters; at most ${PROMPT_MAX_CHARACTERS} are allowed`;
  }
  const control = /\p{Cc}/u.exec(prompt);
  if (control !== null) {
    const codePoint = control[0].codePointAt(0) ?? 0;
    return `the prompt contains a control character (U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at index ${control.index})`;
  }
  return undefined;
}

export type PromptSet = { wallet: Address; tokensAwaitingImage: number };

/**
 * Consumes the message's nonce and sets the prompt in the caller's transaction, creating the author if absent.
 * Tokens past the image stage keep their image; the answer counts those that will still read the prompt.
 */
export async function setPrompt(
  uow: UnitOfWork,
  wallet: Address,
  signedIn: CheckedMessage,
  prompt: string,
): Promise<PromptSet> {
  await consumeNonce(uow, signedIn.nonce);
  const author = await uow.authors.upsertPrompt(wallet, prompt);
  const tokensAwaitingImage = await uow.authors.countAwaitingStage(author.id, STAGES.image);
  return { wallet, tokensAwaitingImage };
}

// Linking an author's X handle: a wallet-signed start stores the OAuth state and PKCE verifier in PostgreSQL (so
// any instance can finish the flow), and the callback checks that state, exchanges the code, reads the username
// from X, then consumes the state in the transaction that stores the handle (as a nonce is consumed by the write
// it authorises). Failures carry their own codes and change nothing: the state stays usable until it expires, so
// the browser can be sent to the same authorization URL again.
import type { Address } from 'viem';
import type { OAuthState } from '../db/schema.js';
import { AuthenticationError } from '../errors.js';
import type { XOAuthClient } from '../providers/x/x-oauth.js';
import { newCodeVerifier, newOAuthState } from '../providers/x/x-oauth.js';
import type { UnitOfWork } from '../repositories/unit-of-work.js';
import { consumeNonce, type CheckedMessage } from './sign-in.js';

/**
 * Consumes the message's nonce, creates the author if absent, and stores a fresh state + code verifier that
 * expire after ttlSeconds. Returns where to send the browser.
 */
export async function startXLink(
  uow: UnitOfWork,
  wallet: Address,
  signedIn: CheckedMessage,
  client: XOAuthClient,
  ttlSeconds: number,
): Promise<{ authorizationUrl: string; expiresAt: Date }> {
  await consumeNonce(uow, signedIn.nonce);
  await uow.oauthStates.purgeExpired(3600, 100);
  const [author] = await uow.authors.ensureByWallets([wallet]);
  if (author === undefined) throw new Error(`author ${wallet} was neither found nor created`);
  const state = newOAuthState();
  const codeVerifier = newCodeVerifier();
  const row = await uow.oauthStates.add(
    { state, provider: 'x', authorId: author.id, codeVerifier },
    ttlSeconds,
  );
  return { authorizationUrl: client.authorizationUrl(state, codeVerifier), expiresAt: row.expiresAt };
}

/**
 * Checks, without using it, that the state was started here for X, is unused and unexpired (database clock):
 * OAUTH_STATE_UNKNOWN / OAUTH_STATE_USED / OAUTH_STATE_EXPIRED otherwise. Lets a callback that cannot succeed stop
 * before calling X; the state is consumed only by consumeXState, in the transaction of the write.
 */
export async function checkXState(uow: UnitOfWork, state: string): Promise<OAuthState> {
  const row = await uow.oauthStates.getLive(state);
  if (row !== undefined && row.provider === 'x' && row.consumedAt === null && row.live) return row;
  throw stateRefusal(row);
}

/**
 * Consumes an X state in the caller's transaction (the one that stores the handle): of two callbacks with one
 * state only one can (the other is told OAUTH_STATE_USED); an expired or unknown state is refused with its code.
 */
export async function consumeXState(uow: UnitOfWork, state: string): Promise<OAuthState> {
  const consumed = await uow.oauthStates.consume(state);
  if (consumed !== undefined && consumed.provider === 'x') return consumed;
  throw stateRefusal(consumed ?? (await uow.oauthStates.get(state)));
}

function stateRefusal(row: OAuthState | undefined): AuthenticationError {
  if (row === undefined || row.provider !== 'x') {
    return new AuthenticationError('OAUTH_STATE_UNKNOWN', 'This sign-in with X was not started here');
  }
  if (row.consumedAt !== null) {
    return new AuthenticationError('OAUTH_STATE_USED', 'This sign-in with X has already been completed');
  }
  return new AuthenticationError('OAUTH_STATE_EXPIRED', 'This sign-in with X took too long; start again');
}

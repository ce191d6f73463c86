// Linking an author's X handle: a wallet-signed start stores the OAuth state and PKCE verifier in PostgreSQL (so
// any instance can finish the flow), and the callback claims that state once, exchanges the code, reads the
// username from X and stores it. Failures carry their own codes; the handle changes only on success.
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
 * Claims an X state for this callback: marks it used if it is known, unused and unexpired (of two concurrent
 * callbacks only one can), or refuses with OAUTH_STATE_UNKNOWN / OAUTH_STATE_USED / OAUTH_STATE_EXPIRED.
 */
export async function claimXState(uow: UnitOfWork, state: string): Promise<OAuthState> {
  const claimed = await uow.oauthStates.consume(state);
  if (claimed !== undefined && claimed.provider === 'x') return claimed;
  const row = claimed ?? (await uow.oauthStates.get(state));
  if (row === undefined || row.provider !== 'x') {
    throw new AuthenticationError('OAUTH_STATE_UNKNOWN', 'This sign-in with X was not started here');
  }
  if (row.consumedAt !== null) {
    throw new AuthenticationError('OAUTH_STATE_USED', 'This sign-in with X has already been completed');
  }
  throw new AuthenticationError('OAUTH_STATE_EXPIRED', 'This sign-in with X took too long; start again');
}

// The X (Twitter) OAuth 2.0 client of the author link: authorization code with PKCE (S256), a confidential
// client (HTTP Basic with X_CLIENT_ID:X_CLIENT_SECRET at the token endpoint), then GET /2/users/me for the
// username. Endpoints as X documents them: {X_AUTHORIZE_URL}?response_type=code..., POST {X_API_URL}/2/oauth2/token,
// GET {X_API_URL}/2/users/me. Every failure is an UpstreamError with its own code; nothing here writes.
import { createHash, randomBytes } from 'node:crypto';
import { NotConfiguredError, UpstreamError } from '../../errors.js';

/** What users/me needs: the profile (users.read) of the signed-in user, readable with tweet.read. */
export const X_SCOPES = ['users.read', 'tweet.read'] as const;

const X_HANDLE_RE = /^[A-Za-z0-9_]{1,15}$/;
const CALL_TIMEOUT_MS = 10_000;

export type XOAuthSettings = {
  clientId: string;
  clientSecret: string;
  redirectUri: string | undefined;
  authorizeUrl: string;
  apiUrl: string;
};

export type XOAuthClient = {
  /** The URL the browser is sent to: X asks the user, then redirects to X_REDIRECT_URI with code and state. */
  authorizationUrl: (state: string, codeVerifier: string) => string;
  /** Exchanges the code for an access token (PKCE: the verifier whose S256 challenge started the flow). */
  exchangeCode: (code: string, codeVerifier: string) => Promise<string>;
  /** The username (handle, without @) of the token's user. */
  username: (accessToken: string) => Promise<string>;
};

/** PKCE verifier (RFC 7636): 32 random bytes, base64url: 43 characters of the unreserved set. */
export function newCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

/** An unguessable OAuth state: 24 random bytes, base64url (32 characters). */
export function newOAuthState(): string {
  return randomBytes(24).toString('base64url');
}

export function codeChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier).digest('base64url');
}

/** Throws 503 <VAR>_MISSING for the first X variable that is not set. */
export function requireXConfigured(x: XOAuthSettings): asserts x is XOAuthSettings & { redirectUri: string } {
  if (x.clientId === '') throw new NotConfiguredError('X_CLIENT_ID', 'the X link is not configured');
  if (x.clientSecret === '') throw new NotConfiguredError('X_CLIENT_SECRET', 'the X link is not configured');
  if (x.redirectUri === undefined) {
    throw new NotConfiguredError('X_REDIRECT_URI', 'the X link is not configured');
  }
}

export function createXOAuthClient(settings: XOAuthSettings): XOAuthClient {
  requireXConfigured(settings);
  const { clientId, clientSecret, redirectUri, authorizeUrl, apiUrl } = settings;
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString(
    'base64',
  );

  const call = async (code: string, what: string, url: string, init: RequestInit): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    } catch (error) {
      throw new UpstreamError(code, `X did not answer the ${what}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) {
      // X's OAuth errors are {"error":"invalid_request","error_description":"..."}: safe to pass on.
      const reason = /"error"\s*:\s*"([a-z_]+)"/.exec(text)?.[1];
      throw new UpstreamError(
        code,
        `X refused the ${what}: HTTP ${response.status}${reason ? ` ${reason}` : ''}`,
        { details: { providerStatus: response.status, ...(reason ? { reason } : {}) } },
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UpstreamError(code, `X answered the ${what} with something that is not JSON`, {
        cause: error,
      });
    }
  };

  return {
    authorizationUrl: (state, codeVerifier) => {
      const url = new URL(authorizeUrl);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: X_SCOPES.join(' '),
        state,
        code_challenge: codeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      }).toString();
      return url.toString();
    },
    exchangeCode: async (code, codeVerifier) => {
      const body = await call('X_TOKEN_EXCHANGE_FAILED', 'code exchange', `${apiUrl}/2/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: codeVerifier,
          client_id: clientId,
        }).toString(),
      });
      const token = (body as { access_token?: unknown } | null)?.access_token;
      if (typeof token !== 'string' || token === '') {
        throw new UpstreamError(
          'X_TOKEN_EXCHANGE_FAILED',
          'X answered the code exchange without an access token',
        );
      }
      return token;
    },
    username: async (accessToken) => {
      const body = await call('X_PROFILE_FAILED', 'profile request', `${apiUrl}/2/users/me`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      const username = (body as { data?: { username?: unknown } } | null)?.data?.username;
      if (typeof username !== 'string' || !X_HANDLE_RE.test(username)) {
        throw new UpstreamError('X_PROFILE_FAILED', 'X answered users/me without a valid username');
      }
      return username;
    },
  };
}

// The X handle link (OAuth 2.0 authorization code with PKCE): POST /api/authors/{wallet}/x/start, signed like
// the prompt, answers the authorization URL; X sends the browser to GET /api/authors/x/callback, which claims the
// state, exchanges the code, reads the username from users/me, stores it, and redirects to FRONTEND_URL with
// `x=linked&handle=...` or `x=error&code=...`. Registered before the routes with a {wallet} segment.
import type { Hex } from 'viem';
import { z } from '../../lib/zod.js';
import { createSignInVerifier } from '../../domain/sign-in.js';
import { checkXState, consumeXState, startXLink } from '../../domain/x-link.js';
import { AppError, NotConfiguredError } from '../../errors.js';
import { createXOAuthClient, requireXConfigured, type XOAuthClient } from '../../providers/x/x-oauth.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';
import { checksummed, SIGNED_ERRORS, SignedFields, WalletParams } from './authors.routes.js';

const XStartBody = z.object(SignedFields).openapi('XLinkStartRequest');

const XStartSchema = z
  .object({
    authorizationUrl: z.url().describe('Send the browser here; X redirects it to X_REDIRECT_URI afterwards.'),
    expiresAt: IsoTimestamp.describe('The flow must be finished before this time.'),
  })
  .openapi('XLinkStarted');

const CallbackQuery = z.object({
  state: z.string().min(1).max(256),
  code: z.string().min(1).max(2048).optional(),
  error: z.string().max(256).optional(),
});

export const xRoutes: RouteFactory = ({ config }) => {
  const signIn = createSignInVerifier(config);
  let client: XOAuthClient | undefined;
  const xClient = (): XOAuthClient => {
    requireXConfigured(config.x);
    if (config.frontendUrl === undefined) {
      throw new NotConfiguredError('FRONTEND_URL', 'the X link has nowhere to send the browser back to');
    }
    client ??= createXOAuthClient(config.x);
    return client;
  };
  const redirect = (result: Record<string, string>) => {
    const url = new URL(config.frontendUrl ?? '');
    for (const [key, value] of Object.entries(result)) url.searchParams.set(key, value);
    return { status: 302 as const, headers: { location: url.toString(), 'cache-control': 'no-store' } };
  };
  const NOT_CONFIGURED =
    'X_CLIENT_ID_MISSING, X_CLIENT_SECRET_MISSING, X_REDIRECT_URI_MISSING or FRONTEND_URL_MISSING: the X link ' +
    'is not configured; or the database is unavailable.';

  return [
    defineRoute({
      method: 'post',
      path: '/api/authors/{wallet}/x/start',
      operationId: 'startXLink',
      summary: "Start linking the author's X handle (OAuth 2.0 with PKCE), signed by the wallet",
      description:
        'The message is checked as for the prompt and its nonce consumed. The state and PKCE verifier are ' +
        'stored in PostgreSQL for OAUTH_STATE_TTL_SECONDS, so any instance can finish the flow.',
      tags: ['authors'],
      params: WalletParams,
      body: { schema: XStartBody },
      responses: { 200: { description: 'Where to send the browser.', schema: XStartSchema } },
      errors: { ...SIGNED_ERRORS, 503: `${NOT_CONFIGURED} ${SIGNED_ERRORS[503]}` },
    }).handle(async ({ params, body, uow, log }) => {
      const x = xClient();
      const wallet = checksummed(params.wallet);
      const signedIn = await signIn.verify(
        { message: body.message, signature: body.signature as Hex },
        wallet,
      );
      const started = await startXLink(await uow(), wallet, signedIn, x, config.x.stateTtlSeconds);
      log.info('author.x_link_started', { wallet });
      return {
        status: 200,
        body: { authorizationUrl: started.authorizationUrl, expiresAt: started.expiresAt.toISOString() },
      };
    }),
    defineRoute({
      method: 'get',
      path: '/api/authors/x/callback',
      operationId: 'finishXLink',
      summary: 'X redirects the browser here; the handle is stored and the browser sent to FRONTEND_URL',
      description:
        'Redirects to FRONTEND_URL with `x=linked&handle=<username>`, or `x=error&code=<code>`: ' +
        'OAUTH_STATE_UNKNOWN, OAUTH_STATE_USED, OAUTH_STATE_EXPIRED, X_AUTHORIZATION_DENIED (the user said no ' +
        'or X sent an error), X_CODE_MISSING, X_TOKEN_EXCHANGE_FAILED, X_PROFILE_FAILED. A state is claimed ' +
        'once, whatever follows; only a success changes the handle.',
      tags: ['authors'],
      query: CallbackQuery,
      responses: { 302: { description: 'To FRONTEND_URL with the result.' } },
      errors: { 503: NOT_CONFIGURED },
    }).handle(async ({ query, uow, checkpoint, log }) => {
      const x = xClient();
      try {
        const pending = await checkXState(await uow(), query.state);
        // Commit the read: no connection is held while X answers.
        await checkpoint();
        if (query.error !== undefined) {
          throw new AppError(400, 'X_AUTHORIZATION_DENIED', `X answered ${query.error}`);
        }
        if (query.code === undefined) throw new AppError(400, 'X_CODE_MISSING', 'X sent no code');
        const accessToken = await x.exchangeCode(query.code, pending.codeVerifier);
        const handle = await x.username(accessToken);
        const write = await uow();
        const consumed = await consumeXState(write, query.state);
        const author = await write.authors.setHandle(consumed.authorId, { twitterHandle: handle });
        log.info('author.x_linked', { wallet: author?.walletAddress, handle });
        return redirect({ x: 'linked', handle });
      } catch (error) {
        if (!(error instanceof AppError) || error.status === 503) throw error;
        log.warn('author.x_link_failed', { code: error.code, reason: error.message });
        return redirect({ x: 'error', code: error.code });
      }
    }),
  ];
};

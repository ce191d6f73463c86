// The Farcaster handle link: POST /api/authors/{wallet}/farcaster with the wallet's signed message and a Sign In
// With Farcaster message signed by the fid's custody address (rules in src/domain/farcaster-link.ts). The
// username comes from the hub. Registered before the routes with a {wallet} segment only for symmetry with X.
import type { Hex } from 'viem';
import { z } from '../../lib/zod.js';
import { linkFarcaster, verifyFarcaster, type FarcasterProviders } from '../../domain/farcaster-link.js';
import { createSignatureChecker, createSignInVerifier } from '../../domain/sign-in.js';
import { createFarcasterClients } from '../../providers/farcaster/index.js';
import { defineRoute, type RouteFactory } from '../route.js';
import { checksummed, SIGNED_ERRORS, SignedFields, WalletParams } from './authors.routes.js';

const FarcasterBody = z
  .object({
    ...SignedFields,
    farcasterMessage: z
      .string()
      .min(1)
      .max(4096)
      .describe(
        'A Sign In With Farcaster message (EIP-4361, chain 10, statement "Farcaster Auth", one ' +
          '`farcaster://fid/<fid>` resource) for AUTH_DOMAIN carrying the same nonce as `message`.',
      ),
    farcasterSignature: SignedFields.signature.describe(
      "The fid's custody address's signature of farcasterMessage.",
    ),
  })
  .openapi('FarcasterLinkRequest');

const FarcasterLinkedSchema = z
  .object({
    wallet: z.string(),
    fid: z
      .string()
      .regex(/^[1-9]\d*$/)
      .describe('The Farcaster id, as a decimal string.'),
    farcasterHandle: z.string().describe('The username the hub answered for the fid.'),
  })
  .openapi('FarcasterLinked');

export const farcasterRoutes: RouteFactory = ({ config }) => {
  const signIn = createSignInVerifier(config);
  let providers: FarcasterProviders | undefined;
  const farcaster = (): FarcasterProviders => {
    if (providers !== undefined) return providers;
    const clients = createFarcasterClients(config.farcaster);
    providers = {
      checkSignature: createSignatureChecker(clients.rpcUrl, signIn.policy, 'FARCASTER_RPC_UNAVAILABLE'),
      custodyOf: clients.custodyOf,
      hub: clients.hub,
    };
    return providers;
  };

  return [
    defineRoute({
      method: 'post',
      path: '/api/authors/{wallet}/farcaster',
      operationId: 'linkFarcaster',
      summary:
        "Link the author's Farcaster handle: the wallet's signature and a Sign In With Farcaster proof",
      description:
        'The wallet message is checked as for the prompt. The Sign In With Farcaster message must name ' +
        'AUTH_DOMAIN and chain 10, carry the wallet message’s nonce, be unexpired and issued recently, and be ' +
        'signed by the custody address of its fid (custodyOf in the IdRegistry at FARCASTER_ID_REGISTRY_ADDRESS ' +
        'on FARCASTER_RPC_URL). The username is read from the hub at FARCASTER_HUB_URL, never from the request. ' +
        'Creates the author if absent. Any refusal changes nothing (the nonce stays unused).',
      tags: ['authors'],
      params: WalletParams,
      body: { schema: FarcasterBody },
      responses: { 200: { description: 'The handle is stored.', schema: FarcasterLinkedSchema } },
      errors: {
        401:
          `${SIGNED_ERRORS[401]} For the Farcaster message: SIWF_MESSAGE_MALFORMED, SIWF_DOMAIN_MISMATCH, ` +
          'SIWF_CHAIN_MISMATCH, SIWF_EXPIRED, SIWF_NOT_YET_VALID, SIWF_ISSUED_IN_FUTURE, SIWF_NONCE_MISMATCH, ' +
          'SIWF_SIGNATURE_INVALID.',
        403: `${SIGNED_ERRORS[403]} SIWF_CUSTODY_MISMATCH: the fid is held by another address than the signer.`,
        422:
          'FARCASTER_FID_NOT_REGISTERED: the IdRegistry has no custody for the fid; ' +
          'FARCASTER_USERNAME_NOT_FOUND: the hub knows no username for the fid.',
        502: 'FARCASTER_HUB_BAD_ANSWER: the hub answered something else than a username message.',
        503:
          'FARCASTER_RPC_URL_MISSING or FARCASTER_HUB_URL_MISSING (not configured), FARCASTER_RPC_UNAVAILABLE, ' +
          `FARCASTER_HUB_UNAVAILABLE. ${SIGNED_ERRORS[503]}`,
      },
    }).handle(async ({ params, body, uow, log }) => {
      const providers = farcaster();
      const wallet = checksummed(params.wallet);
      // Every check and remote read before the transaction opens: no connection waits on the chain or the hub.
      const signedIn = await signIn.verify(
        { message: body.message, signature: body.signature as Hex },
        wallet,
      );
      const verified = await verifyFarcaster(
        { message: body.farcasterMessage, signature: body.farcasterSignature as Hex },
        signedIn.nonce,
        signIn.policy,
        providers,
      );
      await linkFarcaster(await uow(), wallet, signedIn, verified.username);
      log.info('author.farcaster_linked', {
        wallet,
        fid: verified.fid.toString(),
        handle: verified.username,
      });
      return {
        status: 200,
        body: { wallet, fid: verified.fid.toString(), farcasterHandle: verified.username },
      };
    }),
  ];
};

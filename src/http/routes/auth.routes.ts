// POST /api/auth/nonce: the single-use nonce that a sign-in message (EIP-4361) must carry. The answer also says
// which domain and chain id the message must name, so a client has everything it needs to build it.
import { z } from '../../lib/zod.js';
import { issueNonce } from '../../domain/sign-in.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';

const NonceSchema = z
  .object({
    nonce: z.string().openapi({ example: '9f86d081884c7d659a2feaa0c55ad015' }),
    expiresAt: IsoTimestamp.describe('The nonce is refused after this time.'),
    domain: z.string().describe('The `domain` the message must name (AUTH_DOMAIN).'),
    chainId: z.int().describe('The `Chain ID` the message must name.'),
  })
  .openapi('AuthNonce');

export const authRoutes: RouteFactory = ({ config }) => [
  defineRoute({
    method: 'post',
    path: '/api/auth/nonce',
    operationId: 'createAuthNonce',
    summary: 'A single-use nonce for a Sign-In with Ethereum message',
    description:
      `Valid for AUTH_NONCE_TTL_SECONDS (${config.auth.nonceTtlSeconds} s). Build an EIP-4361 message with it ` +
      '(domain and chain id as answered, `Issued At` now), have the wallet sign it, and send both with the ' +
      'write it authorises; the nonce is consumed by that write and refused afterwards.',
    tags: ['auth'],
    responses: { 201: { description: 'A fresh nonce.', schema: NonceSchema } },
  }).handle(async ({ uow }) => {
    const issued = await issueNonce(await uow(), config.auth.nonceTtlSeconds);
    return {
      status: 201,
      body: {
        nonce: issued.nonce,
        expiresAt: issued.expiresAt.toISOString(),
        domain: config.auth.domain,
        chainId: config.auth.chainId,
      },
    };
  }),
];

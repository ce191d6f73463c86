// The authors: their pages (never their prompt), their tokens, the leaderboard, and the prompt they set with a
// signed message. Registered before the routes with a {wallet} segment so that /leaderboard is not a wallet.
import { getAddress, type Address, type Hex } from 'viem';
import { z } from '../../lib/zod.js';
import { notStored } from '../../db/column-ranges.js';
import { TOKEN_STATUSES, type Author } from '../../db/schema.js';
import { normalizePrompt, PROMPT_MAX_CHARACTERS, setPrompt } from '../../domain/authors.js';
import { createSignInVerifier } from '../../domain/sign-in.js';
import { NotFoundError } from '../../errors.js';
import type { AuthorTokenStats } from '../../repositories/authors.repository.js';
import { IsoTimestamp } from '../openapi.js';
import { defineRoute, type RouteFactory } from '../route.js';
import { TokenPage, toTokenResponse } from './tokens.routes.js';

const WALLET_RE = /^0x[0-9a-fA-F]{40}$/;

export const WalletParams = z.object({
  wallet: z
    .string()
    .regex(WALLET_RE, 'expected a 0x address (40 hex digits)')
    .describe('The author wallet, in any letter case.')
    .openapi({ example: '0xA11CE00000000000000000000000000000000A11' }),
});

/** The signed part of every author write: an EIP-4361 message and the wallet's signature of it. */
export const SignedFields = {
  message: z
    .string()
    .min(1)
    .max(4096)
    .describe('An EIP-4361 (Sign-In with Ethereum) message carrying a nonce from POST /api/auth/nonce.'),
  signature: z
    .string()
    .regex(/^0x(?:[0-9a-fA-F]{2})+$/, 'expected 0x-prefixed hex bytes')
    .max(32_770)
    .describe('The wallet signature (EOA, ERC-1271 or ERC-6492 wrapped).'),
};

/** The checksummed form of a wallet given in any case. */
export function checksummed(wallet: string): Address {
  return getAddress(wallet.toLowerCase());
}

const PromptBody = z
  .object({
    ...SignedFields,
    prompt: z
      .string()
      .max(PROMPT_MAX_CHARACTERS * 4)
      .describe(
        `Trimmed, then 1..${PROMPT_MAX_CHARACTERS} characters without control characters. Never returned.`,
      ),
  })
  .openapi('SetPromptRequest');

const PromptSetSchema = z
  .object({
    wallet: z.string(),
    hasPrompt: z.literal(true),
    tokensAwaitingImage: z
      .int()
      .min(0)
      .describe('Tokens of the author the image stage has not generated yet: they will use this prompt.'),
  })
  .openapi('PromptSet');

const TokenCounts = z.object(
  Object.fromEntries([
    ['total', z.int().min(0)],
    ...TOKEN_STATUSES.map((status) => [status, z.int().min(0)] as const),
  ]) as Record<'total' | (typeof TOKEN_STATUSES)[number], z.ZodInt>,
);

export const AuthorSchema = z
  .object({
    wallet: z.string().openapi({ example: '0xA11CE00000000000000000000000000000000A11' }),
    hasPrompt: z
      .boolean()
      .describe('Whether the author has set a prompt (the prompt itself is never shown).'),
    xHandle: z.string().nullable(),
    farcasterHandle: z.string().nullable(),
    tokens: TokenCounts.describe('Token counts, in total and per status.'),
    firstMintAt: IsoTimestamp.nullable(),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
  })
  .openapi('Author');

const LeaderboardQuery = z.object({
  limit: notStored(z.coerce.number().int().min(1).max(100), 'a page size').default(20),
});

const LeaderboardSchema = z
  .object({
    items: z.array(
      z.object({
        rank: z.int().min(1),
        wallet: z.string(),
        tokenCount: z.int().min(1),
        firstMintAt: IsoTimestamp,
        xHandle: z.string().nullable(),
        farcasterHandle: z.string().nullable(),
      }),
    ),
  })
  .openapi('Leaderboard');

const AuthorTokensQuery = z.object({
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,9}$/, 'expected the nextCursor of a previous page')
    .optional()
    .describe('nextCursor of the previous page.'),
  limit: notStored(z.coerce.number().int().min(1).max(100), 'a page size').default(20),
});

export const SIGNED_ERRORS = {
  401:
    'The signed message is refused: SIWE_MESSAGE_MALFORMED, SIWE_DOMAIN_MISMATCH, SIWE_CHAIN_MISMATCH, ' +
    'SIWE_EXPIRED, SIWE_NOT_YET_VALID, SIWE_ISSUED_IN_FUTURE, SIWE_SIGNATURE_INVALID, NONCE_UNKNOWN, ' +
    'NONCE_USED, NONCE_EXPIRED.',
  403: 'SIWE_ADDRESS_MISMATCH: the message signs in as another wallet than the one in the path.',
  503:
    'RPC_URL_MISSING (a contract-wallet signature needs the chain), CHAIN_UNAVAILABLE, or the database is ' +
    'unavailable.',
} as const;

function toAuthorResponse(author: Author, stats: AuthorTokenStats): z.input<typeof AuthorSchema> {
  return {
    wallet: checksummed(author.walletAddress),
    hasPrompt: author.promptText !== null,
    xHandle: author.twitterHandle,
    farcasterHandle: author.farcasterHandle,
    tokens: { total: stats.total, ...stats.byStatus },
    firstMintAt: stats.firstMintAt?.toISOString() ?? null,
    createdAt: author.createdAt.toISOString(),
    updatedAt: author.updatedAt.toISOString(),
  };
}

export const authorsRoutes: RouteFactory = ({ config }) => {
  const signIn = createSignInVerifier(config);
  return [
    defineRoute({
      method: 'get',
      path: '/api/authors/leaderboard',
      operationId: 'getAuthorLeaderboard',
      summary: 'Authors by minted tokens',
      description:
        'Most tokens first; ties by earliest first mint, then by wallet. Authors without tokens are left out.',
      tags: ['authors'],
      query: LeaderboardQuery,
      responses: { 200: { description: 'The top `limit` authors.', schema: LeaderboardSchema } },
    }).handle(async ({ query, uow }) => {
      const rows = await (await uow()).authors.leaderboard(query.limit);
      return {
        status: 200,
        body: {
          items: rows.map((row, i) => ({
            rank: i + 1,
            wallet: checksummed(row.walletAddress),
            tokenCount: row.tokenCount,
            firstMintAt: row.firstMintAt.toISOString(),
            xHandle: row.twitterHandle,
            farcasterHandle: row.farcasterHandle,
          })),
        },
      };
    }),
    defineRoute({
      method: 'get',
      path: '/api/authors/{wallet}',
      operationId: 'getAuthor',
      summary: 'One author: whether a prompt is set, handles, token counts',
      tags: ['authors'],
      params: WalletParams,
      responses: { 200: { description: 'The author.', schema: AuthorSchema } },
      errors: { 404: 'AUTHOR_NOT_FOUND: no author with this wallet (nobody minted for it, no prompt set).' },
    }).handle(async ({ params, uow }) => {
      const { authors } = await uow();
      const author = await authors.getByWallet(params.wallet);
      if (author === undefined) throw authorNotFound(params.wallet);
      return { status: 200, body: toAuthorResponse(author, await authors.tokenStats(author.id)) };
    }),
    defineRoute({
      method: 'get',
      path: '/api/authors/{wallet}/tokens',
      operationId: 'listAuthorTokens',
      summary: "An author's tokens, newest first",
      description: 'Pages with `cursor` (keyset on token id, newest first).',
      tags: ['authors'],
      params: WalletParams,
      query: AuthorTokensQuery,
      responses: { 200: { description: 'One page of the author’s tokens.', schema: TokenPage } },
      errors: { 404: 'AUTHOR_NOT_FOUND: no author with this wallet.' },
    }).handle(async ({ params, query, uow }) => {
      const { authors, tokens } = await uow();
      const author = await authors.getByWallet(params.wallet);
      if (author === undefined) throw authorNotFound(params.wallet);
      // One extra row tells whether another page follows without a count query.
      const rows = await tokens.listPage({
        limit: query.limit + 1,
        beforeTokenId: query.cursor === undefined ? undefined : Number(query.cursor),
        authorWallet: author.walletAddress,
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        status: 200,
        body: {
          items: page.map(toTokenResponse),
          nextCursor: rows.length > query.limit && last !== undefined ? String(last.tokenId) : null,
        },
      };
    }),
    defineRoute({
      method: 'put',
      path: '/api/authors/{wallet}/prompt',
      operationId: 'setAuthorPrompt',
      summary: "Set the author's prompt, signed by the wallet",
      description:
        'The message must be signed by {wallet}, name AUTH_DOMAIN and the network’s chain id, be issued ' +
        'recently and carry an unused nonce from POST /api/auth/nonce, which this write consumes. Creates the ' +
        'author if absent. Tokens already past the image stage keep their image.',
      tags: ['authors'],
      params: WalletParams,
      body: { schema: PromptBody },
      responses: { 200: { description: 'The prompt is set.', schema: PromptSetSchema } },
      errors: SIGNED_ERRORS,
    }).handle(async ({ params, body, uow, log }) => {
      const wallet = checksummed(params.wallet);
      const prompt = normalizePrompt(body.prompt);
      // The signature check may call the RPC: done before the transaction opens, so no connection waits on it.
      const signedIn = await signIn.verify(
        { message: body.message, signature: body.signature as Hex },
        wallet,
      );
      const result = await setPrompt(await uow(), wallet, signedIn, prompt);
      log.info('author.prompt_set', {
        wallet,
        promptLength: [...prompt].length,
        tokensAwaitingImage: result.tokensAwaitingImage,
      });
      return {
        status: 200,
        body: { wallet, hasPrompt: true, tokensAwaitingImage: result.tokensAwaitingImage },
      };
    }),
  ];
};

export function authorNotFound(wallet: string): NotFoundError {
  return new NotFoundError('AUTHOR_NOT_FOUND', `No author with wallet ${checksummed(wallet)}`);
}

// Linking an author's Farcaster handle. The request carries two signed messages: the wallet's EIP-4361 message
// (checked as for the prompt) and a Sign In With Farcaster message, an EIP-4361 message that the fid's custody
// address signs, with `farcaster://fid/<fid>` as its one resource. The SIWF message must name AUTH_DOMAIN, chain
// 10 (OP Mainnet, as Farcaster's own verifier requires), carry the SAME nonce as the wallet's message (one nonce
// from POST /api/auth/nonce binds the two signatures to one request, consumed once) and be unexpired. Its signer
// must be custodyOf(fid) in the IdRegistry, and the username is read from a hub, never taken from the client.
// Everything is checked before the transaction; the nonce is consumed in the transaction that stores the handle.
import { isAddressEqual, type Address } from 'viem';
import { AppError, AuthenticationError } from '../errors.js';
import type { CustodyReader } from '../providers/farcaster/id-registry.js';
import type { HubClient } from '../providers/farcaster/hub.js';
import type { UnitOfWork } from '../repositories/unit-of-work.js';
import {
  checkSiweMessage,
  consumeNonce,
  type CheckedMessage,
  type SignatureChecker,
  type SignedMessage,
  type SignInPolicy,
} from './sign-in.js';

/** Sign In With Farcaster messages name OP Mainnet, where the IdRegistry lives. */
export const SIWF_CHAIN_ID = 10;
/** The statements Farcaster's clients write (AuthKit: "Farcaster Auth"; older Warpcast: "Farcaster Connect"). */
export const SIWF_STATEMENTS = ['Farcaster Auth', 'Farcaster Connect'] as const;
const FID_RESOURCE_RE = /^farcaster:\/\/fid\/([1-9]\d{0,19})$/;

export type CheckedSiwf = { custody: Address; fid: bigint; nonce: string };

/**
 * Checks the SIWF message without its signature: the wallet message's rules (domain, expiry, issued recently),
 * chain 10, a Farcaster statement, exactly one fid resource, and the nonce of the wallet's message. Refusals are
 * the SIWE codes with an SIWF_ prefix, so the answer says which of the two messages was refused. Pure.
 */
export function checkSiwfMessage(
  text: string,
  policy: Pick<SignInPolicy, 'domain' | 'maxAgeMs' | 'clockSkewMs'>,
  walletNonce: string,
  now: Date,
): CheckedSiwf {
  let checked: CheckedMessage;
  try {
    checked = checkSiweMessage(text, { ...policy, chainId: SIWF_CHAIN_ID }, now);
  } catch (error) {
    if (error instanceof AuthenticationError) {
      throw new AuthenticationError(
        error.code.replace(/^SIWE_/, 'SIWF_'),
        `Sign In With Farcaster: ${error.message}`,
        error.status as 401 | 403,
        error.details,
      );
    }
    throw error;
  }
  const statement = checked.fields.statement;
  if (!SIWF_STATEMENTS.some((s) => s === statement)) {
    throw new AuthenticationError(
      'SIWF_MESSAGE_MALFORMED',
      `A Sign In With Farcaster message states ${SIWF_STATEMENTS.map((s) => `"${s}"`).join(' or ')}`,
    );
  }
  const fids = (checked.fields.resources ?? []).flatMap((r) => FID_RESOURCE_RE.exec(r)?.[1] ?? []);
  const fid = fids[0];
  if (fids.length !== 1 || fid === undefined) {
    throw new AuthenticationError(
      'SIWF_MESSAGE_MALFORMED',
      'A Sign In With Farcaster message names exactly one farcaster://fid/<fid> resource',
    );
  }
  if (checked.nonce !== walletNonce) {
    throw new AuthenticationError(
      'SIWF_NONCE_MISMATCH',
      "The Sign In With Farcaster message must carry the wallet message's nonce",
    );
  }
  return { custody: checked.address, fid: BigInt(fid), nonce: checked.nonce };
}

export type FarcasterProviders = {
  /** Checks signatures on the chain of the IdRegistry (the custody address may be a contract wallet). */
  checkSignature: SignatureChecker;
  custodyOf: CustodyReader;
  hub: HubClient;
};

export type VerifiedFarcaster = { fid: bigint; username: string };

/**
 * Verifies the SIWF message and its signature, that its signer holds the fid, and reads the fid's username from
 * the hub. Reads only; `walletNonce` is the nonce of the wallet's already verified message.
 */
export async function verifyFarcaster(
  siwf: SignedMessage,
  walletNonce: string,
  policy: SignInPolicy,
  providers: FarcasterProviders,
  now = new Date(),
): Promise<VerifiedFarcaster> {
  const checked = checkSiwfMessage(siwf.message, policy, walletNonce, now);
  if (!(await providers.checkSignature(siwf, checked.custody))) {
    throw new AuthenticationError(
      'SIWF_SIGNATURE_INVALID',
      `The Farcaster signature is not ${checked.custody}'s signature of this message`,
    );
  }
  const custody = await providers.custodyOf(checked.fid);
  if (custody === undefined) {
    throw new AppError(
      422,
      'FARCASTER_FID_NOT_REGISTERED',
      `fid ${checked.fid} is not registered in the IdRegistry`,
    );
  }
  if (!isAddressEqual(custody, checked.custody)) {
    throw new AuthenticationError(
      'SIWF_CUSTODY_MISMATCH',
      `The message is signed by ${checked.custody}, but fid ${checked.fid} is held by ${custody}`,
      403,
    );
  }
  return { fid: checked.fid, username: await providers.hub.username(checked.fid) };
}

/**
 * Consumes the wallet message's nonce and stores the handle in the caller's transaction, creating the author if
 * absent. A replay of the pair of messages is refused here (NONCE_USED) and rolls back.
 */
export async function linkFarcaster(
  uow: UnitOfWork,
  wallet: Address,
  signedIn: CheckedMessage,
  username: string,
): Promise<void> {
  await consumeNonce(uow, signedIn.nonce);
  const [author] = await uow.authors.ensureByWallets([wallet]);
  if (author === undefined) throw new Error(`author ${wallet} was neither found nor created`);
  await uow.authors.setHandle(author.id, { farcasterHandle: username });
}

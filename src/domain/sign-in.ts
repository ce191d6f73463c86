// Sign-In with Ethereum (EIP-4361) for the author routes: the client builds the message around a nonce from
// POST /api/auth/nonce, the wallet signs it, and the server checks it here with viem's SIWE helpers. A message
// authorises exactly one write: its nonce is consumed in the transaction of that write (consumeNonce), so a
// replay, even a concurrent one, is refused.
import { randomBytes } from 'node:crypto';
import {
  createPublicClient,
  getAddress,
  http,
  isAddressEqual,
  recoverMessageAddress,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import { parseSiweMessage, validateSiweMessage, type SiweMessage } from 'viem/siwe';
import type { UnitOfWork } from '../repositories/unit-of-work.js';
import { AuthenticationError, NotConfiguredError, ServiceUnavailableError } from '../errors.js';

/** What a signed request carries. */
export type SignedMessage = { message: string; signature: Hex };

export type SignInPolicy = {
  /** The authority the message must name (AUTH_DOMAIN). */
  domain: string;
  /** The chain id the message must name (NETWORK's). */
  chainId: number;
  /** Oldest accepted `Issued At` (the nonce lifetime: an older message cannot carry a live nonce anyway). */
  maxAgeMs: number;
  /** Tolerance for clients whose clock runs ahead (for Issued At). */
  clockSkewMs: number;
};

export type CheckedMessage = {
  /** The signer, checksummed. */
  address: Address;
  nonce: string;
  fields: Partial<SiweMessage>;
};

const REQUIRED_FIELDS = ['domain', 'address', 'uri', 'version', 'chainId', 'nonce', 'issuedAt'] as const;

/** What sign-in reads of the configuration (Config will do): AUTH_DOMAIN, NETWORK's chain id, the nonce TTL, RPC. */
export type SignInSettings = Readonly<{
  auth: Readonly<{ domain: string; chainId: number; nonceTtlSeconds: number }>;
  chain: Readonly<{ rpcUrl: string | undefined }>;
}>;

export function signInPolicy(config: Pick<SignInSettings, 'auth'>): SignInPolicy {
  return {
    domain: config.auth.domain,
    chainId: config.auth.chainId,
    maxAgeMs: config.auth.nonceTtlSeconds * 1000,
    clockSkewMs: 60_000,
  };
}

/**
 * Parses the message and checks everything but the signature and the nonce's state: shape, domain, chain,
 * lifetime, and (when given) that it signs in as `expected`. Pure: the time is a parameter.
 */
export function checkSiweMessage(
  text: string,
  policy: Pick<SignInPolicy, 'domain' | 'maxAgeMs' | 'clockSkewMs'> & { chainId: number },
  now: Date,
  expected?: Address,
): CheckedMessage {
  const fields = parseSiweMessage(text);
  const missing = REQUIRED_FIELDS.filter((name) => fields[name] === undefined);
  if (missing.length > 0) {
    throw new AuthenticationError(
      'SIWE_MESSAGE_MALFORMED',
      `The message is not an EIP-4361 message: missing ${missing.join(', ')}`,
      401,
      { missing },
    );
  }
  const { domain, chainId, nonce, issuedAt, expirationTime, notBefore, version } = fields;
  if (version !== '1')
    throw new AuthenticationError('SIWE_MESSAGE_MALFORMED', 'The message version must be 1');
  for (const [name, date] of [
    ['Issued At', issuedAt],
    ['Expiration Time', expirationTime],
    ['Not Before', notBefore],
  ] as const) {
    if (date !== undefined && Number.isNaN(date.getTime())) {
      throw new AuthenticationError('SIWE_MESSAGE_MALFORMED', `${name} is not an RFC 3339 date-time`);
    }
  }
  if (domain !== policy.domain) {
    throw new AuthenticationError(
      'SIWE_DOMAIN_MISMATCH',
      `The message is for ${String(domain)}, this service signs in ${policy.domain}`,
    );
  }
  if (chainId !== policy.chainId) {
    throw new AuthenticationError(
      'SIWE_CHAIN_MISMATCH',
      `The message names chain ${String(chainId)}, this service runs on chain ${policy.chainId}`,
    );
  }
  const at = now.getTime();
  if (expirationTime !== undefined && expirationTime.getTime() <= at) {
    throw new AuthenticationError('SIWE_EXPIRED', `The message expired at ${expirationTime.toISOString()}`);
  }
  if (notBefore !== undefined && notBefore.getTime() > at) {
    throw new AuthenticationError(
      'SIWE_NOT_YET_VALID',
      `The message is valid from ${notBefore.toISOString()}`,
    );
  }
  if (issuedAt === undefined || issuedAt.getTime() > at + policy.clockSkewMs) {
    throw new AuthenticationError('SIWE_ISSUED_IN_FUTURE', 'The message is issued in the future');
  }
  if (issuedAt.getTime() < at - policy.maxAgeMs) {
    throw new AuthenticationError(
      'SIWE_EXPIRED',
      `The message was issued more than ${Math.round(policy.maxAgeMs / 1000)} s ago; sign a new one`,
    );
  }
  const address = fields.address;
  if (address === undefined || nonce === undefined) throw new Error('unreachable: required fields checked');
  if (expected !== undefined && !isAddressEqual(address, expected)) {
    throw new AuthenticationError(
      'SIWE_ADDRESS_MISMATCH',
      `The message signs in as ${getAddress(address)}, not as ${expected}`,
      403,
    );
  }
  // viem's own validation on top (nonce syntax, time window, address syntax): anything it refuses is refused.
  if (!validateSiweMessage({ message: fields, domain: policy.domain, address: expected, time: now })) {
    throw new AuthenticationError('SIWE_MESSAGE_MALFORMED', 'The message does not validate as EIP-4361');
  }
  return { address: getAddress(address), nonce, fields };
}

/** Checks that a message was signed by its address: EOAs locally, contract wallets through the RPC. */
export type SignatureChecker = (signed: SignedMessage, address: Address) => Promise<boolean>;

/**
 * An EOA signature is recovered locally (no RPC call). Anything else goes through viem's verifySiweMessage on the
 * configured RPC, which asks the wallet contract (ERC-1271) or, for a wallet not deployed yet, simulates its
 * deployment (ERC-6492). Without an RPC endpoint only EOA signatures can be checked.
 */
export function createSignatureChecker(
  rpcUrl: string | undefined,
  policy: Pick<SignInPolicy, 'domain'>,
  /** The 503 code when the RPC does not answer (the chain the signer's wallet lives on). */
  unavailableCode = 'CHAIN_UNAVAILABLE',
): SignatureChecker {
  // No chain on purpose: viem then verifies with its deployless ERC-6492 validator, which works on any chain
  // (a chain definition may name a verifier contract that a local or new chain does not have).
  const client: PublicClient | undefined =
    rpcUrl === undefined
      ? undefined
      : createPublicClient({ transport: http(rpcUrl, { timeout: 10_000, retryCount: 1 }) });
  return async ({ message, signature }, address) => {
    try {
      const recovered = await recoverMessageAddress({ message, signature });
      if (isAddressEqual(recovered, address)) return true;
    } catch {
      // Not a 65-byte ECDSA signature: maybe a contract wallet's.
    }
    if (client === undefined) {
      throw new NotConfiguredError('RPC_URL', 'a contract-wallet signature can only be checked on chain');
    }
    try {
      return await client.verifySiweMessage({ message, signature, address, domain: policy.domain });
    } catch (error) {
      throw new ServiceUnavailableError(
        unavailableCode,
        'The chain RPC did not answer the signature check; retry later',
        { cause: error instanceof Error ? error.name : 'unknown' },
      );
    }
  };
}

export type SignInVerifier = {
  policy: SignInPolicy;
  /** Checks the message and its signature for `wallet`; does not touch the nonce (see consumeNonce). */
  verify: (signed: SignedMessage, wallet: Address, now?: Date) => Promise<CheckedMessage>;
  checkSignature: SignatureChecker;
};

export function createSignInVerifier(config: SignInSettings): SignInVerifier {
  const policy = signInPolicy(config);
  const checkSignature = createSignatureChecker(config.chain.rpcUrl, policy);
  return {
    policy,
    checkSignature,
    verify: async (signed, wallet, now = new Date()) => {
      const checked = checkSiweMessage(signed.message, policy, now, wallet);
      if (!(await checkSignature(signed, checked.address))) {
        throw new AuthenticationError(
          'SIWE_SIGNATURE_INVALID',
          `The signature is not ${checked.address}'s signature of this message`,
        );
      }
      return checked;
    },
  };
}

/** A fresh EIP-4361 nonce: 128 random bits as 32 hex digits (alphanumeric, as the standard requires). */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Issues a nonce valid for ttlSeconds, and purges a few long-expired ones on the way. */
export async function issueNonce(
  uow: UnitOfWork,
  ttlSeconds: number,
): Promise<{ nonce: string; expiresAt: Date }> {
  await uow.authNonces.purgeExpired(3600, 100);
  const row = await uow.authNonces.add(newNonce(), ttlSeconds);
  return { nonce: row.nonce, expiresAt: row.expiresAt };
}

/**
 * Consumes the nonce in the caller's transaction (the one of the write it authorises), or refuses the request
 * with the reason: unknown, already used, or expired. Refusing throws, so the transaction rolls back.
 */
export async function consumeNonce(uow: UnitOfWork, nonce: string): Promise<void> {
  if (await uow.authNonces.consume(nonce)) return;
  const row = await uow.authNonces.get(nonce);
  if (row === undefined) {
    throw new AuthenticationError(
      'NONCE_UNKNOWN',
      'The nonce was not issued by this service (or is long gone)',
    );
  }
  if (row.consumedAt !== null) {
    throw new AuthenticationError('NONCE_USED', 'The nonce has been used already; sign a new message');
  }
  throw new AuthenticationError('NONCE_EXPIRED', 'The nonce has expired; ask for a new one');
}

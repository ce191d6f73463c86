// Sign-In with Ethereum messages signed by real viem accounts, and the calls that carry them.
import type { Address, Hex, LocalAccount } from 'viem';
import { createSiweMessage } from 'viem/siwe';

export type SiweOptions = {
  address: Address;
  domain: string;
  chainId: number;
  nonce: string;
  issuedAt?: Date;
  expirationTime?: Date;
  notBefore?: Date;
  statement?: string;
  resources?: string[];
  uri?: string;
};

/** An EIP-4361 message as a front end builds it. */
export function siweMessage(options: SiweOptions): string {
  return createSiweMessage({
    address: options.address,
    domain: options.domain,
    chainId: options.chainId,
    nonce: options.nonce,
    uri: options.uri ?? `https://${options.domain}/`,
    version: '1',
    issuedAt: options.issuedAt ?? new Date(),
    ...(options.expirationTime ? { expirationTime: options.expirationTime } : {}),
    ...(options.notBefore ? { notBefore: options.notBefore } : {}),
    ...(options.statement ? { statement: options.statement } : {}),
    ...(options.resources ? { resources: options.resources } : {}),
  });
}

/** The message for `account` (unless options name another address) and `signer`'s EIP-191 signature of it. */
export async function signSiwe(
  signer: LocalAccount,
  options: Omit<SiweOptions, 'address'> & { address?: Address },
): Promise<{ message: string; signature: Hex }> {
  const message = siweMessage({ ...options, address: options.address ?? signer.address });
  return { message, signature: await signer.signMessage({ message }) };
}

export type JsonAnswer = { status: number; json: Record<string, unknown>; headers: Headers };

export async function callJson(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<JsonAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    redirect: 'manual',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  if (text !== '') json = JSON.parse(text) as Record<string, unknown>;
  return { status: response.status, json, headers: response.headers };
}

/** The error code of an error answer. */
export function errorCode(answer: JsonAnswer): unknown {
  return (answer.json.error as { code?: unknown } | undefined)?.code;
}

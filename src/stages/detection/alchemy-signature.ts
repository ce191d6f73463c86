// Alchemy signs every webhook delivery: X-Alchemy-Signature is the lower-case hex HMAC-SHA256 of the raw body,
// keyed with the webhook's signing key. Verified over the exact bytes received, before any parsing.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const ALCHEMY_SIGNATURE_HEADER = 'x-alchemy-signature';

export type SignatureCheck =
  { ok: true } | { ok: false; code: 'SIGNATURE_MISSING' | 'SIGNATURE_INVALID'; message: string };

const SIGNATURE_RE = /^[0-9a-f]{64}$/;

export function signAlchemyBody(rawBody: Uint8Array | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

export function verifyAlchemySignature(
  rawBody: Uint8Array,
  header: string | string[] | undefined,
  secret: string,
): SignatureCheck {
  // An empty key would let anyone compute a valid signature; the route refuses before calling us, this guards
  // any other caller.
  if (secret.length === 0) throw new Error('verifyAlchemySignature needs a non-empty secret');
  if (header === undefined || header === '' || (Array.isArray(header) && header.length === 0)) {
    return { ok: false, code: 'SIGNATURE_MISSING', message: 'X-Alchemy-Signature header is missing' };
  }
  // Repeated headers are ambiguous: which copy was signed is not ours to guess.
  if (Array.isArray(header) || !SIGNATURE_RE.test(header)) {
    return {
      ok: false,
      code: 'SIGNATURE_INVALID',
      message: 'X-Alchemy-Signature must be 64 lower-case hex characters',
    };
  }
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // Both buffers are 32 bytes here (the format check above), as timingSafeEqual requires.
  const given = Buffer.from(header, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      ok: false,
      code: 'SIGNATURE_INVALID',
      message: 'X-Alchemy-Signature does not match the body',
    };
  }
  return { ok: true };
}

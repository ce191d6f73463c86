// Bearer keys (`Authorization: Bearer <key>`), compared in constant time: GET /metrics (METRICS_TOKEN) and the
// operator routes (ADMIN_API_KEY, src/http/admin-auth.ts).
import { timingSafeEqual } from 'node:crypto';

/**
 * Whether the Authorization header carries exactly `expected`. The time taken depends on neither the guess nor
 * its length: the guess is copied into a buffer of the key's length and compared whole, length checked after.
 */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  const given = Buffer.from(match?.[1] ?? '');
  const padded = Buffer.alloc(expected.length);
  given.copy(padded, 0, 0, Math.min(given.length, expected.length));
  return timingSafeEqual(padded, expected) && given.length === expected.length;
}

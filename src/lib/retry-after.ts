// The Retry-After header of a 429 or 503 answer (RFC 9110 section 10.2.3): delay-seconds or an HTTP date.

/** Milliseconds to wait from `now`, or undefined when the header is absent or unreadable. Never negative. */
export function parseRetryAfter(
  header: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

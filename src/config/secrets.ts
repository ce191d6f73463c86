// What production refuses as a secret, and which configured values the logger must mask.

// Passwords the seed's examples used; a production database behind one of them is as good as open.
export const PLACEHOLDER_PASSWORDS = new Set(['changeme', 'password', 'postgres', 'glisk']);

/** Production refuses shorter secrets: a short key is guessed, a short password brute-forced. */
export const MIN_PRODUCTION_SECRET_LENGTH = {
  databasePassword: 12,
  webhookSecret: 16,
  adminApiKey: 24,
} as const;

/** Secret values shorter than this are not masked by value (only by field name and inside URLs). */
export const MIN_SECRET_LENGTH = 8;

// Every placeholder value that the documentation hands out (.env.example, compose.yaml, README; a test reads
// .env.example and checks each of its example secrets is refused), and the shapes placeholders take.
const EXAMPLE_SECRETS = new Set([
  ...PLACEHOLDER_PASSWORDS,
  'change-this-password',
  'a-strong-password',
  'secret',
  'whsec_test',
]);
const PLACEHOLDER_SHAPES = [
  /change[-_ .]?(me|this|it)/i,
  /example/i,
  /placeholder/i,
  /^your[-_ ]/i,
  /^<.*>$/,
  /^(x+|\*+|\.+|0+)$/i,
  /^(.)\1*$/,
];

/** Whether `value` is a documented example or looks like a placeholder rather than a real secret. */
export function isPlaceholderSecret(value: string): boolean {
  const lower = value.trim().toLowerCase();
  return EXAMPLE_SECRETS.has(lower) || PLACEHOLDER_SHAPES.some((shape) => shape.test(lower));
}

/** Why production refuses `value` as the secret `name`, or undefined when it is acceptable. */
export function weakSecretProblem(
  name: string,
  what: string,
  value: string,
  minLength: number,
): string | undefined {
  if (value.length < minLength) {
    return `${name}: production needs a ${what} of at least ${minLength} characters (got ${value.length})`;
  }
  if (isPlaceholderSecret(value)) {
    return `${name}: production refuses a placeholder or example ${what} (such as the ones in .env.example)`;
  }
  return undefined;
}

/** Why production refuses the secret `name`: unset (`why` it is required), too short, or a placeholder. */
export function requiredSecretProblem(
  name: string,
  what: string,
  value: string,
  minLength: number,
  why: string,
): string | undefined {
  if (value === '') return `${name}: required when APP_ENV=production (${why})`;
  return weakSecretProblem(name, what, value, minLength);
}

/**
 * The values worth masking. Short or dictionary values are left to the logger's key- and URL-based redaction:
 * masking every "postgres" (the embedded server's password) would garble every line that names the database.
 */
export function maskableSecrets(values: readonly (string | undefined)[]): string[] {
  return values.filter(
    (s): s is string =>
      s !== undefined && s.length >= MIN_SECRET_LENGTH && !PLACEHOLDER_PASSWORDS.has(s.toLowerCase()),
  );
}

/** The decoded password of a postgres:// URL, or undefined when it has none. */
export function databasePassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const password = new URL(url).password;
  return password === '' ? undefined : decodeURIComponent(password);
}

/** An RPC URL may carry a key in its path (Alchemy, Infura) or its credentials; keep the whole URL secret. */
export function urlSecrets(url: string | undefined): string[] {
  if (url === undefined) return [];
  const parsed = new URL(url);
  const parts = [decodeURIComponent(parsed.password)];
  if (parsed.pathname.length > 1) parts.push(url);
  return parts;
}

// winston, set up once: JSON lines in production, readable lines in development, and a redaction pass over
// every line so that secrets (keys, signatures, the DATABASE_URL password) never reach the output.
import type { Writable } from 'node:stream';
import winston from 'winston';
import type { Config, LogLevel } from './config.js';

export type Logger = winston.Logger;

export type LoggerOptions = {
  level: LogLevel;
  format: 'json' | 'pretty';
  /** Exact values to mask wherever they occur (Config.secrets). */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. Tests pass a stream to read them. */
  stream?: Writable;
};

export const REDACTED = '[REDACTED]';

// Field names whose values are secret whatever they contain. Compared after lower-casing and dropping `_`/`-`,
// by suffix, so `x-alchemy-signature`, `pinataJwt` and `keeper_private_key` match but `token_id` does not.
const SECRET_KEY_SUFFIXES = [
  'secret',
  'password',
  'passwd',
  'apikey',
  'apitoken',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'privatekey',
  'signature',
  'jwt',
  'authorization',
  'cookie',
];

// user:password@ in any URL (postgres://, https://...): keep the user, drop the password, up to the LAST @ of
// the authority (a password may contain an unencoded @: `glisk:Sup3r@Secret99@host`).
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#]*@/gi;

// winston appends a field named `message` to the event name (`logger.warn('http.service_error', {message})`
// wrote "http.service_error Database unavailable" as the line's message): the event name stays the message and
// the field is kept as `detail`, so that a line is always found by its event.
const SPLAT = Symbol.for('splat');
const keepEventName = winston.format((info) => {
  const splat = (info as Record<symbol, unknown>)[SPLAT];
  const meta: unknown = Array.isArray(splat) ? splat[0] : undefined;
  if (typeof meta !== 'object' || meta === null || !('message' in meta)) return info;
  const field: unknown = meta.message;
  const suffix = ` ${String(field)}`;
  if (typeof info.message === 'string' && field && info.message.endsWith(suffix)) {
    info.message = info.message.slice(0, -suffix.length);
    info.detail = field;
  }
  return info;
});

export function createLogger(options: LoggerOptions): Logger {
  const redact = redactor(options.secrets ?? []);
  const redactFormat = winston.format((info) => {
    for (const key of Object.keys(info)) info[key] = redact(key, info[key]);
    return info;
  });
  const output =
    options.format === 'json' ? winston.format.json() : winston.format.printf((info) => prettyLine(info));
  const format = winston.format.combine(
    keepEventName(),
    winston.format.errors({ stack: true }),
    redactFormat(),
    winston.format.timestamp(),
    output,
  );
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return skipDisabledLevels(winston.createLogger({ level: options.level, format, transports: [transport] }));
}

/**
 * winston runs every call through its formats (redaction, timestamp, JSON) and only then lets the transport drop
 * it by level: a `debug` line per token costs that work even at `info`. Each level method here returns at once
 * when its level is off (read at the call, so a changed `logger.level` counts). Child loggers inherit the methods.
 */
function skipDisabledLevels(logger: Logger): Logger {
  const methods = logger as unknown as Record<string, (...args: unknown[]) => Logger>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: Logger | undefined, ...args: unknown[]) {
      const self = this ?? logger;
      return self.isLevelEnabled(level) ? write.apply(self, args) : self;
    };
  }
  return logger;
}

export function createLoggerFromConfig(config: Config): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, secrets: config.secrets });
}

/** Masks the password of a URL for display: `postgres://glisk:***@db:5432/glisk`. */
export function redactUrl(url: string): string {
  return url.replace(URL_CREDENTIALS, '$1***@');
}

function redactor(secrets: readonly string[]): (key: string, value: unknown) => unknown {
  // Longest first, so that a secret containing another is masked whole.
  const sorted = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  const redactString = (text: string): string => {
    let out = redactUrl(text);
    for (const secret of sorted) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  };
  const walk = (key: string, value: unknown, depth: number): unknown => {
    if (isSecretKey(key) && value !== undefined && value !== null && value !== '') return REDACTED;
    if (typeof value === 'string') return redactString(value);
    if (depth > 6 || value === null || typeof value !== 'object') return value;
    if (value instanceof Error) return walk(key, serializeError(value), depth + 1);
    if (value instanceof Date) return value;
    if (Array.isArray(value)) return value.map((item) => walk(key, item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(k, v, depth + 1);
    return out;
  };
  return (key, value) => walk(key, value, 0);
}

function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[_-]/g, '');
  return SECRET_KEY_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

function serializeError(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (error.stack !== undefined) out.stack = error.stack;
  if (error.cause !== undefined)
    out.cause = error.cause instanceof Error ? serializeError(error.cause) : error.cause;
  return out;
}

function prettyLine(info: Record<string, unknown>): string {
  const { timestamp, level, message, stack, ...fields } = info;
  const parts = [String(timestamp), String(level).padEnd(5), String(message)];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    parts.push(`${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`);
  }
  const line = parts.join(' ');
  return typeof stack === 'string' ? `${line}\n${stack}` : line;
}

// The service's own variables: environment, logs, HTTP, database, metrics endpoint, operator key.
import { bool, makeValidator, str, type CleanedEnv } from 'envalid';
import {
  databasePassword,
  MIN_PRODUCTION_SECRET_LENGTH,
  requiredSecretProblem,
  weakSecretProblem,
} from './secrets.js';
import {
  byteSize,
  corsOrigins,
  intIn,
  positiveNumber,
  postgresUrl,
  toMs,
  type AreaContext,
} from './validators.js';

export const APP_ENVS = ['development', 'production', 'test'] as const;
export type AppEnv = (typeof APP_ENVS)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type ServiceConfig = {
  appEnv: AppEnv;
  log: Readonly<{ level: LogLevel; format: 'json' | 'pretty' }>;
  http: Readonly<{
    host: string;
    port: number;
    /** Allowed CORS origins; `'*'` allows any origin (refused in production). */
    corsOrigins: readonly string[] | '*';
    /** Largest accepted request body, in bytes. */
    bodyLimitBytes: number;
    shutdownTimeoutMs: number;
    healthTimeoutMs: number;
    /** Requests worked on at once; one more is answered 503 SERVER_BUSY at once (/health and /metrics exempt). */
    maxInFlight: number;
  }>;
  database: Readonly<{
    /** Unset: the embedded PostgreSQL under .data/ is used (development and test only). */
    url: string | undefined;
    poolSize: number;
    /** How long a request waits for a pool connection before it is answered 503. */
    poolTimeoutMs: number;
    /** How long start-up waits for a first working connection before it gives up (exit 1). */
    connectTimeoutMs: number;
    migrateOnStart: boolean;
  }>;
  admin: Readonly<{
    /** Bearer key of the operator routes; empty: they answer 503 ADMIN_NOT_CONFIGURED (refused in production). */
    apiKey: string;
  }>;
  metrics: Readonly<{
    /** Empty: GET /metrics is open (bind the port to a private network); set: Bearer token required. */
    token: string;
    /** Longest age of the pipeline gauges read from PostgreSQL. */
    refreshMs: number;
    /** How often a process folds token_status_counts (the rows its triggers append) into one per status. */
    statusCountsFoldMs: number;
    /** The glisk_instance label of this process's series. */
    instance: string | undefined;
    /** The /metrics listener of `npm run worker` (the API serves /metrics on PORT); 0: a free port, logged. */
    port: number;
  }>;
};

const logLevel = makeValidator<LogLevel>((input) => {
  // The seed wrote levels in upper case (INFO, WARNING); accept those spellings too.
  const lower = input.trim().toLowerCase();
  const level = lower === 'warning' ? 'warn' : lower;
  const found = LOG_LEVELS.find((l) => l === level);
  if (!found) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}, got "${input}"`);
  return found;
});

export const serviceSpecs = {
  APP_ENV: str({ choices: APP_ENVS, default: 'development', desc: 'development, production or test' }),
  LOG_LEVEL: logLevel({ default: 'info', desc: `one of ${LOG_LEVELS.join(', ')}` }),
  LOG_FORMAT: str({ choices: ['json', 'pretty'] as const, default: undefined, desc: 'json or pretty' }),
  HOST: str({ default: '0.0.0.0', desc: 'the interface to listen on' }),
  PORT: intIn(0, 65_535)({ default: 8000, desc: 'a TCP port (0 picks a free one)' }),
  CORS_ORIGINS: corsOrigins({ default: ['http://localhost:3000'], desc: 'comma-separated origins' }),
  BODY_LIMIT: byteSize({ default: 1024 * 1024, desc: 'a size like 1mb' }),
  SHUTDOWN_TIMEOUT_SECONDS: positiveNumber({ default: 10, desc: 'seconds' }),
  HEALTH_TIMEOUT_MS: intIn(1, 60_000)({ default: 800, desc: 'milliseconds' }),
  HTTP_MAX_IN_FLIGHT: intIn(1, 100_000)({ default: 512, desc: 'requests' }),
  DATABASE_URL: postgresUrl({ default: undefined, desc: 'postgres://user:password@host:5432/database' }),
  DB_POOL_SIZE: intIn(1, 10_000)({ default: 200, desc: 'connections' }),
  DB_POOL_TIMEOUT_MS: intIn(1, 600_000)({ default: 5000, desc: 'milliseconds' }),
  DB_CONNECT_TIMEOUT_SECONDS: positiveNumber({ default: 10, desc: 'seconds' }),
  MIGRATE_ON_START: bool({ default: true, desc: 'true or false' }),
  ADMIN_API_KEY: str({ default: '', desc: 'the bearer key of the operator routes (empty: they answer 503)' }),
  METRICS_TOKEN: str({ default: '', desc: 'a bearer token for GET /metrics (empty: open)' }),
  METRICS_REFRESH_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  STATUS_COUNTS_FOLD_SECONDS: positiveNumber({ default: 10, desc: 'seconds' }),
  METRICS_PORT: intIn(
    0,
    65_535,
  )({
    default: 0,
    desc: 'the port of the /metrics listener of npm run worker (0 picks a free one, logged at start)',
  }),
  METRICS_INSTANCE: str({
    default: undefined,
    desc: 'the instance label of this process (default host:pid)',
  }),
};

export function readServiceConfig(e: CleanedEnv<typeof serviceSpecs>, area: AreaContext): ServiceConfig {
  if (area.production) {
    checkProductionDatabase(e.DATABASE_URL, area.problems);
    if (!area.isSet('CORS_ORIGINS')) {
      area.problems.push(
        'CORS_ORIGINS: must be set explicitly when APP_ENV=production (the default is a local origin)',
      );
    } else if (e.CORS_ORIGINS === '*') {
      area.problems.push('CORS_ORIGINS: * is refused when APP_ENV=production; list the allowed origins');
    } else if (e.CORS_ORIGINS.some((o) => !o.startsWith('https://'))) {
      area.problems.push('CORS_ORIGINS: production origins must be https://');
    }
    if (e.LOG_FORMAT === 'pretty') area.problems.push('LOG_FORMAT: production logs are json');
    const adminKey = requiredSecretProblem(
      'ADMIN_API_KEY',
      'key',
      e.ADMIN_API_KEY,
      MIN_PRODUCTION_SECRET_LENGTH.adminApiKey,
      'the operator routes retry tokens and show the pipeline',
    );
    if (adminKey !== undefined) area.problems.push(adminKey);
  }
  area.secrets.push(e.METRICS_TOKEN, e.ADMIN_API_KEY, databasePassword(e.DATABASE_URL));

  return {
    appEnv: e.APP_ENV,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (area.production ? 'json' : 'pretty') },
    http: {
      host: e.HOST,
      port: e.PORT,
      corsOrigins: e.CORS_ORIGINS,
      bodyLimitBytes: e.BODY_LIMIT,
      shutdownTimeoutMs: toMs(e.SHUTDOWN_TIMEOUT_SECONDS),
      healthTimeoutMs: e.HEALTH_TIMEOUT_MS,
      maxInFlight: e.HTTP_MAX_IN_FLIGHT,
    },
    database: {
      url: e.DATABASE_URL,
      poolSize: e.DB_POOL_SIZE,
      poolTimeoutMs: e.DB_POOL_TIMEOUT_MS,
      connectTimeoutMs: toMs(e.DB_CONNECT_TIMEOUT_SECONDS),
      migrateOnStart: e.MIGRATE_ON_START,
    },
    admin: { apiKey: e.ADMIN_API_KEY },
    metrics: {
      token: e.METRICS_TOKEN,
      refreshMs: toMs(e.METRICS_REFRESH_SECONDS),
      statusCountsFoldMs: toMs(e.STATUS_COUNTS_FOLD_SECONDS),
      instance: e.METRICS_INSTANCE,
      port: e.METRICS_PORT,
    },
  };
}

function checkProductionDatabase(url: string | undefined, problems: string[]): void {
  if (url === undefined) {
    problems.push(
      'DATABASE_URL: required when APP_ENV=production (the embedded PostgreSQL is for development)',
    );
    return;
  }
  const password = decodeURIComponent(new URL(url).password);
  if (password === '') {
    problems.push('DATABASE_URL: production needs a real password, not an empty or placeholder one');
    return;
  }
  const minLength = MIN_PRODUCTION_SECRET_LENGTH.databasePassword;
  const weak = weakSecretProblem('DATABASE_URL', 'password', password, minLength);
  if (weak !== undefined) problems.push(weak);
}

// The only module that reads process.env. Everything else receives the typed, frozen Config that loadConfig
// returns, so a bad environment fails once, at start, with every problem listed.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { bool, cleanEnv, makeValidator, str } from 'envalid';
import type { Address } from 'viem';
import { getAddress, isAddress } from 'viem/utils';
import { ChainConfigError, ConfigError } from './errors.js';
import {
  NETWORK_CHAIN_IDS,
  NETWORKS,
  resolveRpcEndpoint,
  type Network,
} from './providers/chain/rpc-endpoint.js';
import { IPFS_PROVIDERS, type IpfsProviderName } from './providers/ipfs/ipfs-provider.js';
import { STAGE_NAMES, type StageName } from './domain/stages.js';

export const APP_ENVS = ['development', 'production', 'test'] as const;
export type AppEnv = (typeof APP_ENVS)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Config = Readonly<{
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
  chain: Readonly<{
    network: Network;
    /** RPC_URL when set, else the Alchemy URL of NETWORK when ALCHEMY_API_KEY is set (contains the key). */
    rpcUrl: string | undefined;
    alchemyApiKey: string;
    /** Checksummed GLISK contract address. */
    contractAddress: Address | undefined;
  }>;
  detection: Readonly<{
    /** Empty means unset: the webhook route refuses to run unsigned (503) and production refuses to start. */
    webhookSecret: string;
    followerEnabled: boolean;
    confirmations: number;
    followerStartBlock: bigint | undefined;
    followerMaxBlockRange: number;
    pollIntervalMs: number;
    gapScanEnabled: boolean;
    gapScanIntervalMs: number;
  }>;
  ipfs: Readonly<{
    /** Where the IPFS stage pins: the content store in PostgreSQL (local), a Kubo node, or Pinata. */
    provider: IpfsProviderName;
    /** Kubo RPC address (required for kubo). */
    kuboApiUrl: string | undefined;
    /** Pinata JWT (required for pinata; secret). */
    pinataJwt: string;
    pinataApiUrl: string;
    /** Requests per minute to Pinata, shared by every worker of every process through PostgreSQL. */
    pinataMaxRequestsPerMinute: number;
    /** One upload request's limit, answer included. */
    uploadTimeoutMs: number;
    /** With a remote provider, stored bytes of revealed tokens are dropped this long after the reveal. */
    localRetentionHours: number;
  }>;
  metrics: Readonly<{
    /** Empty: GET /metrics is open (bind the port to a private network); set: Bearer token required. */
    token: string;
    /** Longest age of the pipeline gauges read from PostgreSQL. */
    refreshMs: number;
    /** The glisk_instance label of this process's series. */
    instance: string | undefined;
  }>;
  /** The stage runtime (src/workers/stage-runner.ts), shared by every stage. */
  pipeline: Readonly<{
    /** Stages this process runs (WORKERS); empty for `none`. */
    stages: readonly StageName[];
    batchSize: number;
    leaseSeconds: number;
    pollIntervalMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    concurrency: Readonly<Record<StageName, number>>;
    maxAttempts: Readonly<Record<StageName, number>>;
  }>;
  image: Readonly<{
    provider: ImageProviderName;
    /** The prompt of a token whose author has not written one yet. */
    defaultPrompt: string;
    /** Sent once in place of a prompt the provider refused on content policy. */
    fallbackPrompt: string;
    replicate: Readonly<{
      /** Required with IMAGE_PROVIDER=replicate (secret). */
      apiToken: string;
      model: string;
      apiUrl: string;
      timeoutMs: number;
    }>;
  }>;
  auth: Readonly<{
    /** The RFC 3986 authority (host[:port]) that sign-in messages must name: the front end's. */
    domain: string;
    /** The chain id sign-in messages must name: NETWORK's. */
    chainId: number;
    /** Lifetime of a sign-in nonce; a message must also have been issued within it. */
    nonceTtlSeconds: number;
  }>;
  /** X (Twitter) OAuth 2.0 client; empty strings / undefined when not configured (its routes answer 503). */
  x: Readonly<{
    clientId: string;
    clientSecret: string;
    redirectUri: string | undefined;
    authorizeUrl: string;
    apiUrl: string;
    stateTtlSeconds: number;
  }>;
  /** Where the OAuth callback sends the browser back to, with a result code. */
  frontendUrl: string | undefined;
  farcaster: Readonly<{
    rpcUrl: string | undefined;
    hubUrl: string | undefined;
    hubApiKey: string;
    idRegistryAddress: Address;
  }>;
  reveal: Readonly<{
    /** KEEPER_PRIVATE_KEY, 0x-prefixed (secret); empty: the reveal stage cannot run. */
    keeperPrivateKey: string;
    gasBuffer: number;
    /** REVEAL_MAX_GAS_PRICE_GWEI; undefined: no cap. */
    maxGasPriceGwei: number | undefined;
    transactionTimeoutMs: number;
    maxFeeBumps: number;
    batchWaitMs: number;
    batchMaxTokens: number;
  }>;
  /** Values that must never appear in a log line; the logger redacts them wherever they occur. */
  secrets: readonly string[];
}>;

export const IMAGE_PROVIDERS = ['local', 'replicate'] as const;
export type ImageProviderName = (typeof IMAGE_PROVIDERS)[number];

type Env = Record<string, string | undefined>;

const intIn = (min: number, max: number) =>
  makeValidator<number>((input) => {
    const value = Number(input.trim());
    if (!/^-?\d+$/.test(input.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`expected an integer from ${min} to ${max}, got "${input}"`);
    }
    return value;
  });

const positiveNumber = makeValidator<number>((input) => {
  const value = Number(input.trim());
  if (input.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`expected a positive number, got "${input}"`);
  }
  return value;
});

const bigintAtLeastZero = makeValidator<bigint>((input) => {
  if (!/^\d+$/.test(input.trim())) throw new Error(`expected a block number (integer >= 0), got "${input}"`);
  return BigInt(input.trim());
});

const logLevel = makeValidator<LogLevel>((input) => {
  // The seed wrote levels in upper case (INFO, WARNING); accept those spellings too.
  const lower = input.trim().toLowerCase();
  const level = lower === 'warning' ? 'warn' : lower;
  const found = LOG_LEVELS.find((l) => l === level);
  if (!found) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}, got "${input}"`);
  return found;
});

const postgresUrl = makeValidator<string>((input) => {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new Error('expected a URL like postgres://user:password@host:5432/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`expected a postgres:// or postgresql:// URL, got scheme "${parsed.protocol}"`);
  }
  if (parsed.hostname === '') throw new Error('expected a host in the URL');
  return input;
});

const httpUrl = makeValidator<string>((input) => {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new Error('expected an http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`expected an http:// or https:// URL, got scheme "${parsed.protocol}"`);
  }
  return input;
});

const corsOrigins = makeValidator<readonly string[] | '*'>((input) => {
  const items = input
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new Error('expected a comma-separated list of origins or *');
  if (items.includes('*')) {
    if (items.length > 1) throw new Error('expected either * alone or a list of origins, not both');
    return '*';
  }
  for (const item of items) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(item);
    } catch {
      parsed = undefined;
    }
    // An origin is scheme://host[:port] exactly; browsers send nothing else, so anything more never matches.
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== item) {
      throw new Error(
        `expected origins like https://app.example.com (no path, no trailing slash), got "${item}"`,
      );
    }
  }
  return items;
});

const byteSize = makeValidator<number>((input) => {
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(input.trim());
  const unit = match?.[2]?.toLowerCase() ?? 'b';
  const amount = match?.[1] === undefined ? NaN : Number(match[1]);
  const bytes = amount * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 100 * 1024 * 1024) {
    throw new Error(`expected a size like 1mb, 512kb or 2048 (1 byte to 100mb), got "${input}"`);
  }
  return bytes;
});

const contractAddress = makeValidator<Address>((input) => {
  const trimmed = input.trim();
  // strict: false accepts all-lower and all-upper hex; a mixed-case address must carry a valid checksum.
  if (
    !isAddress(trimmed, { strict: false }) ||
    (!isAddress(trimmed) && /[a-f]/.test(trimmed) && /[A-F]/.test(trimmed))
  ) {
    throw new Error(
      `expected a 0x-prefixed 20-byte address (40 hex digits, valid checksum if mixed case), got "${input}"`,
    );
  }
  return getAddress(trimmed);
});

const stageList = makeValidator<readonly StageName[]>((input) => {
  const items = input
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (items.length === 1 && items[0] === 'none') return [];
  const unknown = items.filter((item) => !(STAGE_NAMES as readonly string[]).includes(item));
  if (items.length === 0 || unknown.length > 0) {
    throw new Error(`expected none or a comma-separated list of ${STAGE_NAMES.join(', ')}, got "${input}"`);
  }
  return STAGE_NAMES.filter((name) => items.includes(name));
});

const UPSTREAM_DEFAULT_PROMPT =
  "Geometric patterns and vibrant colors with text saying 'No prompt yet - author still thinking...'";
const UPSTREAM_FALLBACK_PROMPT =
  "Cute kittens and flowers in a peaceful garden, with text overlay saying 'Original prompt was censored by AI service'";

// host[:port] as EIP-4361 messages carry it (no scheme, no path).
const authority = makeValidator<string>((input) => {
  const trimmed = input.trim();
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(trimmed)) {
    throw new Error(`expected a host or host:port without scheme or path (app.example.com), got "${input}"`);
  }
  return trimmed.toLowerCase();
});

/** The Farcaster IdRegistry on OP Mainnet. */
export const FARCASTER_ID_REGISTRY = getAddress('0x00000000fc6c5f01fc30151999387bb99a9f489b');

// Never echoes the value: a malformed key in an error message is still most of a key.
const keeperKey = makeValidator<string>((input) => {
  const trimmed = input.trim();
  const withPrefix = trimmed.startsWith('0x') ? trimmed : `0x${trimmed}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(withPrefix)) {
    throw new Error('expected 32 bytes of hex (64 hex digits, optional 0x prefix); the value is not shown');
  }
  return withPrefix.toLowerCase();
});

const specs = {
  APP_ENV: str({ choices: APP_ENVS, default: 'development', desc: 'development, production or test' }),
  LOG_LEVEL: logLevel({ default: 'info', desc: `one of ${LOG_LEVELS.join(', ')}` }),
  LOG_FORMAT: str({ choices: ['json', 'pretty'] as const, default: undefined, desc: 'json or pretty' }),
  HOST: str({ default: '0.0.0.0', desc: 'the interface to listen on' }),
  PORT: intIn(0, 65_535)({ default: 8000, desc: 'a TCP port (0 picks a free one)' }),
  CORS_ORIGINS: corsOrigins({ default: ['http://localhost:3000'], desc: 'comma-separated origins' }),
  BODY_LIMIT: byteSize({ default: 1024 * 1024, desc: 'a size like 1mb' }),
  SHUTDOWN_TIMEOUT_SECONDS: positiveNumber({ default: 10, desc: 'seconds' }),
  HEALTH_TIMEOUT_MS: intIn(1, 60_000)({ default: 800, desc: 'milliseconds' }),
  DATABASE_URL: postgresUrl({ default: undefined, desc: 'postgres://user:password@host:5432/database' }),
  DB_POOL_SIZE: intIn(1, 10_000)({ default: 200, desc: 'connections' }),
  DB_POOL_TIMEOUT_MS: intIn(1, 600_000)({ default: 5000, desc: 'milliseconds' }),
  DB_CONNECT_TIMEOUT_SECONDS: positiveNumber({ default: 10, desc: 'seconds' }),
  MIGRATE_ON_START: bool({ default: true, desc: 'true or false' }),
  ALCHEMY_WEBHOOK_SECRET: str({ default: '', desc: 'the signing key of the Alchemy webhook' }),
  ALCHEMY_API_KEY: str({ default: '', desc: 'an Alchemy API key' }),
  NETWORK: str({ choices: NETWORKS, default: 'BASE_SEPOLIA', desc: NETWORKS.join(' or ') }),
  RPC_URL: httpUrl({ default: undefined, desc: 'an http(s) JSON-RPC URL' }),
  GLISK_NFT_CONTRACT_ADDRESS: contractAddress({ default: undefined, desc: 'a 0x address' }),
  CHAIN_FOLLOWER_ENABLED: bool({ default: false, desc: 'true or false' }),
  CONFIRMATIONS: intIn(0, 1000)({ default: 3, desc: 'blocks' }),
  FOLLOWER_START_BLOCK: bigintAtLeastZero({ default: undefined, desc: 'a block number' }),
  FOLLOWER_MAX_BLOCK_RANGE: intIn(1, 1_000_000)({ default: 2000, desc: 'blocks' }),
  POLL_INTERVAL_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  GAP_SCAN_ENABLED: bool({ default: true, desc: 'true or false' }),
  GAP_SCAN_INTERVAL_SECONDS: positiveNumber({ default: 300, desc: 'seconds' }),
  IPFS_PROVIDER: str({ choices: IPFS_PROVIDERS, default: 'local', desc: IPFS_PROVIDERS.join(', ') }),
  KUBO_API_URL: httpUrl({ default: undefined, desc: 'the RPC address of a Kubo node' }),
  PINATA_JWT: str({ default: '', desc: 'a Pinata API JWT' }),
  PINATA_API_URL: httpUrl({ default: 'https://api.pinata.cloud', desc: 'the Pinata API base URL' }),
  PINATA_MAX_REQUESTS_PER_MINUTE: intIn(1, 100_000)({ default: 150, desc: 'requests per minute' }),
  IPFS_UPLOAD_TIMEOUT_SECONDS: positiveNumber({ default: 60, desc: 'seconds' }),
  IPFS_LOCAL_RETENTION_HOURS: positiveNumber({ default: 168, desc: 'hours' }),
  METRICS_TOKEN: str({ default: '', desc: 'a bearer token for GET /metrics (empty: open)' }),
  METRICS_REFRESH_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  METRICS_INSTANCE: str({
    default: undefined,
    desc: 'the instance label of this process (default host:pid)',
  }),
  WORKERS: stageList({ default: STAGE_NAMES, desc: `none or a list of ${STAGE_NAMES.join(', ')}` }),
  WORKER_BATCH_SIZE: intIn(1, 1000)({ default: 10, desc: 'tokens per claim' }),
  WORKER_LEASE_SECONDS: positiveNumber({ default: 60, desc: 'seconds' }),
  RETRY_BASE_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  RETRY_MAX_SECONDS: positiveNumber({ default: 600, desc: 'seconds' }),
  IMAGE_CONCURRENCY: intIn(1, 1000)({ default: 4, desc: 'tokens in flight per process' }),
  IPFS_CONCURRENCY: intIn(1, 1000)({ default: 8, desc: 'tokens in flight per process' }),
  REVEAL_CONCURRENCY: intIn(1, 100)({ default: 1, desc: 'batches in flight per process' }),
  MAX_ATTEMPTS_IMAGE: intIn(1, 100)({ default: 5, desc: 'attempts' }),
  MAX_ATTEMPTS_IPFS: intIn(1, 100)({ default: 5, desc: 'attempts' }),
  MAX_ATTEMPTS_REVEAL: intIn(1, 100)({ default: 5, desc: 'attempts' }),
  IMAGE_PROVIDER: str({ choices: IMAGE_PROVIDERS, default: 'local', desc: IMAGE_PROVIDERS.join(' or ') }),
  DEFAULT_PROMPT: str({ default: UPSTREAM_DEFAULT_PROMPT, desc: 'a prompt' }),
  REPLICATE_API_TOKEN: str({ default: '', desc: 'a Replicate API token' }),
  REPLICATE_MODEL: str({
    default: 'black-forest-labs/flux-schnell',
    desc: 'owner/name of a Replicate model',
  }),
  REPLICATE_API_URL: httpUrl({ default: 'https://api.replicate.com/v1', desc: 'the Replicate API base URL' }),
  REPLICATE_TIMEOUT_SECONDS: positiveNumber({ default: 120, desc: 'seconds' }),
  FALLBACK_CENSORED_PROMPT: str({ default: UPSTREAM_FALLBACK_PROMPT, desc: 'a prompt' }),
  AUTH_DOMAIN: authority({ default: 'localhost:3000', desc: 'host[:port] of the front end' }),
  AUTH_NONCE_TTL_SECONDS: intIn(30, 86_400)({ default: 300, desc: 'seconds' }),
  X_CLIENT_ID: str({ default: '', desc: 'the OAuth 2.0 client id of the X app' }),
  X_CLIENT_SECRET: str({ default: '', desc: 'the OAuth 2.0 client secret of the X app' }),
  X_REDIRECT_URI: httpUrl({ default: undefined, desc: 'the callback URL registered with X' }),
  X_AUTHORIZE_URL: httpUrl({ default: 'https://x.com/i/oauth2/authorize', desc: 'an http(s) URL' }),
  X_API_URL: httpUrl({ default: 'https://api.x.com', desc: 'an http(s) URL' }),
  OAUTH_STATE_TTL_SECONDS: intIn(60, 3600)({ default: 600, desc: 'seconds' }),
  FRONTEND_URL: httpUrl({ default: undefined, desc: 'an http(s) URL' }),
  FARCASTER_RPC_URL: httpUrl({ default: undefined, desc: 'an OP Mainnet JSON-RPC URL' }),
  FARCASTER_HUB_URL: httpUrl({ default: undefined, desc: 'a Farcaster hub HTTP API URL' }),
  FARCASTER_HUB_API_KEY: str({ default: '', desc: 'the x-api-key of the hub, if it needs one' }),
  FARCASTER_ID_REGISTRY_ADDRESS: contractAddress({ default: FARCASTER_ID_REGISTRY, desc: 'a 0x address' }),
  KEEPER_PRIVATE_KEY: keeperKey({ default: '', desc: '32 bytes of hex (64 hex digits, optional 0x prefix)' }),
  REVEAL_GAS_BUFFER: positiveNumber({ default: 1.2, desc: 'a multiplier of the gas estimate, at least 1' }),
  REVEAL_MAX_GAS_PRICE_GWEI: positiveNumber({ default: undefined, desc: 'gwei' }),
  TRANSACTION_TIMEOUT_SECONDS: positiveNumber({ default: 180, desc: 'seconds' }),
  REVEAL_MAX_FEE_BUMPS: intIn(0, 50)({ default: 5, desc: 'replacements per batch' }),
  BATCH_REVEAL_WAIT_SECONDS: positiveNumber({ default: 5, desc: 'seconds' }),
  BATCH_REVEAL_MAX_TOKENS: intIn(1, 50)({ default: 50, desc: 'tokens per reveal transaction (1 to 50)' }),
};

/** Every variable loadConfig reads (each is documented in .env.example; a test checks it). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(specs));

// Passwords the seed's examples used; a production database behind one of them is as good as open.
const PLACEHOLDER_PASSWORDS = new Set(['changeme', 'password', 'postgres', 'glisk']);

/** Production refuses shorter secrets: a short key is guessed, a short password brute-forced. */
export const MIN_PRODUCTION_SECRET_LENGTH = { databasePassword: 12, webhookSecret: 16 } as const;

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
function weakSecretProblem(name: string, what: string, value: string, minLength: number): string | undefined {
  if (value.length < minLength) {
    return `${name}: production needs a ${what} of at least ${minLength} characters (got ${value.length})`;
  }
  if (isPlaceholderSecret(value)) {
    return `${name}: production refuses a placeholder or example ${what} (such as the ones in .env.example)`;
  }
  return undefined;
}

/** Secret values shorter than this are not masked by value (only by field name and inside URLs). */
const MIN_SECRET_LENGTH = 8;

/**
 * Reads and validates the configuration. Throws ConfigError listing every problem (never only the first).
 * Without an argument it reads process.env over the `.env` file of the working directory (process wins).
 */
export function loadConfig(env: Env = readProcessEnv()): Config {
  // `KEY=` in a .env file means "not set", as it does for most tools; envalid would treat it as a value.
  const cleaned: Env = {};
  for (const key of Object.keys(specs)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value;
  }

  const problems: string[] = [];
  const e = cleanEnv(cleaned, specs, {
    reporter: ({ errors }) => {
      for (const [name, error] of Object.entries(errors)) {
        if (!error) continue;
        const spec = specs[name as keyof typeof specs];
        problems.push(`${name}: ${describeProblem(error, spec.desc)}`);
      }
    },
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const databaseUrl = e.DATABASE_URL;
  if (e.APP_ENV === 'production') {
    if (databaseUrl === undefined) {
      problems.push(
        'DATABASE_URL: required when APP_ENV=production (the embedded PostgreSQL is for development)',
      );
    } else {
      const password = decodeURIComponent(new URL(databaseUrl).password);
      if (password === '') {
        problems.push('DATABASE_URL: production needs a real password, not an empty or placeholder one');
      } else {
        const weak = weakSecretProblem(
          'DATABASE_URL',
          'password',
          password,
          MIN_PRODUCTION_SECRET_LENGTH.databasePassword,
        );
        if (weak !== undefined) problems.push(weak);
      }
    }
    if (e.ALCHEMY_WEBHOOK_SECRET === '') {
      problems.push(
        'ALCHEMY_WEBHOOK_SECRET: required when APP_ENV=production (an unsigned webhook can be forged)',
      );
    } else {
      const weak = weakSecretProblem(
        'ALCHEMY_WEBHOOK_SECRET',
        'signing key',
        e.ALCHEMY_WEBHOOK_SECRET,
        MIN_PRODUCTION_SECRET_LENGTH.webhookSecret,
      );
      if (weak !== undefined) problems.push(weak);
    }
    if (cleaned.CORS_ORIGINS === undefined) {
      problems.push(
        'CORS_ORIGINS: must be set explicitly when APP_ENV=production (the default is a local origin)',
      );
    } else if (e.CORS_ORIGINS === '*') {
      problems.push('CORS_ORIGINS: * is refused when APP_ENV=production; list the allowed origins');
    } else if (e.CORS_ORIGINS.some((o) => !o.startsWith('https://'))) {
      problems.push('CORS_ORIGINS: production origins must be https://');
    }
    if (cleaned.LOG_FORMAT === 'pretty') problems.push('LOG_FORMAT: production logs are json');
  }
  if (e.CHAIN_FOLLOWER_ENABLED && e.GLISK_NFT_CONTRACT_ADDRESS === undefined) {
    problems.push('GLISK_NFT_CONTRACT_ADDRESS: required when CHAIN_FOLLOWER_ENABLED=true');
  }
  if (e.CHAIN_FOLLOWER_ENABLED && e.RPC_URL === undefined && e.ALCHEMY_API_KEY === '') {
    problems.push('RPC_URL: RPC_URL or ALCHEMY_API_KEY is required when CHAIN_FOLLOWER_ENABLED=true');
  }
  let rpcUrl: string | undefined;
  try {
    rpcUrl = resolveRpcEndpoint(e)?.url;
  } catch (error) {
    if (!(error instanceof ChainConfigError)) throw error;
    problems.push(error.message);
  }
  if (e.IPFS_PROVIDER === 'kubo' && e.KUBO_API_URL === undefined) {
    problems.push('KUBO_API_URL: required when IPFS_PROVIDER=kubo');
  }
  if (e.IPFS_PROVIDER === 'pinata' && e.PINATA_JWT === '') {
    problems.push('PINATA_JWT: required when IPFS_PROVIDER=pinata');
  }
  if (e.REVEAL_GAS_BUFFER < 1) problems.push('REVEAL_GAS_BUFFER: must be at least 1');
  if (e.IMAGE_PROVIDER === 'replicate' && e.REPLICATE_API_TOKEN === '') {
    problems.push('REPLICATE_API_TOKEN: required when IMAGE_PROVIDER=replicate');
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(e.REPLICATE_MODEL)) {
    problems.push(`REPLICATE_MODEL: expected owner/name, got "${e.REPLICATE_MODEL}"`);
  }
  if (e.RETRY_MAX_SECONDS < e.RETRY_BASE_SECONDS) {
    problems.push('RETRY_MAX_SECONDS: must be at least RETRY_BASE_SECONDS');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Short or dictionary values are left to the logger's key- and URL-based redaction: masking every "postgres"
  // (the embedded server's password) would garble every line that names the database.
  const secrets = [
    e.ALCHEMY_WEBHOOK_SECRET,
    e.ALCHEMY_API_KEY,
    e.PINATA_JWT,
    e.METRICS_TOKEN,
    e.KEEPER_PRIVATE_KEY,
    // The key without its prefix, and as it may have been written (upper case), are masked too.
    e.KEEPER_PRIVATE_KEY.slice(2),
    e.KEEPER_PRIVATE_KEY.slice(2).toUpperCase(),
    e.REPLICATE_API_TOKEN,
    databasePassword(databaseUrl),
    ...urlSecrets(e.RPC_URL),
    e.X_CLIENT_SECRET,
    e.FARCASTER_HUB_API_KEY,
    ...urlSecrets(e.FARCASTER_RPC_URL),
  ].filter(
    (s): s is string =>
      s !== undefined && s.length >= MIN_SECRET_LENGTH && !PLACEHOLDER_PASSWORDS.has(s.toLowerCase()),
  );

  return deepFreeze({
    appEnv: e.APP_ENV,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (e.APP_ENV === 'production' ? 'json' : 'pretty') },
    http: {
      host: e.HOST,
      port: e.PORT,
      corsOrigins: e.CORS_ORIGINS,
      bodyLimitBytes: e.BODY_LIMIT,
      shutdownTimeoutMs: Math.round(e.SHUTDOWN_TIMEOUT_SECONDS * 1000),
      healthTimeoutMs: e.HEALTH_TIMEOUT_MS,
    },
    database: {
      url: databaseUrl,
      poolSize: e.DB_POOL_SIZE,
      poolTimeoutMs: e.DB_POOL_TIMEOUT_MS,
      connectTimeoutMs: Math.round(e.DB_CONNECT_TIMEOUT_SECONDS * 1000),
      migrateOnStart: e.MIGRATE_ON_START,
    },
    chain: {
      network: e.NETWORK,
      rpcUrl,
      alchemyApiKey: e.ALCHEMY_API_KEY,
      contractAddress: e.GLISK_NFT_CONTRACT_ADDRESS,
    },
    detection: {
      webhookSecret: e.ALCHEMY_WEBHOOK_SECRET,
      followerEnabled: e.CHAIN_FOLLOWER_ENABLED,
      confirmations: e.CONFIRMATIONS,
      followerStartBlock: e.FOLLOWER_START_BLOCK,
      followerMaxBlockRange: e.FOLLOWER_MAX_BLOCK_RANGE,
      pollIntervalMs: Math.round(e.POLL_INTERVAL_SECONDS * 1000),
      gapScanEnabled: e.GAP_SCAN_ENABLED,
      gapScanIntervalMs: Math.round(e.GAP_SCAN_INTERVAL_SECONDS * 1000),
    },
    ipfs: {
      provider: e.IPFS_PROVIDER,
      kuboApiUrl: e.KUBO_API_URL,
      pinataJwt: e.PINATA_JWT,
      pinataApiUrl: e.PINATA_API_URL,
      pinataMaxRequestsPerMinute: e.PINATA_MAX_REQUESTS_PER_MINUTE,
      uploadTimeoutMs: Math.round(e.IPFS_UPLOAD_TIMEOUT_SECONDS * 1000),
      localRetentionHours: e.IPFS_LOCAL_RETENTION_HOURS,
    },
    metrics: {
      token: e.METRICS_TOKEN,
      refreshMs: Math.round(e.METRICS_REFRESH_SECONDS * 1000),
      instance: e.METRICS_INSTANCE,
    },
    pipeline: {
      stages: e.WORKERS,
      batchSize: e.WORKER_BATCH_SIZE,
      leaseSeconds: e.WORKER_LEASE_SECONDS,
      pollIntervalMs: Math.round(e.POLL_INTERVAL_SECONDS * 1000),
      retryBaseMs: Math.round(e.RETRY_BASE_SECONDS * 1000),
      retryMaxMs: Math.round(e.RETRY_MAX_SECONDS * 1000),
      concurrency: { image: e.IMAGE_CONCURRENCY, ipfs: e.IPFS_CONCURRENCY, reveal: e.REVEAL_CONCURRENCY },
      maxAttempts: { image: e.MAX_ATTEMPTS_IMAGE, ipfs: e.MAX_ATTEMPTS_IPFS, reveal: e.MAX_ATTEMPTS_REVEAL },
    },
    image: {
      provider: e.IMAGE_PROVIDER,
      defaultPrompt: e.DEFAULT_PROMPT.trim(),
      fallbackPrompt: e.FALLBACK_CENSORED_PROMPT.trim(),
      replicate: {
        apiToken: e.REPLICATE_API_TOKEN,
        model: e.REPLICATE_MODEL,
        apiUrl: e.REPLICATE_API_URL,
        timeoutMs: Math.round(e.REPLICATE_TIMEOUT_SECONDS * 1000),
      },
    },
    auth: {
      domain: e.AUTH_DOMAIN,
      chainId: NETWORK_CHAIN_IDS[e.NETWORK],
      nonceTtlSeconds: e.AUTH_NONCE_TTL_SECONDS,
    },
    x: {
      clientId: e.X_CLIENT_ID,
      clientSecret: e.X_CLIENT_SECRET,
      redirectUri: e.X_REDIRECT_URI,
      authorizeUrl: e.X_AUTHORIZE_URL,
      apiUrl: e.X_API_URL.replace(/\/+$/, ''),
      stateTtlSeconds: e.OAUTH_STATE_TTL_SECONDS,
    },
    frontendUrl: e.FRONTEND_URL,
    farcaster: {
      rpcUrl: e.FARCASTER_RPC_URL,
      hubUrl: e.FARCASTER_HUB_URL?.replace(/\/+$/, ''),
      hubApiKey: e.FARCASTER_HUB_API_KEY,
      idRegistryAddress: e.FARCASTER_ID_REGISTRY_ADDRESS,
    },
    reveal: {
      keeperPrivateKey: e.KEEPER_PRIVATE_KEY,
      gasBuffer: e.REVEAL_GAS_BUFFER,
      maxGasPriceGwei: e.REVEAL_MAX_GAS_PRICE_GWEI,
      transactionTimeoutMs: Math.round(e.TRANSACTION_TIMEOUT_SECONDS * 1000),
      maxFeeBumps: e.REVEAL_MAX_FEE_BUMPS,
      batchWaitMs: Math.round(e.BATCH_REVEAL_WAIT_SECONDS * 1000),
      batchMaxTokens: e.BATCH_REVEAL_MAX_TOKENS,
    },
    secrets,
  });
}

/** process.env over the `.env` file of the working directory, when there is one. Does not modify process.env. */
export function readProcessEnv(cwd = process.cwd()): Env {
  const path = resolve(cwd, '.env');
  const fromFile = existsSync(path) ? parseDotenv(readFileSync(path)) : {};
  return { ...fromFile, ...process.env };
}

/**
 * The environment for a child process (drizzle-kit studio, a forked server): this process's environment plus
 * overrides. Lives here so that process.env stays read in one module.
 */
export function childProcessEnv(overrides: Env = {}): Env {
  return { ...readProcessEnv(), ...overrides };
}

/** Makes every Date in this process print and parse in UTC, whatever the host says; call first in main. */
export function useUtcTimezone(): void {
  process.env.TZ = 'UTC';
}

function describeProblem(error: Error, expected: string | undefined): string {
  // envalid's missing-variable message is only the description; say what is wrong as well.
  if (error.name === 'EnvMissingError') return `missing; expected ${expected ?? 'a value'}`;
  const message = error.message.replace(/^Invalid value for env var "[^"]+"$/, 'invalid value');
  if (message.startsWith('expected')) return message;
  const choices = /^Value "(.*)" not in choices \[(.*)\]$/.exec(message);
  if (choices) return `expected one of ${choices[2]?.split(',').join(', ')}, got "${choices[1]}"`;
  return `${message}; expected ${expected ?? 'a valid value'}`;
}

function databasePassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const password = new URL(url).password;
  return password === '' ? undefined : decodeURIComponent(password);
}

// An RPC URL may carry a key in its path (Alchemy, Infura) or its credentials; keep the whole URL secret.
function urlSecrets(url: string | undefined): string[] {
  if (url === undefined) return [];
  const parsed = new URL(url);
  const parts = [decodeURIComponent(parsed.password)];
  if (parsed.pathname.length > 1) parts.push(url);
  return parts;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

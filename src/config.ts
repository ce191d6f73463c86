// The only module that reads process.env. Everything else receives the typed, frozen Config that loadConfig
// returns, so a bad environment fails once, at start, with every problem listed.
//
// The variables live by area in src/config/: service.ts (APP_ENV, logs, HTTP, database, metrics), chain.ts
// (network, RPC, contract, webhook, follower, gap scan), pipeline.ts (WORKERS and the stage runtime), image.ts,
// ipfs.ts, reveal.ts (each stage's provider and limits) and authors.ts (sign-in, X, Farcaster). A new variable
// goes into its area's specs and read function, into .env.example with a comment, and into the README's
// configuration table; a new area is one more file here and one more line in AREAS below.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { cleanEnv } from 'envalid';
import { ConfigError } from './errors.js';
import { authorsSpecs, readAuthorsConfig, type AuthorsConfig } from './config/authors.js';
import { chainSpecs, readChainConfig, type ChainConfig } from './config/chain.js';
import { imageSpecs, readImageConfig, type ImageConfig } from './config/image.js';
import { ipfsSpecs, readIpfsConfig, type IpfsConfig } from './config/ipfs.js';
import {
  pipelineSpecs,
  readPipelineConfig,
  renamedPipelineVariables,
  type PipelineConfig,
} from './config/pipeline.js';
import { readRevealConfig, revealSpecs, type RevealConfig } from './config/reveal.js';
import { maskableSecrets } from './config/secrets.js';
import { readServiceConfig, serviceSpecs, type ServiceConfig } from './config/service.js';
import type { AreaContext } from './config/validators.js';

export { APP_ENVS, LOG_LEVELS, type AppEnv, type LogLevel } from './config/service.js';
export { IMAGE_PROVIDERS, type ImageProviderName } from './config/image.js';
export { IPFS_PROVIDERS, type IpfsProviderName } from './config/ipfs.js';
export { FARCASTER_ID_REGISTRY } from './config/authors.js';
export { NETWORKS, type Network } from './config/rpc-endpoint.js';
export { isPlaceholderSecret, MIN_PRODUCTION_SECRET_LENGTH } from './config/secrets.js';

export type Config = Readonly<
  ServiceConfig &
    ChainConfig &
    PipelineConfig &
    ImageConfig &
    IpfsConfig &
    RevealConfig &
    AuthorsConfig & {
      /** Values that must never appear in a log line; the logger redacts them wherever they occur. */
      secrets: readonly string[];
    }
>;

type Env = Record<string, string | undefined>;

const specs = {
  ...serviceSpecs,
  ...chainSpecs,
  ...pipelineSpecs,
  ...imageSpecs,
  ...ipfsSpecs,
  ...revealSpecs,
  ...authorsSpecs,
};

/** Old names of renamed variables -> the new ones (setting an old name is a configuration error). */
const RENAMED_VARIABLES: Readonly<Record<string, string>> = { ...renamedPipelineVariables };

/** Every variable loadConfig reads (each is documented in .env.example; a test checks it). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(specs));

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
  for (const [old, renamed] of Object.entries(RENAMED_VARIABLES)) {
    if ((env[old] ?? '').trim() !== '') problems.push(`${old}: renamed ${renamed}; set ${renamed} instead`);
  }
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

  const area: AreaContext = {
    production: e.APP_ENV === 'production',
    isSet: (name) => cleaned[name] !== undefined,
    problems,
    secrets: [],
  };
  const parts = {
    ...readServiceConfig(e, area),
    ...readChainConfig(e, area),
    ...readPipelineConfig(e, area),
    ...readImageConfig(e, area),
    ...readIpfsConfig(e, area),
    ...readRevealConfig(e, area),
    ...readAuthorsConfig(e, area),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({ ...parts, secrets: maskableSecrets(area.secrets) });
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

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

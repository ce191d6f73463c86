// loadConfig: defaults, every problem listed at once, production's refusals; and main exiting 1 on a bad
// environment before it listens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseDotenv } from 'dotenv';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, loadConfig, readProcessEnv } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { REPO_ROOT, spawnService } from './helpers/http.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('expected the configuration to be refused');
}

const GOOD_PRODUCTION = {
  APP_ENV: 'production',
  DATABASE_URL: 'postgres://glisk:Xk29fj2ls0dkq@db.internal:5432/glisk',
  ALCHEMY_WEBHOOK_SECRET: 'whsec_9f8e7d6c5b4a',
  ADMIN_API_KEY: 'op_4Hq8ZtWm2Lr7Ks9Vd3Xn6Pb1',
  CORS_ORIGINS: 'https://app.glisk.xyz',
};

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.appEnv, 'development');
    assert.deepEqual(config.log, { level: 'info', format: 'pretty' });
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.http.port, 8000);
    assert.deepEqual(config.http.corsOrigins, ['http://localhost:3000']);
    assert.equal(config.http.bodyLimitBytes, 1024 * 1024);
    assert.equal(config.http.shutdownTimeoutMs, 10_000);
    assert.equal(config.http.healthTimeoutMs, 800);
    assert.deepEqual(config.database, {
      url: undefined,
      poolSize: 200,
      poolTimeoutMs: 5000,
      connectTimeoutMs: 10_000,
      migrateOnStart: true,
    });
    assert.equal(config.chain.network, 'BASE_SEPOLIA');
    assert.equal(config.chain.rpcUrl, undefined);
    assert.equal(config.chain.contractAddress, undefined);
    assert.equal(config.detection.webhookSecret, '');
    assert.equal(config.detection.followerEnabled, false);
    assert.equal(config.detection.confirmations, 3);
    assert.equal(config.detection.followerMaxBlockRange, 2000);
    assert.equal(config.detection.pollIntervalMs, 5000);
    assert.equal(config.detection.gapScanEnabled, true);
    assert.equal(config.detection.gapScanIntervalMs, 300_000);
    assert.deepEqual(config.secrets, []);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({});
    assert.throws(() => {
      (config.http as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config.http.corsOrigins as string[]).push('https://x.example');
    }, TypeError);
  });

  it('lists every problem with the variable name and what it expects, not only the first', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      APP_ENV: 'staging',
      DB_POOL_SIZE: '0',
      GLISK_NFT_CONTRACT_ADDRESS: '0x1234',
      CORS_ORIGINS: 'https://app.glisk.xyz/path',
      BODY_LIMIT: 'lots',
      LOG_LEVEL: 'loud',
      MIGRATE_ON_START: 'maybe',
      RPC_URL: 'ftp://node.example',
      DATABASE_URL: 'mysql://x@y/z',
      NETWORK: 'ETHEREUM',
    });
    const names = problems.map((p) => p.split(':')[0]).sort();
    assert.deepEqual(names, [
      'APP_ENV',
      'BODY_LIMIT',
      'CORS_ORIGINS',
      'DATABASE_URL',
      'DB_POOL_SIZE',
      'GLISK_NFT_CONTRACT_ADDRESS',
      'LOG_LEVEL',
      'MIGRATE_ON_START',
      'NETWORK',
      'PORT',
      'RPC_URL',
    ]);
    for (const problem of problems) assert.match(problem, /^[A-Z_]+: .*expected/i, problem);
    assert.ok(problems.includes('APP_ENV: expected one of development, production, test, got "staging"'));
    assert.ok(problems.includes('PORT: expected an integer from 0 to 65535, got "eighty"'));
  });

  it('treats an empty value as unset (KEY= in a .env file)', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '  ', GLISK_NFT_CONTRACT_ADDRESS: '' });
    assert.equal(config.http.port, 8000);
    assert.equal(config.database.url, undefined);
    assert.equal(config.chain.contractAddress, undefined);
  });

  it('MAX_ATTEMPTS_UPLOAD bounds the IPFS stage; its old name MAX_ATTEMPTS_IPFS is refused, naming the new one', () => {
    assert.equal(loadConfig({}).pipeline.maxAttempts.ipfs, 5);
    assert.equal(loadConfig({ MAX_ATTEMPTS_UPLOAD: '7' }).pipeline.maxAttempts.ipfs, 7);
    assert.deepEqual(problemsOf({ MAX_ATTEMPTS_IPFS: '7' }), [
      'MAX_ATTEMPTS_IPFS: renamed MAX_ATTEMPTS_UPLOAD; set MAX_ATTEMPTS_UPLOAD instead',
    ]);
    assert.equal(loadConfig({ MAX_ATTEMPTS_IPFS: '' }).pipeline.maxAttempts.ipfs, 5, 'empty = unset');
  });

  it('accepts the seed spellings of log levels', () => {
    assert.equal(loadConfig({ LOG_LEVEL: 'WARNING' }).log.level, 'warn');
    assert.equal(loadConfig({ LOG_LEVEL: 'DEBUG' }).log.level, 'debug');
  });

  it('checksums the contract address and refuses a mixed-case one with a wrong checksum', () => {
    const lower = '0x52908400098527886e0f7030069857d2e4169ee7';
    assert.equal(
      loadConfig({ GLISK_NFT_CONTRACT_ADDRESS: lower }).chain.contractAddress,
      '0x52908400098527886E0F7030069857D2E4169EE7',
    );
    const problems = problemsOf({ GLISK_NFT_CONTRACT_ADDRESS: '0x52908400098527886E0F7030069857D2E4169eE7' });
    assert.match(problems[0] ?? '', /^GLISK_NFT_CONTRACT_ADDRESS: expected .*checksum/);
  });

  it('derives the RPC URL: RPC_URL wins, else Alchemy for NETWORK; keys are listed as secrets', () => {
    const alchemy = loadConfig({ ALCHEMY_API_KEY: 'alch-key-123', NETWORK: 'BASE_MAINNET' });
    assert.equal(alchemy.chain.rpcUrl, 'https://base-mainnet.g.alchemy.com/v2/alch-key-123');
    assert.ok(alchemy.secrets.includes('alch-key-123'));
    const explicit = loadConfig({ ALCHEMY_API_KEY: 'alch-key-123', RPC_URL: 'http://127.0.0.1:8545' });
    assert.equal(explicit.chain.rpcUrl, 'http://127.0.0.1:8545');
    const production = loadConfig(GOOD_PRODUCTION);
    assert.ok(production.secrets.includes('Xk29fj2ls0dkq'), 'the DATABASE_URL password');
    assert.ok(production.secrets.includes('whsec_9f8e7d6c5b4a'));
    assert.ok(production.secrets.includes(GOOD_PRODUCTION.ADMIN_API_KEY), 'the operator key');
    // Masking a dictionary word everywhere would garble the logs (postgres://, node_modules/postgres/...).
    const weak = loadConfig({ DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:5432/postgres' });
    assert.deepEqual(weak.secrets, []);
  });

  it('requires a contract and an RPC endpoint when the follower is enabled', () => {
    const problems = problemsOf({ CHAIN_FOLLOWER_ENABLED: 'true' });
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['GLISK_NFT_CONTRACT_ADDRESS', 'RPC_URL']);
  });

  it('production refuses the embedded database, an empty webhook secret or admin key and the default CORS origin', () => {
    const problems = problemsOf({ APP_ENV: 'production' });
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
      'ADMIN_API_KEY',
      'ALCHEMY_WEBHOOK_SECRET',
      'CORS_ORIGINS',
      'DATABASE_URL',
    ]);
  });

  it('production refuses CORS *, http origins and placeholder database passwords', () => {
    assert.match(
      problemsOf({ ...GOOD_PRODUCTION, CORS_ORIGINS: '*' })[0] ?? '',
      /^CORS_ORIGINS: \* is refused/,
    );
    assert.match(
      problemsOf({ ...GOOD_PRODUCTION, CORS_ORIGINS: 'http://app.glisk.xyz' })[0] ?? '',
      /^CORS_ORIGINS: .*https/,
    );
    assert.match(
      problemsOf({ ...GOOD_PRODUCTION, DATABASE_URL: 'postgres://glisk:changeme@db:5432/glisk' })[0] ?? '',
      /^DATABASE_URL: .*password/,
    );
  });

  it('accepts a complete production configuration, logging JSON', () => {
    const config = loadConfig(GOOD_PRODUCTION);
    assert.equal(config.appEnv, 'production');
    assert.equal(config.log.format, 'json');
    assert.deepEqual(config.http.corsOrigins, ['https://app.glisk.xyz']);
  });

  it('development allows CORS * and an empty webhook secret', () => {
    const config = loadConfig({ CORS_ORIGINS: '*' });
    assert.equal(config.http.corsOrigins, '*');
    assert.equal(config.detection.webhookSecret, '');
  });
});

describe('.env.example', () => {
  const text = readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');

  it('documents every variable the service reads, and loads cleanly as a .env', () => {
    const active = parseDotenv(text);
    for (const name of CONFIG_VARIABLES) {
      assert.ok(name in active, `${name} is in .env.example`);
    }
    const config = loadConfig(active);
    assert.equal(config.appEnv, 'development');
    assert.equal(config.database.url, undefined, 'the example uses the embedded database');
  });

  it('sets nothing the service does not read, except the compose variables', () => {
    const composeOnly = [
      'POSTGRES_USER',
      'POSTGRES_PASSWORD',
      'POSTGRES_DB',
      'API_BIND_ADDRESS',
      'GRAFANA_ADMIN_PASSWORD',
    ];
    const unknown = Object.keys(parseDotenv(text)).filter(
      (name) => !CONFIG_VARIABLES.includes(name) && !composeOnly.includes(name),
    );
    assert.deepEqual(unknown, []);
  });

  it('reads and sets every pipeline name of domain.md section 8', () => {
    const names = [
      'REPLICATE_API_TOKEN',
      'REPLICATE_MODEL',
      'DEFAULT_PROMPT',
      'FALLBACK_CENSORED_PROMPT',
      'PINATA_JWT',
      'KEEPER_PRIVATE_KEY',
      'REVEAL_GAS_BUFFER',
      'REVEAL_MAX_GAS_PRICE_GWEI',
      'TRANSACTION_TIMEOUT_SECONDS',
      'BATCH_REVEAL_WAIT_SECONDS',
      'BATCH_REVEAL_MAX_TOKENS',
      'WORKER_BATCH_SIZE',
    ];
    const set = Object.keys(parseDotenv(text));
    for (const name of names) {
      assert.ok(CONFIG_VARIABLES.includes(name), `${name} is read`);
      assert.ok(set.includes(name), `${name} is in .env.example`);
    }
    assert.doesNotMatch(text, /^(<<<<<<<|=======|>>>>>>>)/m);
  });
});

describe('readProcessEnv', () => {
  it('reads .env from the working directory, without touching process.env', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'glisk-env-'));
    try {
      writeFileSync(path.join(dir, '.env'), '# comment\nGLISK_ENV_PROBE_A=from-file\nPORT=8123\n');
      const env = readProcessEnv(dir);
      assert.equal(env.GLISK_ENV_PROBE_A, 'from-file');
      assert.equal(
        loadConfig(env).http.port,
        process.env.PORT === undefined ? 8123 : Number(process.env.PORT),
      );
      assert.equal(process.env.GLISK_ENV_PROBE_A, undefined);
      assert.equal(readProcessEnv(path.join(dir, 'missing')).GLISK_ENV_PROBE_A, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start with a bad environment', () => {
  it('prints every problem and exits 1 before listening', async () => {
    const service = spawnService({
      PORT: '99999',
      APP_ENV: 'prod',
      GLISK_NFT_CONTRACT_ADDRESS: 'not-an-address',
      DB_POOL_TIMEOUT_MS: '-5',
    });
    try {
      const code = await service.exited;
      assert.equal(code, 1);
      const stderr = service.stderr();
      for (const name of ['PORT', 'APP_ENV', 'GLISK_NFT_CONTRACT_ADDRESS', 'DB_POOL_TIMEOUT_MS']) {
        assert.match(stderr, new RegExp(`^  - ${name}: `, 'm'), `${name} is reported`);
      }
      assert.match(stderr, /\.env\.example/);
      assert.doesNotMatch(service.stdout(), /http\.listening/);
    } finally {
      await service.kill();
    }
  });

  it('refuses to start in production with the embedded database (exit 1)', async () => {
    const service = spawnService({ APP_ENV: 'production' });
    try {
      assert.equal(await service.exited, 1);
      assert.match(service.stderr(), /DATABASE_URL: required when APP_ENV=production/);
    } finally {
      await service.kill();
    }
  });
});

// Issue 13.8: weak and example secrets, read from .env.example itself so that a new placeholder there cannot
// slip through.
describe('production secrets', () => {
  const exampleSecrets = (): string[] => {
    const text = readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
    const values = new Set<string>();
    for (const line of text.split('\n')) {
      // Assignments, commented out or not, of variables whose name says secret, and passwords inside URLs.
      const assignment = /^#?\s*([A-Z0-9_]*(?:PASSWORD|SECRET|KEY|JWT|TOKEN)[A-Z0-9_]*)=(\S+)/.exec(line);
      if (assignment?.[2] !== undefined) values.add(assignment[2]);
      for (const url of line.matchAll(/[a-z]+:\/\/[^:\s/]+:([^@\s]+)@/g)) if (url[1]) values.add(url[1]);
    }
    return [...values];
  };

  it('.env.example has example secrets to check (the parser finds them)', () => {
    const found = exampleSecrets();
    assert.ok(found.includes('change-this-password'), JSON.stringify(found));
    assert.ok(found.length >= 2, JSON.stringify(found));
  });

  it('refuses every example secret of .env.example as the database password and as the webhook key', () => {
    for (const value of exampleSecrets()) {
      const asPassword = problemsOf({
        ...GOOD_PRODUCTION,
        DATABASE_URL: `postgres://glisk:${encodeURIComponent(value)}@db.internal:5432/glisk`,
      });
      assert.ok(
        asPassword.some((p) => p.startsWith('DATABASE_URL:')),
        `${value}: ${asPassword.join('; ')}`,
      );
      const asKey = problemsOf({ ...GOOD_PRODUCTION, ALCHEMY_WEBHOOK_SECRET: value });
      assert.ok(
        asKey.some((p) => p.startsWith('ALCHEMY_WEBHOOK_SECRET:')),
        `${value}: ${asKey.join('; ')}`,
      );
      const asAdminKey = problemsOf({ ...GOOD_PRODUCTION, ADMIN_API_KEY: value });
      assert.ok(
        asAdminKey.some((p) => p.startsWith('ADMIN_API_KEY:')),
        `${value}: ${asAdminKey.join('; ')}`,
      );
    }
  });

  it('refuses short secrets: webhook key "a", database password "123", admin key of 23 characters', () => {
    assert.deepEqual(
      problemsOf({ ...GOOD_PRODUCTION, ADMIN_API_KEY: GOOD_PRODUCTION.ADMIN_API_KEY.slice(0, 23) }),
      ['ADMIN_API_KEY: production needs a key of at least 24 characters (got 23)'],
    );
    assert.deepEqual(problemsOf({ ...GOOD_PRODUCTION, ALCHEMY_WEBHOOK_SECRET: 'a' }), [
      'ALCHEMY_WEBHOOK_SECRET: production needs a signing key of at least 16 characters (got 1)',
    ]);
    assert.deepEqual(
      problemsOf({ ...GOOD_PRODUCTION, DATABASE_URL: 'postgres://glisk:123@db.internal:5432/glisk' }),
      ['DATABASE_URL: production needs a password of at least 12 characters (got 3)'],
    );
    // Long but a placeholder shape, and long random values that are accepted.
    assert.equal(problemsOf({ ...GOOD_PRODUCTION, ALCHEMY_WEBHOOK_SECRET: 'x'.repeat(40) }).length, 1);
    assert.equal(
      loadConfig({ ...GOOD_PRODUCTION, ALCHEMY_WEBHOOK_SECRET: 'whsec_q8Zr4Lm2Tn7Vb1Xc' }).appEnv,
      'production',
    );
  });

  it('development accepts short secrets (only production refuses them)', () => {
    assert.equal(loadConfig({ ALCHEMY_WEBHOOK_SECRET: 'a' }).detection.webhookSecret, 'a');
    assert.equal(loadConfig({ ADMIN_API_KEY: 'a' }).admin.apiKey, 'a');
  });
});

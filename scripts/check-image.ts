// `npm run check:image`: the Dockerfile's runtime stage without Docker. Installs exactly what the image installs
// (production dependencies, no optional ones, no install scripts, then our patches) into a temp directory with
// the compiled dist/ and drizzle/, starts it as the image does (APP_ENV=production, node dist/main.js) against a
// throwaway PostgreSQL 17, and checks that it migrates, answers /health, /openapi.json, /docs and /redoc, and
// stops cleanly on SIGTERM. Catches a devDependency imported by src/ or a patch the image would miss.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { childProcessEnv } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';

const HELP = `Usage: npm run check:image

Reproduces the runtime stage of the Dockerfile in a temp directory (npm ci --omit=dev
--ignore-scripts, then patch-package; dist/ from npm run build; drizzle/), runs node dist/main.js with
APP_ENV=production against a throwaway embedded PostgreSQL 17 and checks its endpoints and its shutdown.
Needs dist/ (npm run build) and the npm registry. Exit status 0 when every check passes, 1 otherwise.`;

const ROOT = path.resolve(import.meta.dirname, '..');

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: childProcessEnv(),
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited ${code ?? 'by signal'}`)),
    );
  });
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  if (!existsSync(path.join(ROOT, 'dist', 'main.js'))) {
    console.error('check:image: dist/main.js is missing: run npm run build first');
    return 1;
  }
  const app = mkdtempSync(path.join(tmpdir(), 'glisk-image-'));
  const pgDir = await createTemporaryDirectory('glisk-image-pg-');
  const server = await startEmbeddedPostgres({ dataDir: path.join(pgDir, 'data'), persistent: false });
  try {
    console.log(`check:image: installing the runtime stage in ${app}...`);
    for (const item of ['package.json', 'package-lock.json', 'patches', 'dist', 'drizzle', 'public']) {
      cpSync(path.join(ROOT, item), path.join(app, item), { recursive: true });
    }
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    await run('npx', ['--no-install', 'patch-package'], app);

    // Production refuses a placeholder password: give the service a role like a real deployment's.
    const password = `img-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create role glisk_image login password '${password}'`);
    await admin.unsafe('create database glisk_image owner glisk_image');
    await admin.end();
    const url = new URL(server.url);
    url.username = 'glisk_image';
    url.password = password;
    url.pathname = '/glisk_image';

    console.log('check:image: starting node dist/main.js with APP_ENV=production...');
    const service = spawn(process.execPath, ['dist/main.js'], {
      cwd: app,
      env: {
        PATH: childProcessEnv().PATH ?? '',
        NODE_ENV: 'production',
        TZ: 'UTC',
        APP_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        DATABASE_URL: url.toString(),
        ALCHEMY_WEBHOOK_SECRET: 'check-image-webhook-secret',
        ADMIN_API_KEY: 'check-image-operator-key-0123456789',
        CORS_ORIGINS: 'https://app.example.com',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => service.on('exit', (code) => resolve(code)));
    let out = '';
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening within 30 s:\n${out}`)), 30_000);
      service.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const match = /"message":"http\.listening".*?"url":"([^"]+)"/.exec(out);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      void exited.then(() => reject(new Error(`the service exited before listening:\n${out}`)));
    });
    try {
      const base = await listening;
      if (!out.includes('"database.migrated"')) throw new Error('no database.migrated line');
      for (const [pathname, expected] of [
        ['/health', 200],
        ['/openapi.json', 200],
        ['/docs/', 200],
        ['/redoc', 200],
        ['/redoc/redoc.standalone.js', 200],
      ] as const) {
        const res = await fetch(`${base}${pathname}`, { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        if (res.status !== expected)
          throw new Error(`${pathname} answered ${res.status}, expected ${expected}`);
        console.log(`check:image: ${pathname} ${res.status}`);
      }
      service.kill('SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
      ]);
      if (code !== 0) throw new Error(`SIGTERM: exit ${String(code)}, expected 0`);
      console.log('check:image: stopped cleanly on SIGTERM; the runtime stage works');
      return 0;
    } finally {
      if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
    }
  } catch (error) {
    console.error(`check:image failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await server.stop();
    rmSync(app, { recursive: true, force: true });
  }
}

process.exitCode = await main();

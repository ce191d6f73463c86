// `npm run db:check-migrate`: the committed migrations work with both migration tools. Operators may apply
// drizzle/ with `drizzle-kit migrate` from their own pipelines, the service and `npm run db:migrate` apply it
// with drizzle's migrator under an advisory lock: both must build the same schema, record the same migrations,
// and each must find nothing to do on a database the other migrated.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { createTemporaryDirectory } from '../src/dev/temporary-directory.js';
import { diffSchemas, readSchema, type SchemaSnapshot } from './schema-snapshot.js';

const HELP = `Usage: npm run db:check-migrate

Checks that drizzle-kit migrate and npm run db:migrate agree on the committed migrations (drizzle/):
  1. database A migrated by drizzle-kit migrate, database B by npm run db:migrate;
  2. A and B have the same schema (tables, columns, defaults, constraints, indexes, sequences, functions,
     triggers, types, read from the catalog) and the same rows in drizzle.__drizzle_migrations;
  3. npm run db:migrate on A and drizzle-kit migrate on B then change nothing.

PostgreSQL: TEST_DATABASE_URL (a superuser or CREATEDB role; two scratch databases are created and dropped)
when set, else a throwaway embedded PostgreSQL 17 in a temp directory.

Exit status: 0 the tools agree, 1 they disagree or a step failed.`;

const ROOT = path.resolve(import.meta.dirname, '..');
const DRIZZLE_KIT = path.join(ROOT, 'node_modules', 'drizzle-kit', 'bin.cjs');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const STEP_TIMEOUT_MS = 180_000;

class CheckFailure extends Error {}

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const unknown = args.filter((arg) => arg !== '--');
  if (unknown.length > 0) throw new CheckFailure(`unknown argument ${unknown.join(' ')} (see --help)`);

  const started = performance.now();
  const server = await startServer();
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const names = { kit: `glisk_mig_kit_${suffix}`, app: `glisk_mig_app_${suffix}` };
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${names.kit}`);
    await admin.unsafe(`create database ${names.app}`);
    const kitUrl = withDatabase(server.url, names.kit);
    const appUrl = withDatabase(server.url, names.app);

    log('database A: drizzle-kit migrate');
    await drizzleKitMigrate(kitUrl);
    log('database B: npm run db:migrate');
    await dbMigrate(appUrl);

    const kit = await readSchema(kitUrl);
    const app = await readSchema(appUrl);
    if (kit.migrations.length === 0) throw new CheckFailure('drizzle-kit migrate recorded no migration');
    check('drizzle-kit migrate (A)', kit, 'npm run db:migrate (B)', app);
    log(`A and B agree: ${kit.objects.length} schema objects, ${kit.migrations.length} migrations recorded`);

    log('database A: npm run db:migrate after drizzle-kit migrate (must apply nothing)');
    const again = await dbMigrate(kitUrl);
    if (!/applied 0 migration\(s\)/.test(again)) {
      throw new CheckFailure(`npm run db:migrate applied something after drizzle-kit migrate:\n${again}`);
    }
    check('A before', kit, 'A after npm run db:migrate', await readSchema(kitUrl));

    log('database B: drizzle-kit migrate after npm run db:migrate (must change nothing)');
    await drizzleKitMigrate(appUrl);
    check('B before', app, 'B after drizzle-kit migrate', await readSchema(appUrl));

    log(`the two tools agree (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    return 0;
  } finally {
    for (const name of Object.values(names)) {
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
    }
    await admin.end({ timeout: 5 });
    await server.stop();
  }
}

function check(leftName: string, left: SchemaSnapshot, rightName: string, right: SchemaSnapshot): void {
  const problems = diffSchemas(leftName, left, rightName, right);
  if (problems.length > 0)
    throw new CheckFailure(`${leftName} and ${rightName} differ:\n${problems.join('\n')}`);
}

function log(message: string): void {
  console.log(`db:check-migrate: ${message}`);
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) return { url: external, stop: async () => {} };
  const dir = await createTemporaryDirectory('glisk-check-migrate-');
  try {
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    return {
      url: server.url,
      stop: async () => {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** drizzle-kit migrate with the project's drizzle.config.ts, which reads DATABASE_URL. */
async function drizzleKitMigrate(url: string): Promise<string> {
  const run = await runTool(process.execPath, [DRIZZLE_KIT, 'migrate', '--config=drizzle.config.ts'], url);
  // drizzle-kit prints its errors and may still exit 0.
  if (run.code !== 0 || /\berror\b/i.test(run.output)) {
    throw new CheckFailure(`drizzle-kit migrate failed (exit ${run.code}):\n${run.output.trim()}`);
  }
  return run.output;
}

/** The project's own command, as `npm run db:migrate` runs it. */
async function dbMigrate(url: string): Promise<string> {
  const run = await runTool(process.execPath, [TSX, 'src/cli/migrate.ts'], url);
  if (run.code !== 0)
    throw new CheckFailure(`npm run db:migrate failed (exit ${run.code}):\n${run.output.trim()}`);
  return run.output;
}

function runTool(
  command: string,
  args: string[],
  url: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, MIGRATE_ON_START: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new CheckFailure(`${path.basename(args[0] ?? command)} did not finish in ${STEP_TIMEOUT_MS} ms`),
      );
    }, STEP_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(
      `db:check-migrate: ${error instanceof CheckFailure ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exitCode = 1;
  },
);

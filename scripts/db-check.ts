// `npm run db:check`: fails when src/db/schema.ts and the committed migrations in drizzle/ disagree, i.e.
// someone edited the schema without running `npm run db:generate` (or edited a generated snapshot).
// drizzle-kit generate runs on a copy of drizzle/, so the check never writes into the working tree.
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const HELP = `Usage: npm run db:check

Fails (exit 1) when the schema (src/db/schema.ts) and the committed migrations (drizzle/) disagree:
  1. drizzle-kit check: the migration snapshots in drizzle/meta are consistent;
  2. drizzle-kit generate, run on a temporary copy of drizzle/, produces no new migration.
Needs no database. Exit status: 0 in agreement, 1 disagreement or error.`;

const ROOT = path.resolve(import.meta.dirname, '..');
const DRIZZLE_KIT = path.join(ROOT, 'node_modules', 'drizzle-kit', 'bin.cjs');
const TIMEOUT_MS = 120_000;

class CheckFailure extends Error {}

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const started = performance.now();
  const work = await mkdtemp(path.join(tmpdir(), 'glisk-db-check-'));
  try {
    const out = path.join(work, 'drizzle');
    await cp(path.join(ROOT, 'drizzle'), out, { recursive: true });
    // The project's own config with only `out` moved, so casing, schema path, dialect etc. stay in one place.
    const config = path.join(work, 'drizzle.config.ts');
    await writeFile(
      config,
      `import base from ${JSON.stringify(path.join(ROOT, 'drizzle.config.ts'))};\n` +
        // drizzle-kit resolves `out` as './' + out, so it must be relative to the working directory.
        `export default { ...base, out: ${JSON.stringify(path.relative(ROOT, out))} };\n`,
    );
    const before = await listFiles(out);

    console.log('db:check: drizzle-kit check (snapshot consistency)');
    const check = await drizzleKit(['check', `--config=${config}`]);
    if (check.code !== 0 || /error|collision|not valid/i.test(check.output)) {
      throw new CheckFailure(`drizzle-kit check found a problem in drizzle/:\n${check.output.trim()}`);
    }

    console.log('db:check: drizzle-kit generate on a copy of drizzle/ (must produce nothing)');
    const generate = await drizzleKit(['generate', `--config=${config}`]);
    // drizzle-kit asks whether a column/table was renamed or dropped; with no terminal it prints this and
    // exits 0 without generating anything.
    if (generate.timedOut || /Interactive prompts require a TTY/.test(generate.output)) {
      throw new CheckFailure(
        'drizzle-kit generate needs an answer (was a column or table in src/db/schema.ts renamed or dropped ' +
          'without a migration?). Run `npm run db:generate` in a terminal and commit its migration.',
      );
    }
    if (generate.code !== 0 || /\bError\b/.test(generate.output)) {
      throw new CheckFailure(`drizzle-kit generate failed:\n${generate.output.trim()}`);
    }
    const created = (await listFiles(out)).filter((file) => !before.includes(file));
    const changed: string[] = [];
    for (const file of before) {
      const [original, regenerated] = await Promise.all([
        readFile(path.join(ROOT, 'drizzle', file), 'utf8'),
        readFile(path.join(out, file), 'utf8'),
      ]);
      if (original !== regenerated) changed.push(file);
    }
    if (created.length > 0 || changed.length > 0) {
      const sqlFiles = created.filter((file) => file.endsWith('.sql'));
      const sql = await Promise.all(sqlFiles.map((file) => readFile(path.join(out, file), 'utf8')));
      throw new CheckFailure(
        'src/db/schema.ts and the committed migrations in drizzle/ disagree: drizzle-kit generate would ' +
          `create ${created.join(', ') || 'nothing'}${changed.length > 0 ? ` and change ${changed.join(', ')}` : ''}.\n` +
          'Run `npm run db:generate` and commit the new migration.' +
          (sql.length > 0 ? `\nThe missing migration:\n${sql.join('\n').trim()}` : ''),
      );
    }
    console.log(`db:check: schema and migrations agree (${Math.round(performance.now() - started)} ms)`);
    return 0;
  } catch (error) {
    console.error(`db:check failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

function drizzleKit(args: string[]): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    // stdin closed: an interactive question (rename or drop?) must never wait for an answer.
    const child = spawn(process.execPath, [DRIZZLE_KIT, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

process.exitCode = await main(process.argv.slice(2));

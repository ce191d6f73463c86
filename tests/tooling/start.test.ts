// npm start (scripts/start.mjs) runs the compiled service and compiles only what changed: a copy of the
// project in a temp directory is compiled, changed, and started for real.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { REPO_ROOT } from '../helpers/http.js';

type Work = { compile: string[]; remove: string[] };
type StartModule = { plan: (root: string) => Work; compile: (root: string) => Work };

describe('npm start: the compiled service, compiled when stale', () => {
  let root: string;
  let start: StartModule;
  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'glisk-start-'));
    for (const item of [
      'src',
      'drizzle',
      'scripts/start.mjs',
      'tsconfig.json',
      'tsconfig.build.json',
      'package.json',
    ]) {
      cpSync(path.join(REPO_ROOT, item), path.join(root, item), { recursive: true });
    }
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
    start = (await import(path.join(root, 'scripts/start.mjs'))) as StartModule;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const past = (seconds: number) => new Date(Date.now() - seconds * 1000);

  it('compiles every file the first time, as ESM with source maps into src/, then nothing', () => {
    const first = start.compile(root);
    assert.ok(first.compile.includes('main.ts'));
    assert.ok(first.compile.length > 20);
    const main = readFileSync(path.join(root, 'dist/main.js'), 'utf8');
    assert.match(main, /^import /m);
    assert.doesNotMatch(main, /\brequire\(/);
    assert.match(main, /\/\/# sourceMappingURL=main\.js\.map\s*$/);
    const map = JSON.parse(readFileSync(path.join(root, 'dist/main.js.map'), 'utf8')) as {
      sources: string[];
    };
    assert.deepEqual(map.sources, ['../src/main.ts']);
    assert.deepEqual(start.plan(root), { compile: [], remove: [] });
  });

  it('compiles again only a file changed since, and removes the output of a deleted one', () => {
    writeFileSync(path.join(root, 'src/lib/extra.ts'), 'export const extra: number = 1;\n');
    assert.deepEqual(start.plan(root), { compile: ['lib/extra.ts'], remove: [] });
    start.compile(root);
    assert.equal(
      readFileSync(path.join(root, 'dist/lib/extra.js'), 'utf8').split('\n')[0],
      'export const extra = 1;',
    );

    // logger.ts edited after its last compilation.
    utimesSync(path.join(root, 'dist/logger.js'), past(3600), past(3600));
    rmSync(path.join(root, 'src/lib/extra.ts'));
    assert.deepEqual(start.plan(root), {
      compile: ['logger.ts'],
      remove: ['lib/extra.js', 'lib/extra.js.map'],
    });
    start.compile(root);
    assert.equal(existsSync(path.join(root, 'dist/lib/extra.js')), false);
    assert.equal(existsSync(path.join(root, 'dist/lib/extra.js.map')), false);
    assert.deepEqual(start.plan(root), { compile: [], remove: [] });
  });

  describe('started', () => {
    let testDb: TestDatabase;
    before(async () => {
      testDb = await createTestDatabase();
    });
    after(() => testDb?.drop());

    it('answers /health and stops cleanly on SIGTERM', async () => {
      const child = spawn(process.execPath, [path.join(root, 'scripts/start.mjs')], {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? root,
          DATABASE_URL: testDb.url,
          HOST: '127.0.0.1',
          PORT: '0',
          LOG_FORMAT: 'json',
          GAP_SCAN_ENABLED: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          child.stdout.on('data', (chunk: string) => {
            out += chunk;
            const match = /"message":"http\.listening".*?"url":"([^"]+)"/.exec(out);
            if (match?.[1]) resolve(match[1]);
          });
          void exited.then(() => reject(new Error(`npm start exited before listening:\n${out}`)));
        });
        // Everything was compiled above: nothing to do at this start.
        assert.doesNotMatch(out, /start: compiled/);
        const health = await fetch(`${url}/health`);
        assert.equal(health.status, 200);
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });
  it('compiles everything when the tsconfig changed', () => {
    utimesSync(path.join(root, 'dist/main.js'), past(3600), past(3600));
    utimesSync(path.join(root, 'tsconfig.json'), past(60), past(60));
    assert.ok(start.plan(root).compile.length > 20);
  });
});

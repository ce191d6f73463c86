// npm start (scripts/start.mjs) runs the service bundled into one file, built again when src/ or the packages
// changed: a copy of the project in a temp directory is built, changed, and started for real.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { REPO_ROOT } from '../helpers/http.js';

type StartModule = {
  BUNDLE: string;
  staleness: (root: string) => string | undefined;
  build: (root: string) => Promise<void>;
};

describe('npm start: the service as one bundled file, built when stale', () => {
  let root: string;
  let start: StartModule;
  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'glisk-start-'));
    for (const item of ['src', 'drizzle', 'scripts/start.mjs', 'tsconfig.json', 'package.json']) {
      cpSync(path.join(REPO_ROOT, item), path.join(root, item), { recursive: true });
    }
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
    start = (await import(path.join(root, 'scripts/start.mjs'))) as StartModule;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const past = (seconds: number) => new Date(Date.now() - seconds * 1000);
  const bundle = () => path.join(root, start.BUNDLE);

  it('builds dist/start/main.mjs, an ES module with a source map into src/, then has nothing to do', async () => {
    assert.equal(start.staleness(root), 'no bundle yet');
    await start.build(root);
    const main = readFileSync(bundle(), 'utf8');
    assert.match(main, /^import /m);
    assert.match(main, /\/\/# sourceMappingURL=main\.mjs\.map\s*$/);
    const map = JSON.parse(readFileSync(`${bundle()}.map`, 'utf8')) as { sources: string[] };
    assert.ok(map.sources.includes('../../src/main.ts'), map.sources.slice(0, 5).join(', '));
    // Packages that read their own files at run time are imported from node_modules, not bundled.
    assert.match(main, /from "sharp"|require\("sharp"\)/);
    assert.equal(start.staleness(root), undefined);
  });

  it('is stale again when a file of src/ or the installed packages changed since', () => {
    const future = new Date(Date.now() + 60_000);
    utimesSync(path.join(root, 'src/logger.ts'), future, future);
    assert.equal(start.staleness(root), 'src/logger.ts changed');
    utimesSync(path.join(root, 'src/logger.ts'), past(7200), past(7200));
    assert.equal(start.staleness(root), undefined);
    // A new (or deleted) module changes its folder.
    writeFileSync(path.join(root, 'src/lib/extra.ts'), 'export const extra: number = 1;\n');
    assert.match(start.staleness(root) ?? '', /^src\/lib(\/extra\.ts)? changed$/);
    rmSync(path.join(root, 'src/lib/extra.ts'));
    // npm install ran (the packages are inputs too): checked first, so named first.
    utimesSync(bundle(), past(60), past(60));
    utimesSync(path.join(root, 'package.json'), past(30), past(30));
    assert.equal(start.staleness(root), 'package.json changed');
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
        // package.json changed above: built once more, with the reason.
        assert.match(
          out,
          /start: built dist\/start\/main\.mjs from src\/ \(package\.json changed\) in \d+ ms/,
        );
        const health = await fetch(`${url}/health`);
        assert.equal(health.status, 200);
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });
  it('has nothing to do after that start', () => {
    assert.equal(start.staleness(root), undefined);
  });
});

// The npm test reporter (scripts/test-reporter.ts) counts what really happened, under node's own test runner:
// a skipped describe() counts as skipped with its reason (node's summary says "skipped 0"), a parent whose
// child failed is not a second failure, a file that throws at load time fails with its output shown, and
// the closing line CI reads is last.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/http.js';

const REPORTER = path.join(REPO_ROOT, 'scripts/test-reporter.mjs');

const FIXTURES: Record<string, string> = {
  'passing.test.mjs': `
    import { describe, test } from 'node:test';
    describe('a suite', () => {
      test('one', () => {});
      test('needs a tool', { skip: 'no tool here' }, () => {});
    });
    test('parent', async (t) => { await t.test('child', () => {}); });
  `,
  'failing.test.mjs': `
    import { test } from 'node:test';
    test('breaks', () => { console.log('said before breaking'); throw new Error('boom in breaks'); });
    test('parent of a failure', async (t) => { await t.test('failing child', () => { throw new Error('child boom'); }); });
    test('later', { todo: 'not written' }, () => {});
    test('skips itself', (t) => { t.skip('decided at run time'); });
  `,
  'skipped-suite.test.mjs': `
    import { describe, test } from 'node:test';
    describe('browser', { skip: '/usr/bin/chromium is missing' }, () => { test('a', () => {}); test('b', () => {}); });
  `,
  'crashing.test.mjs': `
    console.error('about to crash');
    throw new Error('crashed while loading');
  `,
};

type Run = { code: number | null; output: string };

function runNodeTest(cwd: string, env: Record<string, string> = {}): Promise<Run> {
  // A node --test run of our own: without NODE_TEST_CONTEXT it is a top-level run, not a child of this one.
  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-concurrency=4',
      `--test-reporter=${REPORTER}`,
      '--test-reporter-destination=stdout',
      ...Object.keys(FIXTURES),
    ],
    {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

describe('the npm test reporter', () => {
  let dir: string;
  let run: Run;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'glisk-reporter-'));
    for (const [name, source] of Object.entries(FIXTURES)) await writeFile(path.join(dir, name), source);
    run = await runNodeTest(dir, { GLISK_TEST_FILE_COUNT: '4' });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('ends with the plain count: leaf tests passed, real failures, skipped tests and suites', () => {
    const lines = run.output.trimEnd().split('\n');
    // passed: one, parent, child; failed: breaks, failing child, the crashing file;
    // skipped: needs a tool, skips itself, the browser suite.
    assert.equal(lines.at(-1), 'tests: 3 passed, 3 failed, 3 skipped', run.output);
    assert.equal(run.code, 1);
  });

  it('prints one line per file, with its progress, as files finish', () => {
    for (const [file, status] of [
      ['passing.test.mjs', 'ok  '],
      ['failing.test.mjs', 'FAIL'],
      ['skipped-suite.test.mjs', 'ok  '],
      ['crashing.test.mjs', 'FAIL'],
    ]) {
      assert.match(run.output, new RegExp(`^\\[[1-4]/4\\] ${status} ${file} \\d+\\.\\d s$`, 'm'), run.output);
    }
    assert.match(run.output, /^4 files \(2 failed\): 3 passed, 3 failed, 3 skipped, 1 todo in /m);
  });

  it('lists each skipped test and suite with its reason, and the todo', () => {
    assert.match(run.output, /^ {2}- skipped-suite\.test\.mjs › browser: \/usr\/bin\/chromium is missing$/m);
    assert.match(run.output, /^ {2}- passing\.test\.mjs › a suite › needs a tool: no tool here$/m);
    assert.match(run.output, /^ {2}- failing\.test\.mjs › skips itself: decided at run time$/m);
    assert.match(run.output, /^Todo \(1\):\n {2}- failing\.test\.mjs › later$/m);
  });

  it('shows each failure with its error, and the output of failed files only', () => {
    assert.match(run.output, /✗ failing\.test\.mjs › breaks\n\s+Error: boom in breaks/);
    assert.match(
      run.output,
      /✗ failing\.test\.mjs › parent of a failure › failing child\n\s+Error: child boom/,
    );
    assert.doesNotMatch(run.output, /✗ failing\.test\.mjs › parent of a failure\n/);
    assert.match(run.output, /✗ crashing\.test\.mjs › \(the file itself, outside any test\)/);
    assert.match(
      run.output,
      /output of crashing\.test\.mjs:[\s\S]*about to crash[\s\S]*crashed while loading/,
    );
    assert.match(run.output, /output of failing\.test\.mjs:\n\s+said before breaking/);
  });

  it('lists the slowest files', () => {
    assert.match(run.output, /^Slowest files:\n( +\d+\.\d s {2}\S+\.test\.mjs\n){4}/m);
  });

  it('with GLISK_TEST_SUMMARY, writes the counts there and leaves the closing line to npm test', async () => {
    const summaryFile = path.join(dir, 'summary.json');
    const second = await runNodeTest(dir, { GLISK_TEST_SUMMARY: summaryFile });
    assert.doesNotMatch(second.output, /^tests: /m);
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Record<string, number>;
    assert.deepEqual(
      { passed: summary.passed, failed: summary.failed, skipped: summary.skipped, todo: summary.todo },
      { passed: 3, failed: 3, skipped: 3, todo: 1 },
    );
  });
});

// npm test's own runner (scripts/test-files.mjs): the files run in long-lived shard processes, one after the
// other, each inside a describe() of its own; a file marked `// npm test: own process` gets a fresh one, and a
// file past its time limit fails alone (its shard is retired, the next file runs in a new one).
const SHARD_FIXTURES: Record<string, string> = {
  'a-passing.test.mjs': `
    import { after, describe, test } from 'node:test';
    globalThis.gliskSharedMark = 'set by a-passing';
    const order = [];
    after(() => { if (order.join() !== 'one,two') throw new Error('hooks of another file ran here: ' + order); });
    describe('a suite', () => {
      test('one', () => { order.push('one'); });
      test('needs a tool', { skip: 'no tool here' }, () => {});
    });
    test('two', () => { order.push('two'); });
  `,
  'b-shared.test.mjs': `
    import { test } from 'node:test';
    test('runs in the process of the file before', () => {
      if (globalThis.gliskSharedMark !== 'set by a-passing') throw new Error('not the same process');
    });
  `,
  'c-failing.test.mjs': `
    import assert from 'node:assert/strict';
    import { test } from 'node:test';
    test('breaks', () => { console.log('said before breaking'); assert.equal(1 + 1, 3); });
    class ProviderError extends Error { name = 'ProviderError'; code = 'RATE_LIMITED'; }
    test('throws an error class with fields of its own', () => { throw new ProviderError('answered 429'); });
  `,
  'd-crashing.test.mjs': `
    console.error('about to crash');
    throw new Error('crashed while loading');
  `,
  'e-own.test.mjs': `
    // npm test: own process (checks it)
    import { test } from 'node:test';
    test('runs in a fresh process', () => {
      if (globalThis.gliskSharedMark !== undefined) throw new Error('shares a process');
    });
  `,
  'f-hanging.test.mjs': `
    import { test } from 'node:test';
    globalThis.gliskSharedMark = 'set by f-hanging';
    test('never ends', () => new Promise(() => {}));
  `,
  'g-after-timeout.test.mjs': `
    import { test } from 'node:test';
    test('runs in a new process after a file timed out', () => {
      if (globalThis.gliskSharedMark !== undefined) throw new Error('shares the process of the file that timed out');
    });
  `,
};

describe('npm test runner: files in shard processes', () => {
  let dir: string;
  let run: Run;
  let shown: (name: string) => string;
  before(async () => {
    // Inside the repository, where the shards' tsx and node_modules resolve.
    // A fresh clone has no .tmp/ yet (CI's first run failed here: ENOENT).
    await mkdir(path.join(REPO_ROOT, '.tmp'), { recursive: true });
    dir = await mkdtemp(path.join(REPO_ROOT, '.tmp', 'glisk-shards-'));
    for (const [name, source] of Object.entries(SHARD_FIXTURES))
      await writeFile(path.join(dir, name), source);
    const files = Object.keys(SHARD_FIXTURES).map((name) => path.join(dir, name));
    shown = (name) => path.relative(REPO_ROOT, path.join(dir, name)).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/test-files.mjs')],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? dir,
          NO_COLOR: '1',
          GLISK_TEST_FILES: JSON.stringify(files),
          GLISK_TEST_FILE_COUNT: String(files.length),
          GLISK_TEST_CONCURRENCY: '1',
          GLISK_TEST_TIMEOUT_MS: '3000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    run = await new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('counts as node --test does and ends with the plain count', () => {
    const lines = run.output.trimEnd().split('\n');
    // passed: one, two, shared, own, after-timeout; failed: breaks, the error class, the crashing file, never
    // ends (cancelled by its file's time limit) and that file itself (timed out).
    assert.equal(lines.at(-1), 'tests: 5 passed, 5 failed, 1 skipped', run.output);
    assert.equal(run.code, 1);
  });

  it('one line per file; files share a process, hooks stay in their file, a marked file gets its own', () => {
    for (const [file, status] of [
      ['a-passing.test.mjs', 'ok  '],
      ['b-shared.test.mjs', 'ok  '],
      ['c-failing.test.mjs', 'FAIL'],
      ['d-crashing.test.mjs', 'FAIL'],
      ['e-own.test.mjs', 'ok  '],
      ['f-hanging.test.mjs', 'FAIL'],
      ['g-after-timeout.test.mjs', 'ok  '],
    ] as const) {
      assert.match(
        run.output,
        new RegExp(`^\\[[1-7]/7\\] ${status} ${shown(file)} \\d+\\.\\d s$`, 'm'),
        run.output,
      );
    }
  });

  it('shows each failure with its error and the output of the failed files', () => {
    assert.match(
      run.output,
      new RegExp(`✗ ${shown('c-failing.test.mjs')} › breaks\\n\\s+AssertionError \\[ERR_ASSERTION\\]`),
    );
    assert.match(run.output, /actual: 2,\s+expected: 3/);
    assert.match(run.output, /ProviderError\]?: answered 429[\s\S]*code: 'RATE_LIMITED'/);
    assert.match(
      run.output,
      new RegExp(`✗ ${shown('d-crashing.test.mjs')} › \\(the file itself, outside any test\\)`),
    );
    assert.match(run.output, /Error: crashed while loading/);
    assert.match(
      run.output,
      new RegExp(`output of ${shown('c-failing.test.mjs')}:\\n\\s+said before breaking`),
    );
    assert.match(run.output, new RegExp(`output of ${shown('d-crashing.test.mjs')}:\\n\\s+about to crash`));
    assert.match(run.output, new RegExp(`✗ ${shown('f-hanging.test.mjs')} › never ends`));
    assert.match(run.output, /^ {2}- .*a-passing\.test\.mjs › a suite › needs a tool: no tool here$/m);
  });
});

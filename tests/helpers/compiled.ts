// The compiled JavaScript of src/ (dist/, one file per module) for the tests that start the service or a
// command as a child process. scripts/test.ts compiles what changed before any test file starts
// (scripts/compile-src.mjs), so a child runs the sources of this checkout without tsx's loader: the same code,
// ~2 s of CPU less per process (tsx hooks every module the child loads).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

type Work = { compile: string[]; remove: string[] };
type StartModule = { plan: (root: string) => Work; compile: (root: string) => Work };

const start = (await import(
  pathToFileURL(path.join(REPO_ROOT, 'scripts/compile-src.mjs')).href
)) as StartModule;
let fresh = false;

/**
 * `node` arguments that run `source` (a path under src/, e.g. 'cli/worker.ts') compiled, with stack traces
 * pointing into src/. Throws when a file of src/ is newer than its output: a child never runs stale code.
 */
export function compiledEntry(source: string): string[] {
  if (!fresh) {
    const stale = start.plan(REPO_ROOT);
    if (stale.compile.length > 0 || stale.remove.length > 0) {
      throw new Error(
        `dist/ is older than src/ (${[...stale.compile, ...stale.remove].slice(0, 3).join(', ')}): ` +
          'run the tests with npm test, which compiles src/ first',
      );
    }
    fresh = true;
  }
  return ['--enable-source-maps', path.join(REPO_ROOT, 'dist', source.replace(/\.ts$/, '.js'))];
}

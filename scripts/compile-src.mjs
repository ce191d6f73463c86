// src/ compiled one file at a time into dist/ (TypeScript's transpileModule, no type check: the sources are
// checked by `npm run typecheck`), only the files newer than their output; outputs whose source is gone are
// removed. npm test runs it before the test files start, so that the tests that start the service or a worker
// as a child process run this checkout's code as plain JavaScript, without tsx (tests/helpers/compiled.ts).
// The project compiles with isolatedModules, which guarantees that one-file compilation gives what tsc gives.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The .ts files of `src` that must be compiled into `dist` (missing or older output), and the outputs of
 * `dist` whose source is gone. A tsconfig newer than dist/main.js means everything.
 */
export function plan(root = ROOT) {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  const main = path.join(dist, 'main.js');
  const configChanged =
    !existsSync(main) ||
    ['tsconfig.json', 'tsconfig.build.json'].some(
      (file) => existsSync(path.join(root, file)) && mtime(path.join(root, file)) > mtime(main),
    );
  const sources = new Set();
  const compile = [];
  for (const relative of readdirSync(src, { recursive: true })) {
    if (!relative.endsWith('.ts') || relative.endsWith('.d.ts')) continue;
    const output = relative.replace(/\.ts$/, '.js');
    sources.add(output);
    const target = path.join(dist, output);
    if (configChanged || !existsSync(target) || mtime(path.join(src, relative)) >= mtime(target)) {
      compile.push(relative);
    }
  }
  const remove = [];
  if (existsSync(dist)) {
    for (const relative of readdirSync(dist, { recursive: true })) {
      const output = relative.replace(/\.map$/, '');
      if (output.endsWith('.js') && !sources.has(output)) remove.push(relative);
    }
  }
  return { compile: compile.sort(), remove: remove.sort() };
}

/** Compiles the planned files into dist/ (with source maps pointing at src/) and removes the orphans. */
export function compile(root = ROOT, work = plan(root)) {
  if (work.compile.length === 0 && work.remove.length === 0) return work;
  const require = createRequire(path.join(root, 'package.json'));
  const ts = require('typescript');
  const { config, error } = ts.readConfigFile(path.join(root, 'tsconfig.build.json'), ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
  // NodeNext decides between ESM and CommonJS from package.json, which one-file compilation does not read:
  // this package is "type": "module", so every file is ESM.
  const compilerOptions = {
    ...options,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: true,
    inlineSourceMap: false,
    declaration: false,
  };
  for (const relative of work.compile) {
    const source = path.join(root, 'src', relative);
    const target = path.join(root, 'dist', relative.replace(/\.ts$/, '.js'));
    const result = ts.transpileModule(readFileSync(source, 'utf8'), {
      fileName: source,
      compilerOptions,
      reportDiagnostics: true,
    });
    const problems = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (problems.length > 0) {
      const text = problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n');
      throw new Error(`${path.relative(root, source)}: ${text}`);
    }
    const map = JSON.parse(result.sourceMapText ?? '{}');
    map.sources = [path.relative(path.dirname(target), source)];
    map.sourceRoot = '';
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(`${target}.map`, JSON.stringify(map));
    writeFileSync(target, result.outputText);
  }
  for (const relative of work.remove) rmSync(path.join(root, 'dist', relative), { force: true });
  return work;
}

function mtime(file) {
  return statSync(file).mtimeMs;
}

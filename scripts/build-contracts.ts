// `npm run contracts:build` writes the compiled artefacts; `npm run contracts:check` (`--check`) only compares.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  abiModulePath,
  artefactJsonPath,
  compareArtefacts,
  compileGliskS0,
  projectRoot,
  renderArtefacts,
  sourceName,
} from './contract-build.js';

const usage = `Usage: tsx scripts/build-contracts.ts [--check]

Compiles ${sourceName} offline with the solc npm package.
  (default)  write contracts/build/GliskS0.json and src/providers/chain/glisk-s0.abi.ts
  --check    recompile in memory; exit 1 when the committed files differ from the source
  --help     show this help`;

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const started = performance.now();
  console.log(`contracts: compiling ${sourceName} ...`);
  const compiled = compileGliskS0();
  const rendered = await renderArtefacts(compiled);
  const elapsed = Math.round(performance.now() - started);

  if (values.check) {
    const mismatches = compareArtefacts(rendered, {
      json: readIfPresent(artefactJsonPath),
      abiModule: readIfPresent(abiModulePath),
    });
    if (mismatches.length > 0) {
      for (const m of mismatches) console.error(`contracts: ${m.file} ${m.reason}`);
      console.error(
        'contracts: committed artefacts are stale; run `npm run contracts:build` and commit the result',
      );
      return 1;
    }
    console.log(`contracts: artefacts match the source (solc ${compiled.compilerVersion}, ${elapsed} ms)`);
    return 0;
  }

  mkdirSync(path.dirname(artefactJsonPath), { recursive: true });
  writeFileSync(artefactJsonPath, rendered.json);
  writeFileSync(abiModulePath, rendered.abiModule);
  for (const file of [artefactJsonPath, abiModulePath]) {
    console.log(`contracts: wrote ${path.relative(projectRoot, file)}`);
  }
  console.log(`contracts: built with solc ${compiled.compilerVersion} in ${elapsed} ms`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`contracts: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

// `npm run contracts:build` writes the compiled artefacts; `npm run contracts:check` (`--check`) only compares.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  compareArtefacts,
  compileContract,
  CONTRACTS,
  projectRoot,
  renderArtefacts,
  type CompiledContract,
  type ContractSpec,
  type RenderedArtefacts,
} from './contract-build.js';

const usage = `Usage: tsx scripts/build-contracts.ts [--check]

Compiles ${CONTRACTS.map((c) => c.sourceName).join(', ')} offline with the solc npm package.
  (default)  write contracts/build/<Name>.json and each contract's typed ABI module
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
  const built: Array<{ spec: ContractSpec; compiled: CompiledContract; rendered: RenderedArtefacts }> = [];
  for (const spec of CONTRACTS) {
    console.log(`contracts: compiling ${spec.contractName} (${spec.sourceName}) ...`);
    const compiled = compileContract(spec);
    built.push({ spec, compiled, rendered: await renderArtefacts(compiled, spec) });
  }
  const elapsed = Math.round(performance.now() - started);
  const version = built[0]?.compiled.compilerVersion ?? 'unknown';

  if (values.check) {
    const mismatches = built.flatMap(({ spec, rendered }) =>
      compareArtefacts(
        rendered,
        { json: readIfPresent(spec.artefactJsonPath), abiModule: readIfPresent(spec.abiModulePath) },
        spec,
      ),
    );
    if (mismatches.length > 0) {
      for (const m of mismatches) console.error(`contracts: ${m.file} ${m.reason}`);
      console.error(
        'contracts: committed artefacts are stale; run `npm run contracts:build` and commit the result',
      );
      return 1;
    }
    console.log(`contracts: artefacts match the sources (solc ${version}, ${elapsed} ms)`);
    return 0;
  }

  for (const { spec, rendered } of built) {
    for (const [file, text] of [
      [spec.artefactJsonPath, rendered.json],
      [spec.abiModulePath, rendered.abiModule],
    ] as const) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`contracts: wrote ${path.relative(projectRoot, file)}`);
    }
  }
  console.log(`contracts: built with solc ${version} in ${elapsed} ms`);
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

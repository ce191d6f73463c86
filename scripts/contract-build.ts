// Offline compilation of the GLISK test contract (and of the test-only contracts under contracts/test/) with the
// solc npm package, and the rendering of their committed artefacts (contracts/build/<Name>.json and a typed ABI
// module each, e.g. src/providers/chain/glisk-s0.abi.ts). `hardhat compile` would download a
// compiler, so it cannot run here; the pinned solc package carries its own wasm build.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import solc from 'solc';
import { z } from 'zod';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** One compiled contract and where its artefacts are committed. */
export interface ContractSpec {
  contractName: string;
  sourceName: string;
  artefactJsonPath: string;
  abiModulePath: string;
  /** Export names in the ABI module: `<prefix>Abi` and `<prefix>Bytecode`. */
  exportPrefix: string;
}

export const GLISK_S0: ContractSpec = {
  contractName: 'GliskS0',
  sourceName: 'contracts/GliskS0.sol',
  artefactJsonPath: path.join(projectRoot, 'contracts/build/GliskS0.json'),
  abiModulePath: path.join(projectRoot, 'src/providers/chain/glisk-s0.abi.ts'),
  exportPrefix: 'gliskS0',
};

/** Contracts only tests deploy: a contract wallet (ERC-1271/6492) and the part of Farcaster's IdRegistry we read. */
export const TEST_CONTRACTS: readonly ContractSpec[] = [
  {
    contractName: 'TestSmartWalletFactory',
    sourceName: 'contracts/test/TestSmartWallet.sol',
    artefactJsonPath: path.join(projectRoot, 'contracts/build/TestSmartWalletFactory.json'),
    abiModulePath: path.join(projectRoot, 'tests/helpers/contracts/test-smart-wallet-factory.abi.ts'),
    exportPrefix: 'testSmartWalletFactory',
  },
  {
    contractName: 'IdRegistry',
    sourceName: 'contracts/test/IdRegistry.sol',
    artefactJsonPath: path.join(projectRoot, 'contracts/build/IdRegistry.json'),
    abiModulePath: path.join(projectRoot, 'tests/helpers/contracts/id-registry.abi.ts'),
    exportPrefix: 'idRegistry',
  },
];

export const CONTRACTS: readonly ContractSpec[] = [GLISK_S0, ...TEST_CONTRACTS];

export const contractName = GLISK_S0.contractName;
export const sourceName = GLISK_S0.sourceName;
export const artefactJsonPath = GLISK_S0.artefactJsonPath;
export const abiModulePath = GLISK_S0.abiModulePath;

// Pinned explicitly: solc 0.8.30 defaults to prague, and the local hardhat node runs cancun (as does Base for the
// opcodes this contract uses); both sides name the same fork so bytecode and node always agree.
export const compilerSettings = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const;

interface SolcCompiler {
  version(): string;
  compile(
    input: string,
    callbacks: { import: (importPath: string) => { contents: string } | { error: string } },
  ): string;
}
const compiler = solc as SolcCompiler;

const solcOutputSchema = z.object({
  errors: z
    .array(z.object({ severity: z.string(), formattedMessage: z.string() }))
    .optional()
    .default([]),
  contracts: z
    .record(
      z.string(),
      z.record(
        z.string(),
        z.object({
          abi: z.array(z.record(z.string(), z.unknown())),
          evm: z.object({
            bytecode: z.object({ object: z.string() }),
            deployedBytecode: z.object({ object: z.string() }),
          }),
        }),
      ),
    )
    .optional()
    .default({}),
});

export interface CompiledContract {
  compilerVersion: string;
  abi: Record<string, unknown>[];
  bytecode: `0x${string}`;
  deployedBytecode: `0x${string}`;
  /** sha256 of every source the compiler read, keyed by its import name, so a changed dependency shows too. */
  sources: Record<string, { sha256: string }>;
}

export class ContractCompileError extends Error {
  override name = 'ContractCompileError';
}

const requireFromRoot = createRequire(path.join(projectRoot, 'package.json'));

/**
 * Resolves `@openzeppelin/...` (and any other package import) from node_modules, never from the network; a
 * relative import inside contracts/ from the project.
 */
function readImport(importPath: string): { contents: string } | { error: string } {
  try {
    const file = importPath.startsWith('contracts/')
      ? path.join(projectRoot, importPath)
      : requireFromRoot.resolve(importPath);
    return { contents: readFileSync(file, 'utf8') };
  } catch (error) {
    return {
      error: `cannot resolve import ${importPath}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Compiles the given GliskS0 source (the file's text unless told otherwise) in memory. */
export function compileGliskS0(source?: string): CompiledContract {
  return compileContract(GLISK_S0, source);
}

/** Compiles one contract of a source (the file's text unless told otherwise) in memory. */
export function compileContract(
  spec: ContractSpec,
  source: string = readFileSync(path.join(projectRoot, spec.sourceName), 'utf8'),
): CompiledContract {
  const { sourceName, contractName } = spec;
  const sources: Record<string, { sha256: string }> = { [sourceName]: { sha256: sha256(source) } };
  const input = {
    language: 'Solidity',
    sources: { [sourceName]: { content: source } },
    settings: compilerSettings,
  };
  const raw = compiler.compile(JSON.stringify(input), {
    import: (importPath) => {
      const result = readImport(importPath);
      if ('contents' in result) sources[importPath] = { sha256: sha256(result.contents) };
      return result;
    },
  });
  const output = solcOutputSchema.parse(JSON.parse(raw));
  const errors = output.errors.filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new ContractCompileError(errors.map((e) => e.formattedMessage).join('\n'));
  }
  const contract = output.contracts[sourceName]?.[contractName];
  if (contract === undefined) {
    throw new ContractCompileError(`solc produced no contract ${contractName} in ${sourceName}`);
  }
  const sortedSources = Object.fromEntries(Object.entries(sources).sort(([a], [b]) => a.localeCompare(b)));
  return {
    compilerVersion: compiler.version(),
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    sources: sortedSources,
  };
}

export interface RenderedArtefacts {
  json: string;
  abiModule: string;
}

/** The exact text of both committed files; `contracts:check` compares these strings byte for byte. */
export async function renderArtefacts(
  compiled: CompiledContract,
  spec: ContractSpec = GLISK_S0,
): Promise<RenderedArtefacts> {
  const { contractName, sourceName, abiModulePath, exportPrefix } = spec;
  const artefact = {
    contractName,
    sourceName,
    compiler: { name: 'solc', version: compiled.compilerVersion },
    settings: compilerSettings,
    sources: compiled.sources,
    abi: compiled.abi,
    bytecode: compiled.bytecode,
    deployedBytecode: compiled.deployedBytecode,
  };
  const moduleText = [
    `// Generated by \`npm run contracts:build\` from ${sourceName} (solc ${compiled.compilerVersion}); do not edit.`,
    `// \`as const\` lets viem infer function names, arguments, events and errors from the ABI.`,
    `export const ${exportPrefix}Abi = ${JSON.stringify(compiled.abi)} as const;`,
    `export const ${exportPrefix}Bytecode = '${compiled.bytecode}' as const;`,
    '',
  ].join('\n');
  const prettierOptions = (await prettier.resolveConfig(abiModulePath)) ?? {};
  const abiModule = await prettier.format(moduleText, { ...prettierOptions, filepath: abiModulePath });
  return { json: `${JSON.stringify(artefact, null, 2)}\n`, abiModule };
}

export interface ArtefactMismatch {
  file: string;
  reason: string;
}

/** Lists each committed file that differs from what the source compiles to (empty when all match). */
export function compareArtefacts(
  expected: RenderedArtefacts,
  committed: { json: string | undefined; abiModule: string | undefined },
  spec: ContractSpec = GLISK_S0,
): ArtefactMismatch[] {
  const { artefactJsonPath, abiModulePath } = spec;
  const mismatches: ArtefactMismatch[] = [];
  const pairs = [
    { file: path.relative(projectRoot, artefactJsonPath), want: expected.json, have: committed.json },
    { file: path.relative(projectRoot, abiModulePath), want: expected.abiModule, have: committed.abiModule },
  ];
  for (const { file, want, have } of pairs) {
    if (have === undefined) mismatches.push({ file, reason: 'missing' });
    else if (have !== want) mismatches.push({ file, reason: describeDifference(want, have) });
  }
  return mismatches;
}

function describeDifference(want: string, have: string): string {
  const wantLines = want.split('\n');
  const haveLines = have.split('\n');
  const line = wantLines.findIndex((text, i) => text !== haveLines[i]);
  const at = line === -1 ? wantLines.length : line;
  return `differs from the compiled source at line ${at + 1}`;
}

// The committed contract artefacts are checked against the source, and the check does fail on a changed source.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import {
  abiModulePath,
  artefactJsonPath,
  compareArtefacts,
  compileGliskS0,
  ContractCompileError,
  projectRoot,
  renderArtefacts,
  sourceName,
  type RenderedArtefacts,
} from '../../scripts/contract-build.js';
import { gliskS0Abi, gliskS0Bytecode } from '../../src/providers/chain/glisk-s0.abi.js';

const source = readFileSync(path.join(projectRoot, sourceName), 'utf8');
const committed = {
  json: readFileSync(artefactJsonPath, 'utf8'),
  abiModule: readFileSync(abiModulePath, 'utf8'),
};
let fromSource: RenderedArtefacts;

before(async () => {
  fromSource = await renderArtefacts(compileGliskS0(source));
});

describe('contracts:check comparison', () => {
  it('the committed artefacts match what the source compiles to', () => {
    assert.deepEqual(compareArtefacts(fromSource, committed), []);
  });

  it('a changed constant in the source makes both files stale', async () => {
    const changed = source.replace('MAX_BATCH_SIZE = 50;', 'MAX_BATCH_SIZE = 51;');
    assert.notEqual(changed, source, 'the edit applies');
    const mismatches = compareArtefacts(await renderArtefacts(compileGliskS0(changed)), committed);
    assert.deepEqual(
      mismatches.map((m) => m.file),
      ['contracts/build/GliskS0.json', 'src/providers/chain/glisk-s0.abi.ts'],
    );
  });

  it('a hand edit of a committed file is caught, and a missing file is named', () => {
    const edited = { ...committed, abiModule: committed.abiModule.replace("'mint'", "'mintX'") };
    assert.notEqual(edited.abiModule, committed.abiModule);
    const mismatches = compareArtefacts(fromSource, edited);
    assert.equal(mismatches.length, 1);
    assert.equal(mismatches[0]?.file, 'src/providers/chain/glisk-s0.abi.ts');
    assert.match(mismatches[0]?.reason ?? '', /^differs from the compiled source at line \d+$/);
    assert.deepEqual(compareArtefacts(fromSource, { ...committed, json: undefined }), [
      { file: 'contracts/build/GliskS0.json', reason: 'missing' },
    ]);
  });

  it('a source that does not compile raises ContractCompileError with solc’s message', () => {
    assert.throws(
      () => compileGliskS0(source.replace('uint256 public mintPrice;', 'uint256 public mintPrice')),
      (error: unknown) => error instanceof ContractCompileError && /ParserError/.test(error.message),
    );
  });
});

describe('committed artefacts', () => {
  it('the typed ABI module and the JSON artefact carry the same ABI and bytecode', () => {
    const artefact = JSON.parse(committed.json) as {
      abi: unknown;
      bytecode: string;
      compiler: { version: string };
      settings: { evmVersion: string };
    };
    assert.deepEqual(artefact.abi, gliskS0Abi);
    assert.equal(artefact.bytecode, gliskS0Bytecode);
    assert.match(artefact.compiler.version, /^0\.8\.30\+/);
    assert.equal(artefact.settings.evmVersion, 'cancun');
  });
});

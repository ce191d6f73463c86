// computeCid's one-block shortcuts give exactly what ipfs-unixfs-importer (the reference, laid out as `ipfs add
// --cid-version=1` for raw leaves and `--cid-version=0` for dag-pb) gives, at every size around the chunk
// boundary; larger files still go through the importer. Fixture CIDs computed by Kubo are checked in tests/providers/ipfs-providers.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { importer } from 'ipfs-unixfs-importer';
import { computeCid, toCidV0, type CidLayout } from '../../src/lib/cid.js';

/** The importer's CID (canonical CIDv1 form) laid out as `ipfs add --cid-version=1` or `--cid-version=0`. */
async function importerCid(bytes: Uint8Array, layout: CidLayout): Promise<string> {
  const options =
    layout === 'raw-leaves'
      ? { cidVersion: 1 as const, rawLeaves: true }
      : { cidVersion: 0 as const, rawLeaves: false };
  let cid = '';
  for await (const entry of importer([{ content: bytes }], new MemoryBlockstore(), options))
    cid = entry.cid.toV1().toString();
  return cid;
}

function bytesOf(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) bytes[i] = (i * 7919 + (i >> 8)) & 0xff;
  return bytes;
}

describe('computeCid', () => {
  for (const size of [0, 1, 1000, 262_143, 262_144, 262_145, 600_000]) {
    it(`raw-leaves: equals the importer's CID for ${size} bytes`, async () => {
      const bytes = bytesOf(size);
      const cid = await computeCid(bytes, 'raw-leaves');
      assert.equal(cid, await importerCid(bytes, 'raw-leaves'));
      // One block up to the chunk size (a raw CID, bafk...), a dag-pb root of raw leaves beyond it (bafy...).
      if (size > 0) assert.equal(cid.startsWith('bafk'), size <= 262_144, cid);
    });
    it(`dag-pb: equals the importer's CID for ${size} bytes, with a CIDv0 form`, async () => {
      const bytes = bytesOf(size);
      const cid = await computeCid(bytes, 'dag-pb');
      assert.equal(cid, await importerCid(bytes, 'dag-pb'));
      assert.match(toCidV0(cid), /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
    });
  }
});

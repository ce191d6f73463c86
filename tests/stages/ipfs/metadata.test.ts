// The metadata document of domain.md section 6, byte for byte: key order, attributes only for set handles,
// image = ipfs://<image cid>, no prompt.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMetadata, serializeMetadata } from '../../../src/stages/ipfs/metadata.js';

const IMAGE_CID = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4';
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('metadata document', () => {
  it('no handle: an empty attributes array', () => {
    const bytes = serializeMetadata(
      buildMetadata({ tokenId: 42, imageCid: IMAGE_CID, twitterHandle: null, farcasterHandle: null }),
    );
    assert.equal(
      text(bytes),
      '{"name":"GLISK S0 #42","description":"GLISK Season 0. https://x.com/getglisk",' +
        `"image":"ipfs://${IMAGE_CID}","attributes":[]}`,
    );
  });

  it('one handle: only its attribute (X alone, Farcaster alone)', () => {
    assert.equal(
      text(
        serializeMetadata(
          buildMetadata({
            tokenId: 7,
            imageCid: IMAGE_CID,
            twitterHandle: 'alice_01',
            farcasterHandle: null,
          }),
        ),
      ),
      '{"name":"GLISK S0 #7","description":"GLISK Season 0. https://x.com/getglisk",' +
        `"image":"ipfs://${IMAGE_CID}","attributes":[{"trait_type":"Author X Handle","value":"@alice_01"}]}`,
    );
    assert.equal(
      text(
        serializeMetadata(
          buildMetadata({ tokenId: 7, imageCid: IMAGE_CID, twitterHandle: '', farcasterHandle: 'bob.eth' }),
        ),
      ),
      '{"name":"GLISK S0 #7","description":"GLISK Season 0. https://x.com/getglisk",' +
        `"image":"ipfs://${IMAGE_CID}","attributes":[{"trait_type":"Author Farcaster Handle","value":"@bob.eth"}]}`,
    );
  });

  it('two handles: X first, then Farcaster', () => {
    const bytes = serializeMetadata(
      buildMetadata({ tokenId: 1, imageCid: IMAGE_CID, twitterHandle: 'alice', farcasterHandle: 'alice' }),
    );
    assert.equal(
      text(bytes),
      '{"name":"GLISK S0 #1","description":"GLISK Season 0. https://x.com/getglisk",' +
        `"image":"ipfs://${IMAGE_CID}","attributes":[` +
        '{"trait_type":"Author X Handle","value":"@alice"},' +
        '{"trait_type":"Author Farcaster Handle","value":"@alice"}]}',
    );
  });
});

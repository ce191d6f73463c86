// The ERC-721 metadata document of a token, exactly as domain.md section 6 writes it: keys in the order name,
// description, image, attributes; one attribute per handle the author has set; the image as ipfs://<cid>;
// never the prompt. Serialized once (serializeMetadata) and those bytes are what is hashed, stored and pinned.

export const METADATA_DESCRIPTION = 'GLISK Season 0. https://x.com/getglisk';
export const METADATA_MEDIA_TYPE = 'application/json';

export type MetadataAttribute = {
  trait_type: 'Author X Handle' | 'Author Farcaster Handle';
  value: string;
};

export type TokenMetadata = {
  name: string;
  description: string;
  image: string;
  attributes: MetadataAttribute[];
};

export type MetadataInput = {
  tokenId: number;
  /** The image's CID as pinned (the provider's when it differs from ours). */
  imageCid: string;
  /** Without the leading @, as stored on the author; null or empty when unset. */
  twitterHandle: string | null;
  farcasterHandle: string | null;
};

export function buildMetadata(input: MetadataInput): TokenMetadata {
  const attributes: MetadataAttribute[] = [];
  if (input.twitterHandle)
    attributes.push({ trait_type: 'Author X Handle', value: `@${input.twitterHandle}` });
  if (input.farcasterHandle) {
    attributes.push({ trait_type: 'Author Farcaster Handle', value: `@${input.farcasterHandle}` });
  }
  // Literal in this order: JSON.stringify keeps insertion order, which is the documented key order.
  return {
    name: `GLISK S0 #${input.tokenId}`,
    description: METADATA_DESCRIPTION,
    image: `ipfs://${input.imageCid}`,
    attributes,
  };
}

/** The document's bytes: compact JSON, UTF-8, no trailing newline. Hash and pin these, never re-serialize. */
export function serializeMetadata(metadata: TokenMetadata): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(metadata));
}

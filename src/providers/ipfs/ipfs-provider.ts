// What the IPFS stage needs from a pinning service: pin these exact bytes as one UnixFS file, answer its CID.
// Three implementations, chosen by IPFS_PROVIDER in createIpfsProvider (./index.ts): local (the content store in
// PostgreSQL is the pin), kubo (a self-hosted node's RPC API) and pinata (its pinning API).
import type { IpfsProviderName } from '../../config.js';
import type { CidLayout } from '../../lib/cid.js';

export type { IpfsProviderName };

/** One file to pin: the bytes exactly as they must be served, with the CID computed here from them. */
export type IpfsFile = {
  bytes: Uint8Array;
  mediaType: string;
  /** `s0-token-<id>.<ext>` or `s0-token-<id>-metadata.json`. */
  fileName: string;
  /** raw-leaves = `ipfs add --cid-version=1` (images), dag-pb = `--cid-version=0` (metadata). */
  layout: CidLayout;
  /** computeCid(bytes, layout), canonical form: what the provider should answer. */
  cid: string;
  /** The on-chain token id, for the provider's own bookkeeping (Pinata keyvalues). */
  tokenId: number;
  /**
   * true when the content store holds these bytes under `cid` (the caller read the row in this attempt) or the
   * caller writes them in the same statement as this pin's record (both or neither): the local provider, whose
   * pin is that row, then has nothing to look up.
   */
  inStore?: boolean;
};

export type PinResult = {
  /** The CID the provider answered, in canonical form (it may differ from IpfsFile.cid: the caller decides). */
  cid: string;
};

export interface IpfsProvider {
  readonly name: IpfsProviderName;
  /** true when the pin lives outside PostgreSQL, so that stored bytes may be dropped after the reveal. */
  readonly remote: boolean;
  /** Pins the file; throws IpfsProviderError (transient or not) on failure. Honours `signal`. */
  pin(file: IpfsFile, signal?: AbortSignal): Promise<PinResult>;
}

/** `s0-token-<id>.<ext>` for an image of this media type. */
export function imageFileName(tokenId: number, mediaType: string): string {
  return `s0-token-${tokenId}.${extensionOf(mediaType)}`;
}

export function metadataFileName(tokenId: number): string {
  return `s0-token-${tokenId}-metadata.json`;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/svg+xml': 'svg',
  'application/json': 'json',
};

function extensionOf(mediaType: string): string {
  const base = mediaType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return EXTENSIONS[base] ?? 'bin';
}

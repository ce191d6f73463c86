// Pinata through its documented pinning API (domain.md section 6): POST /pinning/pinFileToIPFS, multipart
// `file` + `pinataOptions` {cidVersion} + `pinataMetadata` {name, keyvalues}, Bearer PINATA_JWT, CID in `IpfsHash`.
//
// Not the `pinata` npm SDK (2.5.6): it can be pointed at a fake (uploadUrl), but it talks to the v3 upload API
// with the global fetch, takes no AbortSignal (a hung upload cannot be timed out) and turns every non-2xx into
// an error without the response headers, so a 429's Retry-After is lost. Both are requirements here.
//
// Every request first takes a slot of a rate limiter shared by all workers through PostgreSQL
// (PINATA_MAX_REQUESTS_PER_MINUTE); a 429 pushes that limiter back by its Retry-After for everyone.
import { isCid, toCanonicalCid } from '../../lib/cid.js';
import type { RateLimiter } from '../rate-limiter.js';
import { filePart, missingCid, postUpload } from './http-upload.js';
import { IpfsProviderError } from '../../errors.js';
import type { IpfsFile, IpfsProvider, PinResult } from './ipfs-provider.js';

export type PinataOptions = {
  /** https://api.pinata.cloud (PINATA_API_URL). */
  apiUrl: string;
  jwt: string;
  timeoutMs: number;
  limiter: RateLimiter;
  /** The season written in the pins' keyvalues. */
  season?: string;
};

export function createPinataProvider(options: PinataOptions): IpfsProvider {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/pinning/pinFileToIPFS`;
  const season = options.season ?? '0';
  return {
    name: 'pinata',
    remote: true,
    async pin(file: IpfsFile, signal?: AbortSignal): Promise<PinResult> {
      const form = new FormData();
      form.append('file', filePart(file), file.fileName);
      form.append('pinataOptions', JSON.stringify({ cidVersion: file.layout === 'raw-leaves' ? 1 : 0 }));
      form.append(
        'pinataMetadata',
        JSON.stringify({ name: file.fileName, keyvalues: { season, token_id: String(file.tokenId) } }),
      );
      await options.limiter.acquire(signal);
      let text: string;
      try {
        ({ text } = await postUpload({
          provider: 'pinata',
          url,
          headers: { Authorization: `Bearer ${options.jwt}` },
          body: form,
          timeoutMs: options.timeoutMs,
          signal,
        }));
      } catch (error) {
        if (error instanceof IpfsProviderError && error.code === 'IPFS_RATE_LIMITED') {
          await options.limiter.pauseFor(error.retryAfterMs ?? options.limiter.intervalMs);
        }
        throw error;
      }
      return { cid: ipfsHashOf(text) };
    },
  };
}

function ipfsHashOf(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw missingCid('pinata', text);
  }
  const hash =
    typeof parsed === 'object' && parsed !== null && 'IpfsHash' in parsed ? parsed.IpfsHash : undefined;
  if (typeof hash !== 'string' || !isCid(hash)) throw missingCid('pinata', text);
  return toCanonicalCid(hash);
}

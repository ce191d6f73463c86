// A self-hosted Kubo node through its RPC API: POST /api/v0/add (multipart, one file part), pinned on add.
// Images go in as `--cid-version=1` (raw leaves), metadata as `--cid-version=0` (dag-pb leaves), so that the
// node computes the same CIDs as src/lib/cid.ts.
import { isCid, toCanonicalCid } from '../../lib/cid.js';
import { filePart, missingCid, postUpload } from './http-upload.js';
import type { IpfsFile, IpfsProvider, PinResult } from './ipfs-provider.js';

export type KuboOptions = {
  /** The node's RPC address, e.g. http://127.0.0.1:5001 (KUBO_API_URL). */
  apiUrl: string;
  timeoutMs: number;
};

export function createKuboProvider(options: KuboOptions): IpfsProvider {
  const base = options.apiUrl.replace(/\/+$/, '');
  return {
    name: 'kubo',
    remote: true,
    async pin(file: IpfsFile, signal?: AbortSignal): Promise<PinResult> {
      const rawLeaves = file.layout === 'raw-leaves';
      const query = new URLSearchParams({
        'cid-version': rawLeaves ? '1' : '0',
        'raw-leaves': String(rawLeaves),
        pin: 'true',
        // Only the final line (the file's root): one JSON object, not a progress stream.
        quieter: 'true',
      });
      const form = new FormData();
      form.append('file', filePart(file), file.fileName);
      const answer = await postUpload({
        provider: 'kubo',
        url: `${base}/api/v0/add?${query.toString()}`,
        body: form,
        timeoutMs: options.timeoutMs,
        signal,
      });
      return { cid: hashOfAddAnswer(answer.text) };
    },
  };
}

/** The root CID of an /api/v0/add answer: newline-delimited JSON objects, the file's own `Hash` last. */
function hashOfAddAnswer(text: string): string {
  let hash: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw missingCid('kubo', text);
    }
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'Hash' in parsed &&
      typeof parsed.Hash === 'string'
    ) {
      hash = parsed.Hash;
    }
  }
  if (hash === undefined || !isCid(hash)) throw missingCid('kubo', text);
  return toCanonicalCid(hash);
}

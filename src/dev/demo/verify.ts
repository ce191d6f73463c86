// What `npm run demo` checks once every token is revealed, for every token id: isRevealed on chain; tokenURI is
// ipfs:// + the metadata CID in its v0 form; the metadata served by the service at /ipfs/{cid} hashes to that
// CID and points at the token's image CID; the image bytes served there hash to the image CID.
import type { Address, PublicClient } from 'viem';
import type { Database } from '../../db/client.js';
import { DemoFailure } from '../../errors.js';
import { computeCid, toCanonicalCid, toCidV0 } from '../../lib/cid.js';
import { gliskS0Abi } from '../../providers/chain/glisk-s0.abi.js';
import { mapAll } from '../../lib/bounded-concurrency.js';

type TokenRow = { token_id: number; image_cid: string | null; metadata_cid: string | null };

export type VerifyTarget = {
  client: PublicClient;
  contract: Address;
  serviceUrl: string;
  database: Database;
};

/** The problems found, one line each; empty when every check holds for all `total` tokens. */
export async function verifyTokens(target: VerifyTarget, total: number): Promise<string[]> {
  const rows = await target.database.sql<TokenRow[]>`
    select token_id, image_cid, metadata_cid from tokens_s0 order by token_id`;
  const problems: string[] = [];
  if (rows.length !== total) problems.push(`${rows.length} tokens recorded, ${total} minted`);
  const results = await mapAll(rows, 16, (row) => verifyToken(target, row));
  for (const problem of results) if (problem !== undefined) problems.push(problem);
  return problems;
}

async function verifyToken(target: VerifyTarget, row: TokenRow): Promise<string | undefined> {
  const { client, contract, serviceUrl } = target;
  const id = BigInt(row.token_id);
  const at = `token ${row.token_id}`;
  const [revealed, uri] = await Promise.all([
    client.readContract({ address: contract, abi: gliskS0Abi, functionName: 'isRevealed', args: [id] }),
    client.readContract({ address: contract, abi: gliskS0Abi, functionName: 'tokenURI', args: [id] }),
  ]);
  if (!revealed) return `${at}: isRevealed is false`;
  if (row.metadata_cid === null || row.image_cid === null) return `${at}: no CIDs recorded`;
  const expectedUri = `ipfs://${toCidV0(row.metadata_cid)}`;
  if (uri !== expectedUri) return `${at}: tokenURI is ${uri}, expected ${expectedUri}`;

  const metadataBytes = await fetchBytes(serviceUrl, toCidV0(row.metadata_cid));
  if ((await computeCid(metadataBytes, 'dag-pb')) !== toCanonicalCid(row.metadata_cid)) {
    return `${at}: the metadata bytes served do not hash to ${row.metadata_cid}`;
  }
  const metadata = JSON.parse(Buffer.from(metadataBytes).toString('utf8')) as { image?: unknown };
  if (typeof metadata.image !== 'string' || !metadata.image.startsWith('ipfs://')) {
    return `${at}: the metadata's image is ${String(metadata.image)}`;
  }
  const imageCid = metadata.image.slice('ipfs://'.length);
  if (toCanonicalCid(imageCid) !== toCanonicalCid(row.image_cid)) {
    return `${at}: the metadata points at ${imageCid}, the token's image is ${row.image_cid}`;
  }
  const imageBytes = await fetchBytes(serviceUrl, imageCid);
  if ((await computeCid(imageBytes, 'raw-leaves')) !== toCanonicalCid(imageCid)) {
    return `${at}: the image bytes served do not hash to ${imageCid}`;
  }
  return undefined;
}

async function fetchBytes(serviceUrl: string, cid: string): Promise<Uint8Array> {
  const answer = await fetch(`${serviceUrl}/ipfs/${cid}`);
  if (!answer.ok) throw new DemoFailure(`GET /ipfs/${cid} answered ${answer.status}`);
  return new Uint8Array(await answer.arrayBuffer());
}

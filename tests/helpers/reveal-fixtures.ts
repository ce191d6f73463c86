// Tokens ready for the reveal: minted on the local chain (50 per mint at most) and recorded `ready` with a
// metadata CID, as the IPFS stage leaves them.
import assert from 'node:assert/strict';
import type { Executor } from '../../src/db/client.js';
import { computeCid } from '../../src/lib/cid.js';
import * as tokensRepository from '../../src/repositories/tokens.repository.js';
import type { TestChain } from './chain.js';
import { insertAuthor } from './db-fixtures.js';

/** The metadata CID a test gives token `tokenId` unless it brings its own. */
export function metadataCidFor(tokenId: number): Promise<string> {
  return computeCid(new TextEncoder().encode(`metadata ${tokenId}`), 'dag-pb');
}

/** Mints `count` tokens and records them `ready`; their on-chain ids, ascending. */
export async function mintReadyTokens(
  chain: TestChain,
  db: Executor,
  count: number,
  cidFor: (tokenId: number) => Promise<string> = metadataCidFor,
): Promise<number[]> {
  const minter = chain.accounts.minters[0];
  assert.ok(minter);
  const ids: number[] = [];
  for (let left = count; left > 0; left -= 50) {
    const minted = await chain.mint({ from: minter, author: minter.address, quantity: Math.min(50, left) });
    ids.push(...minted.tokenIds.map(Number));
  }
  const author = await insertAuthor(db, ids[0] ?? 1);
  const cids = await Promise.all(ids.map(cidFor));
  await tokensRepository.addMany(
    db,
    ids.map((tokenId, i) => ({
      tokenId,
      authorId: author.id,
      minterAddress: author.walletAddress,
      mintTimestamp: new Date(),
      status: 'ready' as const,
      imageCid: cids[i],
      metadataCid: cids[i],
      readyAt: new Date(),
    })),
  );
  return ids;
}

// The demo's mints: sizes over several batches, minters and authors (some with a prompt and handles, some
// without), each mint sent from a dev account on the local chain and its BatchMinted log posted to the
// service's webhook, signed as Alchemy signs.
import { getAddress, parseEventLogs, type Address, type PublicClient, type TransactionReceipt } from 'viem';
import type { Database } from '../../db/client.js';
import { DemoFailure } from '../../errors.js';
import { createChainWalletClient, chainForId } from '../../providers/chain/client.js';
import { gliskS0Abi } from '../../providers/chain/glisk-s0.abi.js';
import * as authors from '../../repositories/authors.repository.js';
import { ALCHEMY_SIGNATURE_HEADER, signAlchemyBody } from '../../stages/detection/alchemy-signature.js';
import type { DevAccount, GliskDeployment } from '../local-chain.js';

/**
 * Mint sizes adding up to `total`: mixed batches, the last one a single token (minted once everything else is
 * revealed, so that it is revealed in a batch of its own).
 */
export function mintPlan(total: number): number[] {
  if (total === 1) return [1];
  const pattern = [50, 17, 33, 50, 8, 42, 25, 50, 3, 49];
  const sizes: number[] = [];
  let left = total - 1;
  for (let i = 0; left > 0; i += 1) {
    const size = Math.min(left, pattern[i % pattern.length] ?? 50);
    sizes.push(size);
    left -= size;
  }
  return [...sizes, 1];
}

/** Every second author gets a prompt and both handles; the others keep the default prompt and no handle. */
export async function createAuthors(database: Database, wallets: readonly Address[]): Promise<number> {
  let withPrompt = 0;
  for (const [i, wallet] of wallets.entries()) {
    if (i % 2 === 1) continue;
    const author = await authors.upsertPrompt(
      database.db,
      getAddress(wallet),
      `A luminous glass city at dawn, variation ${i}`,
    );
    await authors.setHandle(database.db, author.id, { twitterHandle: `glisk_author_${i}` });
    await authors.setHandle(database.db, author.id, { farcasterHandle: `glisk-author-${i}` });
    withPrompt += 1;
  }
  return withPrompt;
}

export type MintContext = {
  client: PublicClient;
  rpcUrl: string;
  chainId: number;
  deployment: GliskDeployment;
  serviceUrl: string;
  webhookSecret: string;
};

/** Mints `size` tokens from `minter` for `author` and waits for the receipt (the demo, bench:pipeline). */
export async function mintOnChain(
  context: Pick<MintContext, 'client' | 'rpcUrl' | 'chainId' | 'deployment'>,
  minter: DevAccount,
  author: Address,
  size: number,
): Promise<TransactionReceipt> {
  const { client, deployment } = context;
  const wallet = createChainWalletClient({
    rpcUrl: context.rpcUrl,
    chain: chainForId(context.chainId),
    privateKey: minter.privateKey,
    pollingIntervalMs: 20,
  });
  const hash = await wallet.writeContract({
    address: deployment.contractAddress,
    abi: gliskS0Abi,
    functionName: 'mint',
    args: [author, BigInt(size)],
    value: deployment.mintPrice * BigInt(size),
  });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  const [event] = parseEventLogs({ abi: gliskS0Abi, eventName: 'BatchMinted', logs: receipt.logs });
  if (receipt.status !== 'success' || event === undefined) throw new DemoFailure(`mint ${hash} failed`);
  return receipt;
}

/** Mints `size` tokens from `minter` for `author`, waits for the receipt and posts its log to the webhook. */
export async function mintAndNotify(
  context: MintContext,
  minter: DevAccount,
  author: Address,
  size: number,
): Promise<void> {
  const receipt = await mintOnChain(context, minter, author, size);
  const block = await context.client.getBlock({ blockNumber: receipt.blockNumber });
  await postWebhook(context, receipt, block.timestamp);
}

/** The receipt's logs of the contract as one Alchemy custom-webhook delivery (domain.md section 4). */
async function postWebhook(
  context: MintContext,
  receipt: TransactionReceipt,
  blockTimestamp: bigint,
): Promise<void> {
  const contract = context.deployment.contractAddress.toLowerCase();
  const logs = receipt.logs
    .filter((log) => log.address.toLowerCase() === contract)
    .map((log) => ({
      account: { address: log.address },
      topics: log.topics,
      data: log.data,
      index: log.logIndex,
      transaction: { hash: log.transactionHash, status: 1 },
    }));
  const body = JSON.stringify({
    webhookId: 'wh_demo',
    id: `whevt_demo_${receipt.transactionHash}`,
    createdAt: new Date(Number(blockTimestamp) * 1000).toISOString(),
    type: 'GRAPHQL',
    event: {
      data: { block: { number: Number(receipt.blockNumber), timestamp: Number(blockTimestamp), logs } },
    },
  });
  const answer = await fetch(`${context.serviceUrl}/webhooks/alchemy`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [ALCHEMY_SIGNATURE_HEADER]: signAlchemyBody(body, context.webhookSecret),
    },
    body,
  });
  if (!answer.ok) throw new DemoFailure(`the webhook answered ${answer.status}: ${await answer.text()}`);
}

// Builds Alchemy custom-webhook deliveries (domain.md section 4) from BatchMinted logs, real or made up, and signs
// them the way Alchemy does.
import { encodeAbiParameters, encodeEventTopics, type Address, type Hex } from 'viem';
import { gliskS0Abi } from '../../src/chain/glisk-s0.abi.js';
import { signAlchemyBody } from '../../src/detection/alchemy-signature.js';

export type PayloadLog = {
  account: { address: string };
  topics: string[];
  data: string;
  index: number;
  removed?: boolean;
  transaction: { hash: string; status: number };
};

export type PayloadBlock = { number: number; timestamp: number; logs: PayloadLog[] };

export function alchemyPayload(block: PayloadBlock): Record<string, unknown> {
  return {
    webhookId: 'wh_test',
    id: `whevt_${block.number}`,
    createdAt: new Date(block.timestamp * 1000).toISOString(),
    type: 'GRAPHQL',
    event: { data: { block } },
  };
}

export type BatchMintedLogInput = {
  contract: Address;
  minter: Address;
  author: Address;
  startTokenId: bigint;
  quantity: bigint;
  totalPaid?: bigint;
  txHash: Hex;
  index: number;
  status?: number;
  removed?: boolean;
};

/** A BatchMinted log encoded with viem from the ABI, as a node would return it. */
export function batchMintedLog(input: BatchMintedLogInput): PayloadLog {
  const topics = encodeEventTopics({
    abi: gliskS0Abi,
    eventName: 'BatchMinted',
    args: { minter: input.minter, promptAuthor: input.author, startTokenId: input.startTokenId },
  });
  const data = encodeAbiParameters(
    [{ type: 'uint256' }, { type: 'uint256' }],
    [input.quantity, input.totalPaid ?? 0n],
  );
  return {
    account: { address: input.contract },
    topics: topics.filter((t): t is Hex => typeof t === 'string'),
    data,
    index: input.index,
    ...(input.removed === undefined ? {} : { removed: input.removed }),
    transaction: { hash: input.txHash, status: input.status ?? 1 },
  };
}

export function signedHeaders(body: string, secret: string): Record<string, string> {
  return { 'content-type': 'application/json', 'x-alchemy-signature': signAlchemyBody(body, secret) };
}

/** POSTs `body` to the webhook, signed with `secret` unless headers say otherwise. */
export async function postWebhook(
  baseUrl: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${baseUrl}/webhooks/alchemy`, { method: 'POST', body, headers });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // Leave the text: a non-JSON answer is itself what a test may want to see.
  }
  return { status: response.status, json };
}

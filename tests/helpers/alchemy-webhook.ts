// Builds Alchemy custom-webhook deliveries (domain.md section 4) from BatchMinted logs, real or made up, and signs
// them the way Alchemy does.
import { request, type Agent } from 'node:http';
import { encodeAbiParameters, encodeEventTopics, type Address, type Hex } from 'viem';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { signAlchemyBody } from '../../src/stages/detection/alchemy-signature.js';

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

export type WebhookAnswer = { status: number; json: unknown };

/**
 * POSTs `body` (UTF-8) to the webhook with exactly `headers` (plus Content-Length), over node:http: pass a
 * keep-alive Agent to reuse connections across many requests (fetch costs several times more CPU per request).
 */
export function postWebhook(
  baseUrl: string,
  body: string,
  headers: Record<string, string>,
  agent?: Agent,
): Promise<WebhookAnswer> {
  const bytes = Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}/webhooks/alchemy`,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(bytes.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            // Leave the text: a non-JSON answer is itself what a test may want to see.
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

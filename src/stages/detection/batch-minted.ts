// BatchMinted logs -> DecodedMint, for both the webhook payload and eth_getLogs results. Decoding goes through
// viem and the contract ABI; the only checks done here by hand are the ones the ABI cannot express (exact
// topic count and data size, address padding, the id range the database can hold).
import { decodeEventLog, getAbiItem, getAddress, toEventSelector, type Address, type Hex } from 'viem';
import { gliskS0Abi } from '../../providers/chain/glisk-s0.abi.js';
import { MAX_BATCH_SIZE } from '../../db/schema.js';
import type { DecodedMint } from './mint-ingest.js';
import { yieldToEventLoop } from '../../lib/sleep.js';
import { deliveryLogs, type AlchemyWebhook } from './alchemy-payload.js';

export const batchMintedEvent = getAbiItem({ abi: gliskS0Abi, name: 'BatchMinted' });
/** keccak256("BatchMinted(address,address,uint256,uint256,uint256)"), lower case. */
export const BATCH_MINTED_TOPIC: Hex = toEventSelector(batchMintedEvent);

// tokens_s0.token_id is a PostgreSQL integer.
const MAX_TOKEN_ID = 2 ** 31 - 1;
const ADDRESS_TOPIC_RE = /^0x0{24}[0-9a-fA-F]{40}$/;
// Two uint256 words: quantity and totalPaid.
const DATA_RE = /^0x[0-9a-fA-F]{128}$/;

export type BatchMintedArgs = Pick<
  DecodedMint,
  'minter' | 'author' | 'startTokenId' | 'quantity' | 'totalPaid'
>;

export type DecodeResult =
  { ok: true; args: BatchMintedArgs } | { ok: false; field: 'topics' | 'data'; reason: string };

export function isBatchMintedTopic(topic0: string | undefined): boolean {
  return topic0 !== undefined && topic0.toLowerCase() === BATCH_MINTED_TOPIC;
}

/** Decodes one log whose topic0 is BatchMinted; a malformed one is reported, never guessed at. */
export function decodeBatchMinted(topics: readonly Hex[], data: Hex): DecodeResult {
  if (topics.length !== 4) {
    return { ok: false, field: 'topics', reason: `BatchMinted has 4 topics, got ${topics.length}` };
  }
  if (!ADDRESS_TOPIC_RE.test(topics[1] ?? '') || !ADDRESS_TOPIC_RE.test(topics[2] ?? '')) {
    return {
      ok: false,
      field: 'topics',
      reason: 'minter and promptAuthor topics must be zero-padded addresses',
    };
  }
  if (!DATA_RE.test(data)) {
    return {
      ok: false,
      field: 'data',
      reason: 'BatchMinted data is two 32-byte words (quantity, totalPaid)',
    };
  }
  let decoded;
  try {
    decoded = decodeEventLog({
      abi: gliskS0Abi,
      eventName: 'BatchMinted',
      topics: topics as [Hex, ...Hex[]],
      data,
      strict: true,
    });
  } catch (error) {
    return {
      ok: false,
      field: 'topics',
      reason: `not a BatchMinted log: ${(error as Error).message.split('\n')[0]}`,
    };
  }
  const { minter, promptAuthor, startTokenId, quantity, totalPaid } = decoded.args;
  if (quantity < 1n || quantity > BigInt(MAX_BATCH_SIZE)) {
    return { ok: false, field: 'data', reason: `quantity ${quantity} is outside 1..${MAX_BATCH_SIZE}` };
  }
  if (startTokenId < 1n || startTokenId + quantity - 1n > BigInt(MAX_TOKEN_ID)) {
    return {
      ok: false,
      field: 'topics',
      reason: `token ids ${startTokenId}+${quantity} are outside 1..${MAX_TOKEN_ID}`,
    };
  }
  return {
    ok: true,
    args: {
      minter: getAddress(minter),
      author: getAddress(promptAuthor),
      startTokenId: Number(startTokenId),
      quantity: Number(quantity),
      totalPaid,
    },
  };
}

export type PayloadIssue = { path: string; message: string };

export type PayloadMints =
  { ok: true; mints: DecodedMint[]; ignored: number } | { ok: false; issues: PayloadIssue[] };

/**
 * Every BatchMinted of `contract` in the block of an Alchemy delivery: logs of other contracts, other events,
 * reverted transactions and removed logs are ignored (counted). A matching log that does not decode fails the
 * whole payload, so that a forged or truncated delivery writes nothing.
 */
export function mintsFromAlchemyPayload(payload: AlchemyWebhook, contract: Address): PayloadMints {
  const steps = payloadMints(payload, contract);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * mintsFromAlchemyPayload for the webhook: yields to the event loop every `logsPerSlice` logs. Decoding and
 * checksumming cost about 0.2 ms a log, so a delivery of 1,700 logs decoded in one go blocked every other request
 * (and /health) for 300-400 ms.
 */
export async function mintsFromAlchemyPayloadInSlices(
  payload: AlchemyWebhook,
  contract: Address,
  logsPerSlice = 100,
): Promise<PayloadMints> {
  const steps = payloadMints(payload, contract);
  for (let n = 1; ; n += 1) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (n % logsPerSlice === 0) await yieldToEventLoop();
  }
}

/** The decoding of a delivery, one step (yield) per log, so callers choose when to let other work run. */
function* payloadMints(payload: AlchemyWebhook, contract: Address): Generator<void, PayloadMints, void> {
  const { block } = payload.event.data;
  const logs = deliveryLogs(payload);
  if (logs.length === 0) return { ok: true, mints: [], ignored: 0 };
  // The schema requires both when there are logs.
  if (block.number === undefined || block.timestamp === undefined) {
    return {
      ok: false,
      issues: [{ path: 'event.data.block', message: 'number and timestamp are required' }],
    };
  }
  const wanted = contract.toLowerCase();
  const blockTimestamp = new Date(block.timestamp * 1000);
  const mints: DecodedMint[] = [];
  const issues: PayloadIssue[] = [];
  let ignored = 0;
  for (const { log, path } of logs) {
    yield;
    const relevant =
      log.account.address.toLowerCase() === wanted &&
      isBatchMintedTopic(log.topics[0]) &&
      log.transaction.status === 1 &&
      log.removed !== true;
    if (!relevant) {
      ignored += 1;
      continue;
    }
    // Hex is compared case-insensitively everywhere: viem matches the event selector byte for byte.
    const result = decodeBatchMinted(
      log.topics.map((topic) => topic.toLowerCase() as Hex),
      log.data.toLowerCase() as Hex,
    );
    if (!result.ok) {
      issues.push({ path: `${path}.${result.field}`, message: result.reason });
      continue;
    }
    mints.push({
      txHash: log.transaction.hash.toLowerCase() as Hex,
      logIndex: log.index,
      blockNumber: block.number,
      blockTimestamp,
      ...result.args,
    });
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, mints, ignored };
}

/** A log as eth_getLogs returns it through viem (pending logs, which have no hash yet, are never asked for). */
export type RpcLog = {
  address: Address;
  topics: readonly Hex[];
  data: Hex;
  blockNumber: bigint | null;
  transactionHash: Hex | null;
  logIndex: number | null;
  removed: boolean;
};

export type RpcMint = Omit<DecodedMint, 'blockTimestamp'>;

/** The BatchMinted logs of `contract` among `logs`, decoded; throws on a matching log that does not decode. */
export function mintsFromRpcLogs(logs: readonly RpcLog[], contract: Address): RpcMint[] {
  const wanted = contract.toLowerCase();
  const mints: RpcMint[] = [];
  for (const log of logs) {
    if (log.removed || log.address.toLowerCase() !== wanted || !isBatchMintedTopic(log.topics[0])) continue;
    if (log.blockNumber === null || log.transactionHash === null || log.logIndex === null) {
      throw new Error('eth_getLogs returned a pending log for a mined block range');
    }
    const result = decodeBatchMinted(log.topics, log.data);
    if (!result.ok) {
      throw new Error(`undecodable BatchMinted log ${log.transactionHash}#${log.logIndex}: ${result.reason}`);
    }
    mints.push({
      txHash: log.transactionHash.toLowerCase() as Hex,
      logIndex: log.logIndex,
      blockNumber: Number(log.blockNumber),
      ...result.args,
    });
  }
  return mints;
}

// The detection tests' common scenario: batches of 1, 50 and 7 minted on the test chain for two authors, and
// the checks that exactly those 58 tokens (and 3 mint events) were recorded, whichever path recorded them.
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { createTestClient, getAddress, http, type Address, type Hash, type TransactionReceipt } from 'viem';
import { createChainWalletClient } from '../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import type { Executor } from '../../src/db/client.js';
import { alchemyWebhookSchema } from '../../src/stages/detection/alchemy-payload.js';
import { mintsFromAlchemyPayload } from '../../src/stages/detection/batch-minted.js';
import type { DecodedMint } from '../../src/stages/detection/mint-ingest.js';
import { alchemyPayload, type PayloadBlock } from './alchemy-webhook.js';
import type { TestChain } from './chain.js';

export const AUTHOR_A: Address = getAddress('0xa11ce00000000000000000000000000000000a11');
export const AUTHOR_B: Address = getAddress('0xb0b0000000000000000000000000000000000b0b');

export type ScenarioMint = { minter: Address; author: Address; startTokenId: number; quantity: number };

export type Scenario = {
  mints: ScenarioMint[];
  receipts: TransactionReceipt[];
  blockNumber: bigint;
  blockTimestamp: Date;
  /** Every BatchMinted and Transfer log of the receipts, in a webhook delivery of their block. */
  payloadBlock: PayloadBlock;
};

/**
 * Mints 1 (A), 50 (B) and 7 (A) tokens from three minters in ONE block (automine paused), so that a single
 * Alchemy delivery carries all three BatchMinted logs among 58 Transfer logs.
 */
export async function mintScenario(chain: TestChain): Promise<Scenario> {
  const testClient = createTestClient({ mode: 'hardhat', chain: chain.chain, transport: http(chain.rpcUrl) });
  const [m0, m1, m2] = chain.accounts.minters;
  if (m0 === undefined || m1 === undefined || m2 === undefined) throw new Error('need three minters');
  const first = Number(
    await chain.publicClient.readContract({
      address: chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'nextTokenId',
    }),
  );
  const plan = [
    { from: m0, author: AUTHOR_A, quantity: 1 },
    { from: m1, author: AUTHOR_B, quantity: 50 },
    { from: m2, author: AUTHOR_A, quantity: 7 },
  ];
  await testClient.setAutomine(false);
  const hashes: Hash[] = [];
  try {
    for (const step of plan) {
      const wallet = createChainWalletClient({
        rpcUrl: chain.rpcUrl,
        chain: chain.chain,
        privateKey: step.from.privateKey,
      });
      hashes.push(
        await wallet.writeContract({
          address: chain.contractAddress,
          abi: gliskS0Abi,
          functionName: 'mint',
          args: [step.author, BigInt(step.quantity)],
          value: chain.mintPrice * BigInt(step.quantity),
          gas: 5_000_000n,
        }),
      );
    }
    await testClient.mine({ blocks: 1 });
  } finally {
    await testClient.setAutomine(true);
  }
  const receipts = await Promise.all(
    hashes.map((hash) => chain.publicClient.getTransactionReceipt({ hash })),
  );
  const blockNumber = receipts[0]?.blockNumber ?? 0n;
  for (const receipt of receipts) {
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.blockNumber, blockNumber, 'the three mints share one block');
  }
  const block = await chain.publicClient.getBlock({ blockNumber });
  // Transactions are mined in send order (same gas price, distinct senders), so ids follow the plan.
  let next = first;
  const mints = plan.map((step) => {
    const mint = {
      minter: step.from.address,
      author: step.author,
      startTokenId: next,
      quantity: step.quantity,
    };
    next += step.quantity;
    return mint;
  });
  const logs = receipts
    .flatMap((receipt) => receipt.logs.map((log) => ({ log, status: receipt.status === 'success' ? 1 : 0 })))
    .sort((a, b) => a.log.logIndex - b.log.logIndex)
    .map(({ log, status }) => ({
      account: { address: log.address },
      topics: [...log.topics],
      data: log.data,
      index: log.logIndex,
      removed: log.removed,
      transaction: { hash: log.transactionHash, status },
    }));
  return {
    mints,
    receipts,
    blockNumber,
    blockTimestamp: new Date(Number(block.timestamp) * 1000),
    payloadBlock: { number: Number(blockNumber), timestamp: Number(block.timestamp), logs },
  };
}

/** The scenario's three mints as every detection path decodes them, e.g. to record them with ingestMints. */
export function scenarioMints(scenario: Scenario, chain: Pick<TestChain, 'contractAddress'>): DecodedMint[] {
  const payload = alchemyWebhookSchema.parse(alchemyPayload(scenario.payloadBlock));
  const result = mintsFromAlchemyPayload(payload, chain.contractAddress);
  if (!result.ok || result.mints.length !== 3) throw new Error('the scenario block holds three mints');
  return result.mints;
}

export type TokenRow = {
  token_id: number;
  wallet_address: string;
  minter_address: string;
  mint_timestamp: Date;
  status: string;
  metadata_cid: string | null;
};

export async function tokenRows(db: Executor): Promise<TokenRow[]> {
  const rows = await db.execute<Omit<TokenRow, 'mint_timestamp'> & { mint_timestamp: string }>(sql`
    SELECT t.token_id, a.wallet_address, t.minter_address, t.mint_timestamp, t.status, t.metadata_cid
    FROM tokens_s0 t JOIN authors a ON a.id = t.author_id ORDER BY t.token_id`);
  // drizzle's raw execute leaves timestamptz as PostgreSQL's text.
  return [...rows].map((row) => ({ ...row, mint_timestamp: new Date(row.mint_timestamp) }));
}

export async function countRows(db: Executor): Promise<{ tokens: number; events: number; authors: number }> {
  const [row] = await db.execute<{ tokens: number; events: number; authors: number }>(sql`
    SELECT (SELECT count(*)::int FROM tokens_s0) AS tokens, (SELECT count(*)::int FROM mint_events) AS events,
           (SELECT count(*)::int FROM authors) AS authors`);
  if (row === undefined) throw new Error('count query returned nothing');
  return row;
}

/** Exactly the scenario's 58 tokens, with the right ids, authors (checksummed), minters and block time. */
export async function assertScenarioRecorded(
  db: Executor,
  scenario: Scenario,
  options: { mintEvents?: boolean; revealed?: ReadonlyMap<number, string> } = {},
): Promise<void> {
  const rows = await tokenRows(db);
  const expected = scenario.mints.flatMap((mint) =>
    Array.from({ length: mint.quantity }, (_, i) => {
      const tokenId = mint.startTokenId + i;
      const cid = options.revealed?.get(tokenId);
      return {
        token_id: tokenId,
        wallet_address: mint.author,
        minter_address: mint.minter,
        mint_timestamp: scenario.blockTimestamp.toISOString(),
        status: cid === undefined ? 'detected' : 'revealed',
        metadata_cid: cid ?? null,
      };
    }),
  );
  assert.equal(rows.length, 58);
  assert.deepEqual(
    rows.map((row) => ({ ...row, mint_timestamp: row.mint_timestamp.toISOString() })),
    expected,
  );
  const counts = await countRows(db);
  assert.equal(counts.authors, 2);
  if (options.mintEvents !== false) {
    assert.equal(counts.events, 3);
    const events = await db.execute<{
      token_id: number;
      quantity: number;
      block_number: string;
      total_paid_wei: string;
    }>(
      sql`SELECT token_id, quantity, block_number::text, total_paid_wei::text FROM mint_events ORDER BY token_id`,
    );
    assert.deepEqual(
      [...events].map((e) => [e.token_id, e.quantity, e.block_number]),
      scenario.mints.map((m) => [m.startTokenId, m.quantity, String(scenario.blockNumber)]),
    );
  }
}

// The gas part of the demo's summary, from the service's GET /api/reveal-transactions and the chain itself:
// gas per revealed token for full batches and for a batch of one; what the same batches would take with CIDv1
// URIs (eth_estimateGas of both forms on the block before each reveal, in this run); and the gas spent on
// transactions that revealed nothing. Waste is counted from the chain, not from what the service says: every
// keeper transaction that landed is found from the stored hashes, and the keeper's balance must have gone down by
// exactly their fees (a transaction the service does not know about would show there).
import type { Address, Hash, PublicClient, TransactionReceipt } from 'viem';
import type { Database } from '../../db/client.js';
import { DemoFailure } from '../../errors.js';
import { toCanonicalCid, toCidV0 } from '../../lib/cid.js';
import { gliskS0Abi } from '../../providers/chain/glisk-s0.abi.js';

/** The goal of issue 15: revealed tokens cost at most this share of what CIDv1 URIs would. */
export const CID_V0_GAS_GOAL = 0.82;

export type RevealRow = {
  status: string;
  tokenIds: number[];
  txHash: Hash | null;
  blockNumber: number | null;
  gasUsed: number | null;
  attempts: { txHash: Hash }[];
};

export async function listRevealTransactions(serviceUrl: string): Promise<RevealRow[]> {
  const rows: RevealRow[] = [];
  let cursor: string | null = null;
  do {
    const url = new URL('/api/reveal-transactions', serviceUrl);
    url.searchParams.set('limit', '100');
    if (cursor !== null) url.searchParams.set('cursor', cursor);
    const answer = await fetch(url);
    if (!answer.ok) throw new DemoFailure(`GET /api/reveal-transactions answered ${answer.status}`);
    const page = (await answer.json()) as { items: RevealRow[]; nextCursor: string | null };
    rows.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return rows;
}

export type GasTarget = {
  client: PublicClient;
  contract: Address;
  keeper: Address;
  database: Database;
  /** The keeper's balance before the service started. */
  keeperBalanceBefore: bigint;
  fullBatch: number;
};

export type GasSummary = { lines: string[]; problems: string[] };

type Compared = { tokens: number; gasUsed: number; v0: number; v1: number };

export async function gasSummary(target: GasTarget, reveals: readonly RevealRow[]): Promise<GasSummary> {
  const { client, keeper } = target;
  const lines: string[] = [];
  const problems: string[] = [];
  const confirmed = reveals.filter((r) => r.status === 'confirmed');
  const sizes = confirmed.map((r) => r.tokenIds.length).sort((a, b) => b - a);
  const replacements = reveals.reduce((sum, r) => sum + Math.max(0, r.attempts.length - 1), 0);
  lines.push(
    `reveal transactions: ${confirmed.length} confirmed (batch sizes ${sizes.join(', ')}), ` +
      `${reveals.length - confirmed.length} not confirmed, ${replacements} replacements`,
  );

  // Every keeper transaction that landed, whatever its row says.
  const landed = await landedReceipts(client, reveals);
  const useful = new Set(confirmed.map((r) => r.txHash?.toLowerCase()));
  const wasted = landed.filter((r) => !useful.has(r.transactionHash.toLowerCase()) || r.status !== 'success');
  const wastedGas = wasted.reduce((sum, r) => sum + r.gasUsed, 0n);
  const fees = landed.reduce((sum, r) => sum + r.gasUsed * r.effectiveGasPrice, 0n);
  const [balanceAfter, keeperNonce] = await Promise.all([
    client.getBalance({ address: keeper }),
    client.getTransactionCount({ address: keeper, blockTag: 'latest' }),
  ]);
  const unexplained = target.keeperBalanceBefore - balanceAfter - fees;
  lines.push(
    `keeper: ${keeperNonce} transactions on chain, ${landed.length} known to the service, ` +
      `${wasted.length} revealed nothing (${wastedGas} gas); balance spent beyond their fees: ${unexplained} wei`,
  );
  if (keeperNonce !== landed.length) {
    problems.push(`the keeper sent ${keeperNonce} transactions, the service knows of ${landed.length}`);
  }
  if (wastedGas > 0n) problems.push(`${wastedGas} gas spent on transactions that revealed nothing`);
  if (unexplained !== 0n) problems.push(`the keeper spent ${unexplained} wei beyond its known fees`);

  const compared = await Promise.all(confirmed.map((row) => compareUris(target, row)));
  const sum = (list: Compared[], key: keyof Compared) => list.reduce((s, c) => s + c[key], 0);
  const describe = (label: string, group: Compared[]): string => {
    if (group.length === 0) return `${label}: none in this run`;
    const tokens = sum(group, 'tokens');
    const perToken = (key: keyof Compared) => Math.round(sum(group, key) / tokens);
    return (
      `${label}: ${perToken('gasUsed')} gas per token over ${group.length} tx (${tokens} tokens); ` +
      `with CIDv1 URIs ${perToken('v1')} per token (eth_estimateGas, same block), ` +
      `ratio ${(sum(group, 'gasUsed') / sum(group, 'v1')).toFixed(3)}`
    );
  };
  const full = compared.filter((c) => c.tokens === target.fullBatch);
  lines.push(describe(`full batches (${target.fullBatch})`, full));
  lines.push(
    describe(
      'batch of 1',
      compared.filter((c) => c.tokens === 1),
    ),
  );
  lines.push(describe('all reveals', compared));
  for (const c of compared) {
    if (c.v0 !== c.gasUsed) {
      lines.push(`note: a batch of ${c.tokens} used ${c.gasUsed} gas, its CIDv0 estimate was ${c.v0}`);
    }
  }
  const fullRatio = full.length === 0 ? undefined : sum(full, 'gasUsed') / sum(full, 'v1');
  if (fullRatio !== undefined && fullRatio > CID_V0_GAS_GOAL) {
    problems.push(`full batches cost ${fullRatio.toFixed(3)}x their CIDv1 form (goal <= ${CID_V0_GAS_GOAL})`);
  }
  lines.push(`gas spent on transactions that revealed nothing: ${wastedGas}`);
  return { lines, problems };
}

/** Receipts of every stored hash (each replacement included) that is on chain. */
async function landedReceipts(
  client: PublicClient,
  reveals: readonly RevealRow[],
): Promise<TransactionReceipt[]> {
  const hashes = new Set<Hash>();
  for (const row of reveals) for (const attempt of row.attempts) hashes.add(attempt.txHash);
  const receipts = await Promise.all(
    [...hashes].map((hash) => client.getTransactionReceipt({ hash }).catch(() => undefined)),
  );
  return receipts.filter((r): r is TransactionReceipt => r !== undefined);
}

/** eth_estimateGas of the same batch with CIDv0 and with CIDv1 URIs, on the block before it was revealed. */
async function compareUris(target: GasTarget, row: RevealRow): Promise<Compared> {
  if (row.blockNumber === null || row.gasUsed === null) {
    throw new DemoFailure(`a confirmed reveal without block or gas: ${row.txHash}`);
  }
  const cids = await target.database.sql<{ token_id: number; metadata_cid: string }[]>`
    select token_id, metadata_cid from tokens_s0 where token_id = any(${row.tokenIds})`;
  const cidOf = new Map(cids.map((r) => [r.token_id, r.metadata_cid]));
  const uris = (version: 0 | 1) =>
    row.tokenIds.map((id) => {
      const cid = cidOf.get(id);
      if (cid === undefined) throw new DemoFailure(`token ${id} has no metadata CID`);
      return `ipfs://${version === 0 ? toCidV0(cid) : toCanonicalCid(cid)}`;
    });
  const estimate = async (version: 0 | 1) =>
    Number(
      await target.client.estimateContractGas({
        account: target.keeper,
        address: target.contract,
        abi: gliskS0Abi,
        functionName: 'revealTokens',
        args: [row.tokenIds.map(BigInt), uris(version)],
        blockNumber: BigInt(row.blockNumber ?? 1) - 1n,
      }),
    );
  const [v0, v1] = await Promise.all([estimate(0), estimate(1)]);
  return { tokens: row.tokenIds.length, gasUsed: row.gasUsed, v0, v1 };
}

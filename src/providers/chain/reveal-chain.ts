// What the reveal stage asks of the chain, through viem only: the contract views it checks a batch against, the
// keeper's nonce and balance, fee and gas estimates, signing without sending, broadcasting stored bytes, and
// receipts. The keeper's key stays inside the viem account: nothing here returns, logs or throws it.
import {
  createPublicClient,
  decodeFunctionData,
  encodeFunctionData,
  http,
  parseTransaction,
  keccak256,
  type Address,
  type Chain,
  type Hex,
  type PrivateKeyAccount,
  type PublicClient,
  type Transport,
} from 'viem';
import { estimateL1Fee } from 'viem/op-stack';
import { createChainPublicClient, chainForId } from './client.js';
import { observedTransport } from './observed-transport.js';
import { decodeContractRevert, type ContractRevert } from './contract-error.js';
import { gliskS0Abi } from './glisk-s0.abi.js';

/** EIP-1559 fees of a transaction. */
export type Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };

/** What a node currently asks: the next block's base fee and a priority fee that gets included. */
export type FeeEstimate = Fees & { baseFeePerGas: bigint };

export type RevealCall = { tokenIds: readonly bigint[]; uris: readonly string[] };

export type SignedReveal = { rawTransaction: Hex; txHash: Hex };

export type RevealReceipt = {
  txHash: Hex;
  status: 'success' | 'reverted';
  blockNumber: bigint;
  gasUsed: bigint;
  effectiveGasPrice: bigint;
};

export interface RevealChain {
  readonly chainId: number;
  /** Checksummed keeper address (never the key). */
  readonly keeperAddress: Address;
  readonly contractAddress: Address;
  /** Whether the L1 data fee is part of a transaction's cost (OP Stack chains such as Base). */
  readonly chargesL1Fee: boolean;
  nextTokenId(): Promise<bigint>;
  /** isRevealed for every id, in one round of reads: one multicall3 call where the chain has it, else one JSON-RPC batch. */
  areRevealed(tokenIds: readonly bigint[]): Promise<boolean[]>;
  /** Transactions the keeper has mined (`latest`) or mined + pending (`pending`): the next nonce. */
  transactionCount(blockTag: 'latest' | 'pending'): Promise<number>;
  balance(): Promise<bigint>;
  estimateFees(): Promise<FeeEstimate>;
  /** eth_estimateGas of revealTokens from the keeper; throws viem's error (decode with decodeContractRevert). */
  estimateRevealGas(call: RevealCall, blockNumber?: bigint): Promise<bigint>;
  /** The L1 data fee of the transaction on OP Stack chains; 0 elsewhere (a local chain has no L1). */
  estimateL1Fee(
    call: RevealCall,
    fees: { nonce: number; gas: bigint; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
  ): Promise<bigint>;
  sign(
    call: RevealCall,
    tx: { nonce: number; gas: bigint; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
  ): Promise<SignedReveal>;
  /** eth_sendRawTransaction of stored bytes; throws the node's refusal as viem's error. */
  broadcast(rawTransaction: Hex): Promise<void>;
  /** The receipt, or undefined while the node has none (pending, unknown, or a load-balanced node behind). */
  receipt(txHash: Hex): Promise<RevealReceipt | undefined>;
  /** Replays revealTokens at `blockNumber` to name the revert of a mined transaction; undefined if it no longer reverts. */
  revertReason(call: RevealCall, blockNumber: bigint): Promise<ContractRevert | undefined>;
  blockNumber(): Promise<bigint>;
}

export type RevealChainOptions = {
  rpcUrl: string;
  contractAddress: Address;
  account: PrivateKeyAccount;
  /** Asked of the node when omitted. */
  chainId?: number;
  timeoutMs?: number;
};

export function revealData(call: RevealCall): Hex {
  return encodeFunctionData({
    abi: gliskS0Abi,
    functionName: 'revealTokens',
    args: [[...call.tokenIds], [...call.uris]],
  });
}

/** The reveal call inside stored signed bytes (to replay it, or to know its tokens), undefined if it is not one. */
export function decodeRevealCall(rawTransaction: Hex): RevealCall | undefined {
  const { data } = parseTransaction(rawTransaction);
  if (data === undefined) return undefined;
  const decoded = decodeFunctionData({ abi: gliskS0Abi, data });
  if (decoded.functionName !== 'revealTokens') return undefined;
  const [tokenIds, uris] = decoded.args;
  return { tokenIds, uris };
}

export async function connectRevealChain(options: RevealChainOptions): Promise<RevealChain> {
  let chainId = options.chainId;
  if (chainId === undefined) {
    const probe = createChainPublicClient({ rpcUrl: options.rpcUrl, timeoutMs: options.timeoutMs });
    chainId = await probe.getChainId();
  }
  const chain = chainForId(chainId);
  // cacheTime 0: every nonce, head and receipt read must be fresh; batch: one HTTP request for a round of reads.
  const client = createPublicClient({
    chain,
    transport: observedTransport(
      http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 1, batch: true }),
    ),
    cacheTime: 0,
  });
  return viemRevealChain(client, chain, options.account, options.contractAddress);
}

function viemRevealChain(
  client: PublicClient<Transport, Chain>,
  chain: Chain,
  account: PrivateKeyAccount,
  contractAddress: Address,
): RevealChain {
  const keeperAddress = account.address;
  const hasMulticall = chain.contracts?.multicall3 !== undefined;
  const chargesL1Fee = chain.contracts?.gasPriceOracle !== undefined;
  const request = (call: RevealCall) => ({ account, to: contractAddress, data: revealData(call) });

  return {
    chainId: chain.id,
    keeperAddress,
    contractAddress,
    chargesL1Fee,

    nextTokenId: () =>
      client.readContract({ address: contractAddress, abi: gliskS0Abi, functionName: 'nextTokenId' }),

    async areRevealed(tokenIds) {
      if (tokenIds.length === 0) return [];
      const contracts = tokenIds.map((id) => ({
        address: contractAddress,
        abi: gliskS0Abi,
        functionName: 'isRevealed' as const,
        args: [id] as const,
      }));
      if (hasMulticall) return client.multicall({ contracts, allowFailure: false });
      // The transport batches calls made in the same tick into one JSON-RPC batch request.
      return Promise.all(contracts.map((c) => client.readContract(c)));
    },

    transactionCount: (blockTag) => client.getTransactionCount({ address: keeperAddress, blockTag }),
    balance: () => client.getBalance({ address: keeperAddress }),

    async estimateFees() {
      const [block, fees] = await Promise.all([
        client.getBlock({ blockTag: 'latest' }),
        client.estimateFeesPerGas({ type: 'eip1559' }),
      ]);
      return {
        baseFeePerGas: block.baseFeePerGas ?? 0n,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      };
    },

    // estimateContractGas rather than estimateGas: a revert comes back decoded with the contract's ABI.
    estimateRevealGas: (call, blockNumber) =>
      client.estimateContractGas({
        account,
        address: contractAddress,
        abi: gliskS0Abi,
        functionName: 'revealTokens',
        args: [[...call.tokenIds], [...call.uris]],
        ...(blockNumber === undefined ? {} : { blockNumber }),
      }),

    async estimateL1Fee(call, tx) {
      if (!chargesL1Fee) return 0n;
      return estimateL1Fee(client, { ...request(call), chain, type: 'eip1559', ...tx });
    },

    async sign(call, tx) {
      const rawTransaction = await account.signTransaction({
        type: 'eip1559',
        chainId: chain.id,
        to: contractAddress,
        data: revealData(call),
        value: 0n,
        nonce: tx.nonce,
        gas: tx.gas,
        maxFeePerGas: tx.maxFeePerGas,
        maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
      });
      return { rawTransaction: rawTransaction.toLowerCase() as Hex, txHash: keccak256(rawTransaction) };
    },

    async broadcast(rawTransaction) {
      await client.sendRawTransaction({ serializedTransaction: rawTransaction });
    },

    async receipt(txHash) {
      // getTransactionReceipt throws TransactionReceiptNotFoundError for null; the raw request returns null.
      const raw = await client.request({ method: 'eth_getTransactionReceipt', params: [txHash] });
      if (raw === null || raw === undefined) return undefined;
      return {
        txHash: raw.transactionHash.toLowerCase() as Hex,
        status: raw.status === '0x1' ? 'success' : 'reverted',
        blockNumber: BigInt(raw.blockNumber),
        gasUsed: BigInt(raw.gasUsed),
        effectiveGasPrice: BigInt(raw.effectiveGasPrice),
      };
    },

    async revertReason(call, blockNumber) {
      try {
        await client.simulateContract({
          account,
          address: contractAddress,
          abi: gliskS0Abi,
          functionName: 'revealTokens',
          args: [[...call.tokenIds], [...call.uris]],
          blockNumber,
        });
        return undefined;
      } catch (error) {
        return decodeContractRevert(error) ?? { name: 'Unknown', args: [], reason: String(error) };
      }
    },

    blockNumber: () => client.getBlockNumber({ cacheTime: 0 }),
  };
}

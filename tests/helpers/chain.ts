// A fresh local chain with GliskS0 deployed, for one test file. Usage:
//   const chain = await startTestChain();
//   after(() => chain.stop());
import {
  createTestClient,
  http,
  parseEventLogs,
  type Address,
  type Chain,
  type Hash,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
} from 'viem';
import {
  chainForId,
  createChainPublicClient,
  createChainWalletClient,
} from '../../src/providers/chain/client.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import {
  deployGlisk,
  startLocalChain,
  type DevAccount,
  type DevAccounts,
  type LocalChain,
} from '../../src/dev/local-chain.js';

export type { DevAccount } from '../../src/dev/local-chain.js';

export interface TestMintInput {
  from: DevAccount;
  author: Address;
  quantity: number | bigint;
  /** Defaults to mintPrice x quantity. */
  value?: bigint;
}

export interface TestMintResult {
  txHash: Hash;
  receipt: TransactionReceipt;
  startTokenId: bigint;
  tokenIds: bigint[];
  blockNumber: bigint;
}

export interface TestRevealResult {
  txHash: Hash;
  receipt: TransactionReceipt;
}

export interface TestChain {
  rpcUrl: string;
  chainId: number;
  chain: Chain;
  contractAddress: Address;
  deployBlock: bigint;
  mintPrice: bigint;
  placeholderUri: string;
  publicClient: PublicClient<Transport, Chain>;
  accounts: DevAccounts;
  /** Mints and waits for the receipt; throws viem's ContractFunctionExecutionError (decoded) on revert. */
  mint(input: TestMintInput): Promise<TestMintResult>;
  /** revealTokens from the keeper (or `from`); waits for the receipt. */
  reveal(
    tokenIds: readonly (number | bigint)[],
    uris: readonly string[],
    from?: DevAccount,
  ): Promise<TestRevealResult>;
  /** Mines n empty blocks at once (hardhat_mine), e.g. to push mints below a confirmation depth. */
  mine(blocks: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartTestChainOptions {
  mintPrice?: bigint;
  placeholderUri?: string;
  chainId?: number;
}

// Receipts on an automining chain are there as soon as the send returns; poll quickly rather than viem's 4 s.
const pollingIntervalMs = 20;

export async function startTestChain(options: StartTestChainOptions = {}): Promise<TestChain> {
  const local: LocalChain = await startLocalChain({ port: 0, chainId: options.chainId });
  try {
    const deployment = await deployGlisk({
      rpcUrl: local.rpcUrl,
      mintPrice: options.mintPrice,
      placeholderUri: options.placeholderUri,
    });
    return buildTestChain(local, deployment);
  } catch (error) {
    await local.stop();
    throw error;
  }
}

function buildTestChain(local: LocalChain, deployment: Awaited<ReturnType<typeof deployGlisk>>): TestChain {
  const chain = chainForId(local.chainId);
  // cacheTime 0: a test that mines and then reads the head must see the new head, not viem's cached one.
  const publicClient = createChainPublicClient({
    rpcUrl: local.rpcUrl,
    chain,
    pollingIntervalMs,
    cacheTimeMs: 0,
  });
  const testClient = createTestClient({ mode: 'hardhat', chain, transport: http(local.rpcUrl) });
  const walletFor = (account: DevAccount) =>
    createChainWalletClient({
      rpcUrl: local.rpcUrl,
      chain,
      privateKey: account.privateKey,
      pollingIntervalMs,
    });
  const { contractAddress, mintPrice } = deployment;

  return {
    rpcUrl: local.rpcUrl,
    chainId: local.chainId,
    chain,
    contractAddress,
    deployBlock: deployment.deployBlock,
    mintPrice,
    placeholderUri: deployment.placeholderUri,
    publicClient,
    accounts: deployment.accounts,

    async mint({ from, author, quantity, value }) {
      const count = BigInt(quantity);
      const txHash = await walletFor(from).writeContract({
        address: contractAddress,
        abi: gliskS0Abi,
        functionName: 'mint',
        args: [author, count],
        value: value ?? mintPrice * count,
      });
      const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
      if (receipt.status !== 'success') throw new Error(`mint transaction ${txHash} reverted`);
      const [minted] = parseEventLogs({ abi: gliskS0Abi, eventName: 'BatchMinted', logs: receipt.logs });
      if (minted === undefined) throw new Error(`mint transaction ${txHash} emitted no BatchMinted`);
      const startTokenId = minted.args.startTokenId;
      const tokenIds = Array.from(
        { length: Number(minted.args.quantity) },
        (_, i) => startTokenId + BigInt(i),
      );
      return { txHash, receipt, startTokenId, tokenIds, blockNumber: receipt.blockNumber };
    },

    async reveal(tokenIds, uris, from = deployment.accounts.keeper) {
      const txHash = await walletFor(from).writeContract({
        address: contractAddress,
        abi: gliskS0Abi,
        functionName: 'revealTokens',
        args: [tokenIds.map((id) => BigInt(id)), [...uris]],
      });
      const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
      if (receipt.status !== 'success') throw new Error(`reveal transaction ${txHash} reverted`);
      return { txHash, receipt };
    },

    async mine(blocks) {
      await testClient.mine({ blocks });
    },

    stop: () => local.stop(),
  };
}

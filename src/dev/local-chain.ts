// A local EVM for tests and the demo: hardhat 2's network (EDR) in this process, served as JSON-RPC on loopback,
// plus deployment of the GLISK test contract through viem.
//
// Why in-process and not `hardhat node` as a child: no config file or CLI boot (the child takes seconds, this
// takes ~0.2 s), no stray process when a test dies, and errors (port in use) surface as rejected promises.
// Why hardhat 2: hardhat 3 needs Node 22. The modules used are hardhat's own building blocks of `hardhat node`
// (config resolution, provider construction, JSON-RPC handler); hardhat is pinned exactly, and these paths are
// only loaded here, lazily, so production code never loads the devDependency.
import { pbkdf2Sync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAddress, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import { HDKey, hdKeyToAccount, privateKeyToAccount } from 'viem/accounts';
import { LocalChainError } from '../errors.js';
import { connectSigner } from '../providers/chain/client.js';
import { gliskS0Abi, gliskS0Bytecode } from '../providers/chain/glisk-s0.abi.js';

/** The standard hardhat/anvil development mnemonic: its keys are public, never use them on a real network. */
export const devMnemonic = 'test test test test test test test test test test test junk';
export const localChainId = 31337;
export const localHardfork = 'cancun';
export const defaultPlaceholderUri = 'ipfs://bafkreiglisks0placeholder';
/** 0.001 ether: non-zero so that `totalPaid` and InsufficientPayment mean something in tests. */
export const defaultMintPrice = 1_000_000_000_000_000n;
const devAccountBalanceWei = 10_000n * 10n ** 18n;
const devAccountCount = 10;

export interface DevAccount {
  address: Address;
  privateKey: Hex;
  account: PrivateKeyAccount;
}

export interface DevAccounts {
  /** Index 0: deploys the contract and holds its admin role. */
  deployer: DevAccount;
  /** Index 1: holds KEEPER_ROLE after deployGlisk. */
  keeper: DevAccount;
  /** Indexes 2..9: plain minters. */
  minters: DevAccount[];
}

let cachedAccounts: DevAccount[] | undefined;

/**
 * The mnemonic's first accounts (BIP-44 m/44'/60'/0'/0/i), the same ones `hardhat node` prints. The BIP-39
 * seed is derived once here instead of once per account (hardhat's own derivation costs ~250 ms per chain).
 */
export function devAccountList(): DevAccount[] {
  if (cachedAccounts !== undefined) return cachedAccounts;
  const seed = pbkdf2Sync(devMnemonic.normalize('NFKD'), 'mnemonic', 2048, 64, 'sha512');
  const root = HDKey.fromMasterSeed(seed);
  cachedAccounts = Array.from({ length: devAccountCount }, (_, addressIndex) => {
    const hdAccount = hdKeyToAccount(root, { addressIndex });
    const keyBytes = hdAccount.getHdKey().privateKey;
    if (keyBytes === null) throw new Error(`could not derive dev account ${addressIndex}`);
    const privateKey = toHex(keyBytes);
    return { address: hdAccount.address, privateKey, account: privateKeyToAccount(privateKey) };
  });
  return cachedAccounts;
}

export function devAccounts(): DevAccounts {
  const [deployer, keeper, ...minters] = devAccountList();
  if (deployer === undefined || keeper === undefined)
    throw new Error('dev account derivation returned too few');
  return { deployer, keeper, minters };
}

export interface LocalChainOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  chainId?: number;
}

export interface LocalChain {
  rpcUrl: string;
  host: string;
  port: number;
  chainId: number;
  /** Stops serving and drops open connections; safe to call more than once. */
  stop(): Promise<void>;
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Starts a fresh automining chain (empty state, funded dev accounts) served on loopback. */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const host = options.host ?? '127.0.0.1';
  const chainId = options.chainId ?? localChainId;
  const [{ resolveConfig }, { createProvider }, { JsonRpcHandler }, { ProviderError }] = await Promise.all([
    import('hardhat/internal/core/config/config-resolution.js'),
    import('hardhat/internal/core/providers/construction.js'),
    import('hardhat/internal/hardhat-network/jsonrpc/handler.js'),
    import('hardhat/internal/core/providers/errors.js'),
  ]);
  // The config path only anchors hardhat's project paths (cache dir for forking, unused here); no file is read.
  const config = resolveConfig(path.join(projectRoot, 'package.json'), {
    networks: {
      hardhat: {
        chainId,
        hardfork: localHardfork,
        loggingEnabled: false,
        mining: { auto: true, interval: 0 },
        // Like a real node: a reverting transaction is mined with a status-0 receipt instead of failing the send,
        // so code that tracks sent transactions by hash sees what it would see on Base.
        throwOnTransactionFailures: false,
        throwOnCallFailures: true,
        accounts: devAccountList().map((a) => ({
          privateKey: a.privateKey,
          balance: devAccountBalanceWei.toString(),
        })),
      },
    },
  });
  const provider = await createProvider(config, 'hardhat');
  // Hardhat answers a reverted eth_call/eth_estimateGas with -32603 "internal error", which viem (rightly) retries
  // as transient: ~0.5 s lost per revert, and not what Base nodes say. Geth and Alchemy answer code 3 "execution
  // reverted" with the revert data; serve that shape. Hardhat attaches string `data` to reverts only.
  // Only HTTP is served, so the emitter side (WebSocket subscriptions) stays unused.
  const served = new (class extends EventEmitter {
    async request(args: Parameters<typeof provider.request>[0]): Promise<unknown> {
      try {
        return await provider.request(args);
      } catch (error) {
        if (!ProviderError.isProviderError(error) && error instanceof Error && isHexData(readData(error))) {
          const reverted = new ProviderError(`execution reverted: ${error.message}`, 3, error);
          reverted.data = readData(error);
          throw reverted;
        }
        throw error;
      }
    }
  })();
  const handler = new JsonRpcHandler(served);
  const server = createServer((req, res) => void handler.handleHttp(req, res));
  const port = await listen(server, options.port ?? 0, host);
  const rpcHost = host.includes(':') ? `[${host}]` : host;

  let stopped: Promise<void> | undefined;
  return {
    rpcUrl: `http://${rpcHost}:${port}`,
    host,
    port,
    chainId,
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        // Keep-alive sockets from viem's fetch would otherwise hold close() open until they idle out.
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

function readData(error: Error): unknown {
  return 'data' in error ? error.data : undefined;
}

function isHexData(value: unknown): value is Hex {
  return typeof value === 'string' && /^0x[0-9a-fA-F]*$/.test(value);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new LocalChainError(
          error.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is already in use (pick another with --port, or 0 for any free port)`
            : `cannot listen on ${host}:${port}: ${error.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export interface DeployGliskOptions {
  rpcUrl: string;
  deployer?: DevAccount;
  /** Granted KEEPER_ROLE; pass null to deploy without a keeper. */
  keeper?: DevAccount | null;
  placeholderUri?: string;
  mintPrice?: bigint;
}

export interface GliskDeployment {
  contractAddress: Address;
  /** Block of the deployment: a log follower has nothing to read before it. */
  deployBlock: bigint;
  chainId: number;
  placeholderUri: string;
  mintPrice: bigint;
  accounts: DevAccounts;
}

/** Deploys GliskS0 from the deployer (its admin) and grants KEEPER_ROLE to the keeper; waits for both receipts. */
export async function deployGlisk(options: DeployGliskOptions): Promise<GliskDeployment> {
  const accounts = devAccounts();
  const deployer = options.deployer ?? accounts.deployer;
  const keeper = options.keeper === undefined ? accounts.keeper : options.keeper;
  const placeholderUri = options.placeholderUri ?? defaultPlaceholderUri;
  const mintPrice = options.mintPrice ?? defaultMintPrice;

  const { chain, publicClient, wallet } = await connectSigner({
    rpcUrl: options.rpcUrl,
    privateKey: deployer.privateKey,
    pollingIntervalMs: 50,
  });

  const deployHash = await wallet.deployContract({
    abi: gliskS0Abi,
    bytecode: gliskS0Bytecode,
    args: [deployer.address, placeholderUri, mintPrice],
  });
  const deployReceipt = await publicClient.waitForTransactionReceipt({ hash: deployHash });
  if (
    deployReceipt.status !== 'success' ||
    deployReceipt.contractAddress === null ||
    deployReceipt.contractAddress === undefined
  ) {
    throw new LocalChainError(`GliskS0 deployment failed (tx ${deployHash})`);
  }
  // Receipts carry the address in lower case; config and logs use the checksummed form.
  const contractAddress = getAddress(deployReceipt.contractAddress);

  if (keeper !== null) {
    const keeperRole = await publicClient.readContract({
      address: contractAddress,
      abi: gliskS0Abi,
      functionName: 'KEEPER_ROLE',
    });
    const grantHash = await wallet.writeContract({
      address: contractAddress,
      abi: gliskS0Abi,
      functionName: 'grantRole',
      args: [keeperRole, keeper.address],
    });
    const grantReceipt = await publicClient.waitForTransactionReceipt({ hash: grantHash });
    if (grantReceipt.status !== 'success') {
      throw new LocalChainError(`granting KEEPER_ROLE to ${keeper.address} failed (tx ${grantHash})`);
    }
  }

  return {
    contractAddress,
    deployBlock: deployReceipt.blockNumber,
    chainId: chain.id,
    placeholderUri,
    mintPrice,
    accounts,
  };
}

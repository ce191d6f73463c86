// Test-only contracts on a local chain: a contract wallet (ERC-1271, and ERC-6492 through its CREATE2 factory) and
// the part of Farcaster's IdRegistry the service reads. Compiled offline (npm run contracts:build).
import {
  encodeFunctionData,
  serializeErc6492Signature,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem';
import { hashMessage } from 'viem';
import { connectSigner } from '../../src/providers/chain/client.js';
import { devAccounts } from '../../src/dev/local-chain.js';
import { idRegistryAbi, idRegistryBytecode } from './contracts/id-registry.abi.js';
import {
  testSmartWalletFactoryAbi,
  testSmartWalletFactoryBytecode,
} from './contracts/test-smart-wallet-factory.abi.js';

type Signer = Awaited<ReturnType<typeof connectSigner>>;

async function deployer(rpcUrl: string): Promise<Signer> {
  return connectSigner({ rpcUrl, privateKey: devAccounts().deployer.privateKey, pollingIntervalMs: 20 });
}

async function deploy(signer: Signer, abi: readonly unknown[], bytecode: Hex): Promise<Address> {
  const hash = await signer.wallet.deployContract({ abi, bytecode });
  const receipt = await signer.publicClient.waitForTransactionReceipt({ hash });
  if (!receipt.contractAddress) throw new Error('deployment failed');
  return receipt.contractAddress;
}

export type SmartWallets = {
  /** Deploys a wallet owned by `owner`; returns its address. */
  deployWallet: (owner: Address, salt: Hex) => Promise<Address>;
  /** The address a wallet would have, without deploying it. */
  addressOf: (owner: Address, salt: Hex) => Promise<Address>;
  /** The owner's ERC-1271 signature of an EIP-191 message (the wallet checks it against the message hash). */
  sign: (owner: LocalAccount, message: string) => Promise<Hex>;
  /** The same, wrapped for a wallet not deployed yet (ERC-6492: factory + deploy call + signature). */
  signUndeployed: (owner: LocalAccount, salt: Hex, message: string) => Promise<Hex>;
};

export async function deploySmartWalletFactory(rpcUrl: string): Promise<SmartWallets> {
  const signer = await deployer(rpcUrl);
  const factory = await deploy(signer, testSmartWalletFactoryAbi, testSmartWalletFactoryBytecode);
  const addressOf = (owner: Address, salt: Hex) =>
    signer.publicClient.readContract({
      address: factory,
      abi: testSmartWalletFactoryAbi,
      functionName: 'addressOf',
      args: [owner, salt],
    });
  const sign = (owner: LocalAccount, message: string): Promise<Hex> => {
    if (!owner.sign) throw new Error('the owner account cannot sign raw hashes');
    return owner.sign({ hash: hashMessage(message) });
  };
  return {
    addressOf,
    sign,
    deployWallet: async (owner, salt) => {
      const hash = await signer.wallet.writeContract({
        address: factory,
        abi: testSmartWalletFactoryAbi,
        functionName: 'deploy',
        args: [owner, salt],
      });
      await signer.publicClient.waitForTransactionReceipt({ hash });
      return addressOf(owner, salt);
    },
    signUndeployed: async (owner, salt, message) =>
      serializeErc6492Signature({
        address: factory,
        data: encodeFunctionData({
          abi: testSmartWalletFactoryAbi,
          functionName: 'deploy',
          args: [owner.address, salt],
        }),
        signature: await sign(owner, message),
      }),
  };
}

export type IdRegistry = {
  address: Address;
  register: (fid: bigint, custody: Address) => Promise<void>;
};

export async function deployIdRegistry(rpcUrl: string): Promise<IdRegistry> {
  const signer = await deployer(rpcUrl);
  const address = await deploy(signer, idRegistryAbi, idRegistryBytecode);
  return {
    address,
    register: async (fid, custody) => {
      const hash = await signer.wallet.writeContract({
        address,
        abi: idRegistryAbi,
        functionName: 'register',
        args: [fid, custody],
      });
      await signer.publicClient.waitForTransactionReceipt({ hash });
    },
  };
}

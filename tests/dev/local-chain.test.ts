// RPC endpoint choice, dev keys, and the local chain's lifecycle (ports, chain id, stop).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { base, baseSepolia } from 'viem/chains';
import { chainForId, createChainPublicClient, parsePrivateKey } from '../../src/providers/chain/client.js';
import { ChainConfigError, LocalChainError } from '../../src/errors.js';
import { resolveRpcEndpoint } from '../../src/config/rpc-endpoint.js';
import { decodeContractRevert } from '../../src/providers/chain/contract-error.js';
import { devAccounts, startLocalChain } from '../../src/dev/local-chain.js';

describe('resolveRpcEndpoint', () => {
  it('RPC_URL wins over ALCHEMY_API_KEY and NETWORK', () => {
    const endpoint = resolveRpcEndpoint({
      RPC_URL: 'http://127.0.0.1:8545',
      ALCHEMY_API_KEY: 'key',
      NETWORK: 'BASE_MAINNET',
    });
    assert.deepEqual(endpoint, { url: 'http://127.0.0.1:8545', chainId: undefined, source: 'RPC_URL' });
  });

  it('ALCHEMY_API_KEY with NETWORK names the Base Alchemy endpoints and their chains', () => {
    const sepolia = resolveRpcEndpoint({ ALCHEMY_API_KEY: 'abc123', NETWORK: 'BASE_SEPOLIA' });
    assert.equal(sepolia?.url, 'https://base-sepolia.g.alchemy.com/v2/abc123');
    assert.equal(sepolia?.chainId, 84532);
    const mainnet = resolveRpcEndpoint({ RPC_URL: '', ALCHEMY_API_KEY: 'abc123', NETWORK: 'BASE_MAINNET' });
    assert.equal(mainnet?.url, 'https://base-mainnet.g.alchemy.com/v2/abc123');
    assert.equal(mainnet?.chainId, 8453);
    assert.equal(mainnet?.source, 'ALCHEMY');
  });

  it('nothing configured means no endpoint; unusable values are errors', () => {
    assert.equal(resolveRpcEndpoint({}), undefined);
    assert.equal(resolveRpcEndpoint({ RPC_URL: '  ', ALCHEMY_API_KEY: '' }), undefined);
    assert.throws(() => resolveRpcEndpoint({ ALCHEMY_API_KEY: 'abc' }), ChainConfigError);
    assert.throws(() => resolveRpcEndpoint({ RPC_URL: 'not a url' }), /RPC_URL is not a URL/);
    assert.throws(() => resolveRpcEndpoint({ RPC_URL: 'ws://127.0.0.1:8545' }), /must be http/);
  });

  it('chainForId knows Base and Base Sepolia and makes a local chain for other ids', () => {
    assert.equal(chainForId(8453), base);
    assert.equal(chainForId(84532), baseSepolia);
    assert.equal(chainForId(31337).id, 31337);
  });
});

describe('parsePrivateKey', () => {
  it('accepts 64 hex digits with or without 0x and never echoes a bad key', () => {
    const key = '59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
    assert.equal(parsePrivateKey(key, 'KEEPER_PRIVATE_KEY'), `0x${key}`);
    assert.equal(parsePrivateKey(`0x${key}`, 'KEEPER_PRIVATE_KEY'), `0x${key}`);
    assert.throws(
      () => parsePrivateKey(`0x${key.slice(1)}`, 'KEEPER_PRIVATE_KEY'),
      (error: unknown) =>
        error instanceof ChainConfigError &&
        error.message.includes('KEEPER_PRIVATE_KEY') &&
        !error.message.includes(key.slice(1)),
    );
  });
});

describe('dev accounts', () => {
  it('are the standard hardhat mnemonic accounts (the ones `hardhat node` prints)', () => {
    const { deployer, keeper, minters } = devAccounts();
    assert.equal(deployer.address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    assert.equal(deployer.privateKey, '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
    assert.equal(keeper.address, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    assert.equal(minters.length, 8);
    assert.equal(minters[0]?.address, '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC');
    for (const a of [deployer, keeper, ...minters]) assert.equal(a.account.address, a.address);
  });
});

describe('startLocalChain', () => {
  it('serves the configured chain id on a free loopback port and funds the dev accounts', async () => {
    const chain = await startLocalChain({ chainId: 1337 });
    after(() => chain.stop());
    assert.match(chain.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(chain.port > 0);
    const client = createChainPublicClient({ rpcUrl: chain.rpcUrl });
    assert.equal(await client.getChainId(), 1337);
    assert.equal(await client.getBalance({ address: devAccounts().keeper.address }), 10_000n * 10n ** 18n);
    assert.equal(await client.getBlockNumber(), 0n);
  });

  it('a port in use is a clear LocalChainError, not a crash', async () => {
    const first = await startLocalChain();
    after(() => first.stop());
    await assert.rejects(
      startLocalChain({ port: first.port }),
      (error: unknown) =>
        error instanceof LocalChainError &&
        error.message.includes(`port ${first.port}`) &&
        /in use/.test(error.message),
    );
  });

  it('stop() frees the port, drops kept-alive connections, and may be called twice', async () => {
    const chain = await startLocalChain();
    const client = createChainPublicClient({ rpcUrl: chain.rpcUrl, timeoutMs: 1_000 });
    await client.getBlockNumber(); // leaves a kept-alive connection open
    await chain.stop();
    await chain.stop();
    await assert.rejects(client.getBlockNumber({ cacheTime: 0 }), (error: unknown) => {
      assert.equal(decodeContractRevert(error), undefined, 'an unreachable node is not a contract revert');
      return true;
    });
    const again = await startLocalChain({ port: chain.port });
    await again.stop();
  });
});

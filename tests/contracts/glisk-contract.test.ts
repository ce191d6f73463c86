// The GLISK test contract on a real local chain: the interface of domain.md section 3, through viem and the ABI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  decodeErrorResult,
  encodeFunctionData,
  keccak256,
  parseEventLogs,
  toEventSelector,
  toHex,
  type Address,
  type Hex,
} from 'viem';
import { createChainWalletClient } from '../../src/providers/chain/client.js';
import { decodeContractRevert } from '../../src/providers/chain/contract-error.js';
import { gliskS0Abi } from '../../src/providers/chain/glisk-s0.abi.js';
import { startTestChain, type DevAccount, type TestChain } from '../helpers/chain.js';

let chain: TestChain;
let minter: DevAccount;
let otherMinter: DevAccount;
let author: Address;
let otherAuthor: Address;

before(async () => {
  chain = await startTestChain();
  const [m0, m1, m2, m3] = chain.accounts.minters;
  assert.ok(m0 && m1 && m2 && m3, 'the helper provides at least four minters');
  minter = m0;
  otherMinter = m1;
  author = m2.address;
  otherAuthor = m3.address;
});
after(() => chain?.stop());

const contract = () => ({ address: chain.contractAddress, abi: gliskS0Abi }) as const;
const nextTokenId = () => chain.publicClient.readContract({ ...contract(), functionName: 'nextTokenId' });
const keeperRole = () => chain.publicClient.readContract({ ...contract(), functionName: 'KEEPER_ROLE' });
const promptAuthorOf = (id: bigint) =>
  chain.publicClient.readContract({ ...contract(), functionName: 'tokenPromptAuthor', args: [id] });
const isRevealed = (id: bigint) =>
  chain.publicClient.readContract({ ...contract(), functionName: 'isRevealed', args: [id] });
const tokenUri = (id: bigint) =>
  chain.publicClient.readContract({ ...contract(), functionName: 'tokenURI', args: [id] });

/** Awaits a promise that must fail with the contract's custom error `name`; returns the decoded args. */
async function expectRevert(promise: Promise<unknown>, name: string): Promise<readonly unknown[]> {
  try {
    await promise;
  } catch (error) {
    const revert = decodeContractRevert(error);
    assert.ok(revert, `expected a decoded contract revert, got: ${String(error)}`);
    assert.equal(revert.name, name);
    return revert.args;
  }
  assert.fail(`expected revert ${name}, but the call succeeded`);
}

async function simulateMint(from: DevAccount, promptAuthor: Address, quantity: bigint, value: bigint) {
  return chain.publicClient.simulateContract({
    account: from.account,
    address: chain.contractAddress,
    abi: gliskS0Abi,
    functionName: 'mint',
    args: [promptAuthor, quantity],
    value,
  });
}

describe('interface constants', () => {
  it('BatchMinted topic0 and KEEPER_ROLE are the hashes domain.md names', async () => {
    assert.equal(
      toEventSelector('BatchMinted(address,address,uint256,uint256,uint256)'),
      keccak256(toHex('BatchMinted(address,address,uint256,uint256,uint256)')),
    );
    const batchMinted = gliskS0Abi.find((item) => item.type === 'event' && item.name === 'BatchMinted');
    assert.ok(batchMinted);
    assert.equal(
      toEventSelector(batchMinted),
      keccak256(toHex('BatchMinted(address,address,uint256,uint256,uint256)')),
    );
    assert.equal(await keeperRole(), keccak256(toHex('KEEPER_ROLE')));
  });

  it('a fresh contract has nextTokenId 1', async () => {
    assert.equal(await nextTokenId(), 1n);
  });
});

describe('mint', () => {
  it('emits BatchMinted with minter, author, start id, quantity and msg.value, and assigns sequential ids', async () => {
    const paid = chain.mintPrice * 3n + 12345n; // overpaying is allowed; totalPaid is msg.value
    const first = await chain.mint({ from: minter, author, quantity: 3, value: paid });
    const events = parseEventLogs({ abi: gliskS0Abi, eventName: 'BatchMinted', logs: first.receipt.logs });
    assert.equal(events.length, 1);
    const [event] = events;
    assert.ok(event);
    assert.equal(event.address.toLowerCase(), chain.contractAddress.toLowerCase());
    assert.deepEqual(event.args, {
      minter: minter.address,
      promptAuthor: author,
      startTokenId: 1n,
      quantity: 3n,
      totalPaid: paid,
    });
    assert.deepEqual(first.tokenIds, [1n, 2n, 3n]);

    const second = await chain.mint({ from: otherMinter, author: otherAuthor, quantity: 50 });
    assert.equal(second.startTokenId, 4n);
    assert.equal(second.tokenIds.at(-1), 53n);
    assert.ok(second.blockNumber > first.blockNumber, 'automine puts each mint in its own block');
    assert.equal(await nextTokenId(), 54n);
  });

  it('records the prompt author of every id and makes the minter the owner', async () => {
    assert.equal(await promptAuthorOf(1n), author);
    assert.equal(await promptAuthorOf(3n), author);
    assert.equal(await promptAuthorOf(4n), otherAuthor);
    assert.equal(await promptAuthorOf(53n), otherAuthor);
    assert.equal(await promptAuthorOf(54n), '0x0000000000000000000000000000000000000000');
    const owner = await chain.publicClient.readContract({
      address: chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'ownerOf',
      args: [53n],
    });
    assert.equal(owner, otherMinter.address);
  });

  it('reverts InvalidQuantity for 0 and ExceedsMaxBatchSize for 51, through simulate and through a write', async () => {
    await expectRevert(simulateMint(minter, author, 0n, 0n), 'InvalidQuantity');
    await expectRevert(simulateMint(minter, author, 51n, chain.mintPrice * 51n), 'ExceedsMaxBatchSize');
    await expectRevert(chain.mint({ from: minter, author, quantity: 0 }), 'InvalidQuantity');
    await expectRevert(chain.mint({ from: minter, author, quantity: 51 }), 'ExceedsMaxBatchSize');
    assert.equal(await nextTokenId(), 54n, 'a reverted mint assigns no ids');
  });

  it('reverts InsufficientPayment when paying less than price x quantity', async () => {
    await expectRevert(simulateMint(minter, author, 2n, chain.mintPrice * 2n - 1n), 'InsufficientPayment');
    await expectRevert(chain.mint({ from: minter, author, quantity: 1, value: 0n }), 'InsufficientPayment');
  });

  it('reverts MintingDisabled while the admin has minting off, and mints again once it is back on', async () => {
    const admin = chain.accounts.deployer;
    const toggle = async (enabled: boolean) => {
      const { request } = await chain.publicClient.simulateContract({
        account: admin.account,
        address: chain.contractAddress,
        abi: gliskS0Abi,
        functionName: 'setMintingEnabled',
        args: [enabled],
      });
      const wallet = createChainWalletClient({
        rpcUrl: chain.rpcUrl,
        chain: chain.chain,
        privateKey: admin.privateKey,
      });
      const hash = await wallet.writeContract(request);
      await chain.publicClient.waitForTransactionReceipt({ hash });
    };
    await toggle(false);
    try {
      await expectRevert(chain.mint({ from: minter, author, quantity: 1 }), 'MintingDisabled');
    } finally {
      await toggle(true);
    }
    const again = await chain.mint({ from: minter, author, quantity: 1 });
    assert.equal(again.startTokenId, 54n);
  });

  it('only the admin may change the price or disable minting', async () => {
    const args = await expectRevert(
      chain.publicClient.simulateContract({
        account: minter.account,
        address: chain.contractAddress,
        abi: gliskS0Abi,
        functionName: 'setMintPrice',
        args: [0n],
      }),
      'AccessControlUnauthorizedAccount',
    );
    assert.deepEqual(args, [minter.address, '0x' + '0'.repeat(64)]);
  });
});

describe('revealTokens and tokenURI', () => {
  it('tokenURI is the shared placeholder before reveal and reverts for an unminted id', async () => {
    assert.equal(await tokenUri(1n), chain.placeholderUri);
    assert.equal(await tokenUri(53n), chain.placeholderUri);
    const args = await expectRevert(tokenUri(999n), 'ERC721NonexistentToken');
    assert.deepEqual(args, [999n]);
    assert.equal(await isRevealed(1n), false);
    assert.equal(await isRevealed(999n), false, 'unknown ids read as not revealed');
  });

  it('the keeper reveals a batch: TokensRevealed lists the ids, tokenURI and isRevealed follow', async () => {
    const ids = [1n, 2n, 4n];
    const uris = ['ipfs://bafkreione', 'ipfs://bafkreitwo', 'ipfs://bafkreifour'];
    const { receipt } = await chain.reveal(ids, uris);
    const events = parseEventLogs({ abi: gliskS0Abi, eventName: 'TokensRevealed', logs: receipt.logs });
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]?.args.tokenIds, ids);
    for (const [i, id] of ids.entries()) {
      assert.equal(await isRevealed(id), true);
      assert.equal(await tokenUri(id), uris[i]);
    }
    assert.equal(await isRevealed(3n), false);
    assert.equal(await tokenUri(3n), chain.placeholderUri);
  });

  it('the admin may reveal too', async () => {
    await chain.reveal([5n], ['ipfs://bafkreifive'], chain.accounts.deployer);
    assert.equal(await tokenUri(5n), 'ipfs://bafkreifive');
  });

  it('a stranger is refused with AccessControlUnauthorizedAccount(stranger, KEEPER_ROLE)', async () => {
    const args = await expectRevert(
      chain.reveal([6n], ['ipfs://x'], otherMinter),
      'AccessControlUnauthorizedAccount',
    );
    assert.deepEqual(args, [otherMinter.address, keccak256(toHex('KEEPER_ROLE'))]);
    assert.equal(await isRevealed(6n), false);
  });

  it('revealing a revealed id reverts AlreadyRevealed(id) and reveals none of the batch', async () => {
    const args = await expectRevert(
      chain.reveal([6n, 2n, 7n], ['ipfs://a', 'ipfs://b', 'ipfs://c']),
      'AlreadyRevealed',
    );
    assert.deepEqual(args, [2n]);
    assert.equal(await isRevealed(6n), false, 'all-or-nothing: the id before the bad one is not revealed');
    assert.equal(await tokenUri(2n), 'ipfs://bafkreitwo', 'the first reveal stands');
  });

  it('mismatched ids and uris revert LengthMismatch', async () => {
    await expectRevert(chain.reveal([6n, 7n], ['ipfs://a']), 'LengthMismatch');
    await expectRevert(chain.reveal([6n], ['ipfs://a', 'ipfs://b']), 'LengthMismatch');
    assert.equal(await isRevealed(6n), false);
  });
});

describe('transactions behave as on a real node', () => {
  it('a reverting transaction sent with its own gas limit is mined with a reverted receipt, not refused', async () => {
    const stranger = createChainWalletClient({
      rpcUrl: chain.rpcUrl,
      chain: chain.chain,
      privateKey: otherMinter.privateKey,
    });
    // An explicit gas limit skips estimation, so the node itself must accept and mine the failing transaction.
    const hash = await stranger.writeContract({
      address: chain.contractAddress,
      abi: gliskS0Abi,
      functionName: 'revealTokens',
      args: [[6n], ['ipfs://x']],
      gas: 200_000n,
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'reverted');
    assert.equal(await isRevealed(6n), false);
  });

  it('a reverted call is answered with code 3 "execution reverted" and the revert data, as geth and Alchemy do', async () => {
    const response = await fetch(chain.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'eth_call',
        params: [
          {
            to: chain.contractAddress,
            data: encodeFunctionData({ abi: gliskS0Abi, functionName: 'tokenURI', args: [999n] }),
          },
          'latest',
        ],
      }),
    });
    const body = (await response.json()) as { error?: { code?: number; data?: { data?: string } } };
    assert.equal(body.error?.code, 3);
    const data = body.error?.data?.data;
    assert.ok(data?.startsWith('0x'));
    const decoded = decodeErrorResult({ abi: gliskS0Abi, data: data as Hex });
    assert.equal(decoded.errorName, 'ERC721NonexistentToken');
    assert.deepEqual(decoded.args, [999n]);
  });
});

describe('test chain helper', () => {
  it('mine(n) adds n empty blocks at once', async () => {
    const before = await chain.publicClient.getBlockNumber();
    await chain.mine(25);
    assert.equal(await chain.publicClient.getBlockNumber(), before + 25n);
    const block = await chain.publicClient.getBlock({ blockNumber: before + 25n });
    assert.equal(block.transactions.length, 0);
  });
});

// `npm run mint`: mints GLISK tokens on a chain (normally the one `npm run chain` runs) and prints their ids.
import { parseArgs } from 'node:util';
import {
  BaseError,
  formatEther,
  getAddress,
  HttpRequestError,
  isAddress,
  parseEventLogs,
  TimeoutError,
  type Address,
  type Hex,
} from 'viem';
import { connectSigner, parsePrivateKey } from '../providers/chain/client.js';
import { decodeContractRevert, type ContractRevert } from '../providers/chain/contract-error.js';
import { gliskS0Abi } from '../providers/chain/glisk-s0.abi.js';
import { devAccounts } from '../dev/local-chain.js';
import { loadConfig } from '../config.js';
import { ChainConfigError, ConfigError, UsageError } from '../errors.js';
import { localServiceUrl, printLine, runCli, type CliIo, type CliOutput } from './run.js';

const defaultRpcUrl = 'http://127.0.0.1:8545';
const DEFAULT_WAIT_SECONDS = 15;
const SERVICE_POLL_MS = 200;

const HELP = `Usage: npm run mint -- --author <0x address> --quantity <n> [options]

Calls mint(author, quantity) on the GLISK contract, paying mintPrice x quantity, waits for the receipt and
prints the transaction hash, block and token ids (from the BatchMinted event). Then waits (at most --wait
seconds) until the service at --api-url has the tokens (GET /api/tokens/<last id> answers 200) and says so;
when no service answers there it says that instead. Either way the mint itself succeeded (exit 0).

Options:
  --author <0x..>       prompt author wallet (required; mixed case must be a valid checksum)
  --quantity <n>        tokens to mint (required; the contract accepts 1 to 50)
  --rpc-url <url>       JSON-RPC URL (default: RPC_URL / ALCHEMY_API_KEY+NETWORK from .env, else ${defaultRpcUrl})
  --contract <0x..>     contract address (default: GLISK_NFT_CONTRACT_ADDRESS from .env)
  --private-key <0x..>  minter key (default: hardhat dev account #2, as printed by \`npm run chain\`)
  --value <wei>         amount to pay instead of mintPrice x quantity
  --api-url <url>       the service to wait for (default: http://127.0.0.1:PORT, PORT from .env, else 8000)
  --wait <s>            longest wait for the service, 0 to 600 seconds (default ${DEFAULT_WAIT_SECONDS}; 0: do not wait)
  --help                show this help

Exit status: 0 minted, 1 the mint failed (reverted, chain unreachable, no contract), 2 bad arguments.`;

class MintFailure extends Error {}

interface MintOptions {
  author: Address;
  quantity: bigint;
  rpcUrl: string;
  contract: Address;
  privateKey: Hex;
  value: bigint | undefined;
  /** The service to wait for; undefined when its port is unknown (PORT=0). */
  apiUrl: string | undefined;
  waitMs: number;
}

function parseOptions(argv: string[], env: CliIo['env']): MintOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      author: { type: 'string' },
      quantity: { type: 'string' },
      'rpc-url': { type: 'string' },
      contract: { type: 'string' },
      'private-key': { type: 'string' },
      value: { type: 'string' },
      'api-url': { type: 'string' },
      wait: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  if (values.author === undefined) throw new UsageError('--author is required');
  if (values.quantity === undefined) throw new UsageError('--quantity is required');
  const author = parseAddress(values.author, '--author');
  // Range checks (0, above 50) are the contract's: its custom errors are reported below.
  if (!/^\d+$/.test(values.quantity)) {
    throw new UsageError(`--quantity must be a whole number, got "${values.quantity}"`);
  }
  const value = values.value;
  if (value !== undefined && !/^\d+$/.test(value)) {
    throw new UsageError(`--value must be an amount in wei (a whole number), got "${value}"`);
  }

  const wait = values.wait ?? String(DEFAULT_WAIT_SECONDS);
  if (!/^\d+$/.test(wait) || Number(wait) > 600) {
    throw new UsageError(`--wait must be a whole number of seconds from 0 to 600, got "${wait}"`);
  }
  const waitMs = Number(wait) * 1000;

  let rpcUrl = values['rpc-url'];
  let contract = values.contract === undefined ? undefined : parseAddress(values.contract, '--contract');
  let apiUrl = values['api-url'];
  if (apiUrl !== undefined) apiUrl = httpUrl(apiUrl, '--api-url').replace(/\/+$/, '');
  let apiUrlKnown = apiUrl !== undefined || waitMs === 0;
  if (rpcUrl === undefined || contract === undefined || !apiUrlKnown) {
    // Only consulted for what the flags leave open, so a .env unrelated to minting cannot get in the way.
    const config = loadConfig(env);
    rpcUrl ??= config.chain.rpcUrl ?? defaultRpcUrl;
    contract ??= config.chain.contractAddress;
    if (!apiUrlKnown) {
      apiUrl = localServiceUrl(config);
      apiUrlKnown = true;
    }
  }
  if (contract === undefined) {
    throw new UsageError(
      '--contract is required when GLISK_NFT_CONTRACT_ADDRESS is not set (see `npm run chain`)',
    );
  }
  httpUrl(rpcUrl, '--rpc-url');
  const privateKey =
    values['private-key'] === undefined
      ? defaultMinterKey()
      : parsePrivateKey(values['private-key'], '--private-key');

  return {
    author,
    quantity: BigInt(values.quantity),
    rpcUrl,
    contract,
    privateKey,
    value: value === undefined ? undefined : BigInt(value),
    apiUrl,
    waitMs,
  };
}

function httpUrl(value: string, flag: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(`${flag} must be an http(s) URL, got "${value}"`);
  }
  return value;
}

function parseAddress(value: string, flag: string): Address {
  if (!isAddress(value)) {
    throw new UsageError(
      `${flag} must be a 0x address of 40 hex digits (mixed case must be a valid checksum), got "${value}"`,
    );
  }
  return getAddress(value);
}

function defaultMinterKey(): Hex {
  const minter = devAccounts().minters[0];
  if (minter === undefined) throw new UsageError('no dev minter account; pass --private-key');
  return minter.privateKey;
}

/** The URL without path or credentials: an Alchemy URL carries its API key in the path. */
function describeEndpoint(rpcUrl: string): string {
  const url = new URL(rpcUrl);
  return url.pathname.length > 1 || url.username !== '' ? `${url.origin}/…` : url.origin;
}

function explainRevert(revert: ContractRevert, options: MintOptions, paid: bigint): string {
  switch (revert.name) {
    case 'InvalidQuantity':
      return `quantity ${options.quantity} is not allowed: mint at least 1 (contract error InvalidQuantity)`;
    case 'ExceedsMaxBatchSize':
      return `quantity ${options.quantity} is above the contract's limit of 50 per mint (contract error ExceedsMaxBatchSize)`;
    case 'InsufficientPayment':
      return `paying ${paid} wei is less than mintPrice x quantity (contract error InsufficientPayment)`;
    case 'MintingDisabled':
      return 'minting is disabled on this contract (contract error MintingDisabled)';
    default: {
      const args = revert.args.map((a) => String(a)).join(', ');
      return `the contract reverted with ${revert.name}(${args})${revert.reason ? `: ${revert.reason}` : ''}`;
    }
  }
}

function explainFailure(error: unknown, options: MintOptions, paid: bigint): string {
  const revert = decodeContractRevert(error);
  if (revert !== undefined) return explainRevert(revert, options, paid);
  if (error instanceof BaseError) {
    const unreachable = error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError);
    if (unreachable !== null) {
      return `cannot reach the chain at ${describeEndpoint(options.rpcUrl)} (is \`npm run chain\` running?)`;
    }
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}

async function mint(
  options: MintOptions,
  stdout: CliOutput,
): Promise<{ startTokenId: bigint; lastTokenId: bigint }> {
  const endpoint = describeEndpoint(options.rpcUrl);
  const { chain, publicClient, wallet } = await connectSigner({
    rpcUrl: options.rpcUrl,
    privateKey: options.privateKey,
    pollingIntervalMs: 250,
    probeTimeoutMs: 5_000,
  });
  const chainId = chain.id;
  const code = await publicClient.getCode({ address: options.contract });
  if (code === undefined || code === '0x') {
    throw new MintFailure(`no contract at ${options.contract} on chain ${chainId} (${endpoint})`);
  }
  const price = await publicClient.readContract({
    address: options.contract,
    abi: gliskS0Abi,
    functionName: 'mintPrice',
  });
  const paid = options.value ?? price * options.quantity;
  printLine(
    stdout,
    `mint: minting ${options.quantity} for author ${options.author} from ${wallet.account.address} ` +
      `on chain ${chainId} (${endpoint}), paying ${formatEther(paid)} ETH ...`,
  );

  let txHash: Hex;
  try {
    const { request } = await publicClient.simulateContract({
      account: wallet.account,
      address: options.contract,
      abi: gliskS0Abi,
      functionName: 'mint',
      args: [options.author, options.quantity],
      value: paid,
    });
    txHash = await wallet.writeContract(request);
  } catch (error) {
    throw new MintFailure(explainFailure(error, options, paid));
  }
  printLine(stdout, `mint: sent ${txHash}, waiting for the receipt ...`);
  const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 120_000 });
  if (receipt.status !== 'success') {
    throw new MintFailure(`transaction ${txHash} reverted in block ${receipt.blockNumber}`);
  }
  const [minted] = parseEventLogs({ abi: gliskS0Abi, eventName: 'BatchMinted', logs: receipt.logs });
  if (minted === undefined) throw new MintFailure(`transaction ${txHash} emitted no BatchMinted event`);
  const { startTokenId, quantity, totalPaid } = minted.args;
  const lastTokenId = startTokenId + quantity - 1n;
  printLine(stdout, `tx hash:   ${txHash}`);
  printLine(stdout, `block:     ${receipt.blockNumber}`);
  printLine(
    stdout,
    `token ids: ${startTokenId === lastTokenId ? startTokenId : `${startTokenId}..${lastTokenId}`}`,
  );
  printLine(stdout, `minter:    ${minted.args.minter}`);
  printLine(stdout, `author:    ${minted.args.promptAuthor}`);
  printLine(stdout, `paid:      ${formatEther(totalPaid)} ETH`);
  return { startTokenId, lastTokenId };
}

/**
 * Polls GET /api/tokens/<last> until the service answers 200 (the ingest writes a mint's tokens in one
 * transaction: the last one there means all are), no service answers, or `waitMs` passes.
 */
async function waitForService(
  options: MintOptions,
  ids: { startTokenId: bigint; lastTokenId: bigint },
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<void> {
  if (options.waitMs === 0) return;
  const range =
    ids.startTokenId === ids.lastTokenId ? `${ids.lastTokenId}` : `${ids.startTokenId}..${ids.lastTokenId}`;
  if (options.apiUrl === undefined) {
    printLine(io.stderr, "mint: PORT=0, so the service's address is unknown: pass --api-url to wait for it");
    return;
  }
  const url = `${options.apiUrl}/api/tokens/${ids.lastTokenId}`;
  const started = performance.now();
  const deadline = started + options.waitMs;
  let last = '';
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) {
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        printLine(io.stdout, `service:   has token ids ${range} after ${seconds} s (${url})`);
        return;
      }
      last = `it answers ${response.status}`;
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      if (code === 'ECONNREFUSED') {
        printLine(
          io.stderr,
          `mint: no service answers at ${options.apiUrl}, so not waiting for it (--api-url)`,
        );
        return;
      }
      last = error instanceof Error && error.name === 'TimeoutError' ? 'it does not answer' : String(error);
    }
    if (performance.now() + SERVICE_POLL_MS > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, SERVICE_POLL_MS));
  }
  printLine(
    io.stderr,
    `mint: the service at ${options.apiUrl} does not have token ${ids.lastTokenId} after ${options.waitMs / 1000} s ` +
      `(${last}): does it follow this chain (CHAIN_FOLLOWER_ENABLED=true and the lines \`npm run chain\` printed)?`,
  );
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  let options: MintOptions;
  try {
    const parsed = parseOptions(argv, io.env);
    if (parsed === 'help') {
      printLine(io.stdout, HELP);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (error instanceof ConfigError) {
      printLine(io.stderr, `mint: ${error.message}`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    printLine(io.stderr, `mint: ${message}${error instanceof ChainConfigError ? '' : ' (see --help)'}`);
    return 2;
  }
  try {
    const ids = await mint(options, io.stdout);
    await waitForService(options, ids, io);
    return 0;
  } catch (error) {
    const message = error instanceof MintFailure ? error.message : explainFailure(error, options, 0n);
    printLine(io.stderr, `mint: failed: ${message}`);
    return 1;
  }
}

await runCli(import.meta.url, main);

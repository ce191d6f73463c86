// `npm run chain`: a local GLISK chain for development, running until Ctrl-C.
import { parseArgs } from 'node:util';
import { deployGlisk, localChainId, startLocalChain, type LocalChain } from '../dev/local-chain.js';
import { UsageError } from '../errors.js';
import { printLine, runCli, type CliIo } from './run.js';

const HELP = `Usage: npm run chain [-- --port 8545] [--host 127.0.0.1] [--chain-id 31337]

Starts a local EVM (hardhat 2, in this process) serving JSON-RPC, deploys the GLISK Season 0 test contract,
grants KEEPER_ROLE to a dev keeper key, and prints the lines to put in .env. Automines every transaction.
Runs until Ctrl-C; the chain's state is in memory and is gone when it stops.

Options:
  --port <n>       TCP port (default 8545; 0 picks a free one)
  --host <addr>    interface to listen on (default 127.0.0.1)
  --chain-id <n>   chain id (default ${localChainId})
  --help           show this help

The keys are the public hardhat development keys: never use them on a real network.
Exit status: 0 stopped by Ctrl-C/SIGTERM, 1 could not start, 2 bad arguments.`;

function parseIntegerFlag(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
) {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}

export type ChainOptions = {
  /** Stops the chain as SIGTERM does (tests); a real run listens for SIGINT and SIGTERM. */
  signal?: AbortSignal;
};

export async function main(argv: string[], io: CliIo, opts: ChainOptions = {}): Promise<number> {
  const say = (text: string): void => printLine(io.stdout, text);
  const warn = (text: string): void => printLine(io.stderr, text);
  let options: { port: number; host: string; chainId: number };
  try {
    const { values } = parseArgs({
      args: argv.filter((arg) => arg !== '--'),
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'chain-id': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) {
      say(HELP);
      return 0;
    }
    options = {
      port: parseIntegerFlag(values.port, 'port', 0, 65_535, 8545),
      host: values.host ?? '127.0.0.1',
      chainId: parseIntegerFlag(values['chain-id'], 'chain-id', 1, 2 ** 32 - 1, localChainId),
    };
  } catch (error) {
    warn(`chain: ${error instanceof Error ? error.message : String(error)} (see --help)`);
    return 2;
  }

  const started = performance.now();
  say(`chain: starting a local chain (id ${options.chainId}) on ${options.host}:${options.port} ...`);
  let chain: LocalChain | undefined;
  try {
    chain = await startLocalChain(options);
    const deployment = await deployGlisk({ rpcUrl: chain.rpcUrl });
    const { keeper, minters } = deployment.accounts;
    const minter = minters[0];
    const elapsed = Math.round(performance.now() - started);
    say(
      `chain: serving ${chain.rpcUrl}; GliskS0 deployed at ${deployment.contractAddress} ` +
        `(block ${deployment.deployBlock}), keeper ${keeper.address}, ready in ${elapsed} ms`,
    );
    say('');
    say('# Local GLISK chain: paste into .env (public hardhat dev keys; never use them on a real network)');
    say(`RPC_URL=${chain.rpcUrl}`);
    say(`GLISK_NFT_CONTRACT_ADDRESS=${deployment.contractAddress}`);
    say(`KEEPER_PRIVATE_KEY=${keeper.privateKey}`);
    say('# No Alchemy webhook locally: follow the chain from the deployment block. It mines only on');
    say('# transactions, so a confirmation depth above 0 would hold back the latest mint.');
    say('CHAIN_FOLLOWER_ENABLED=true');
    say(`FOLLOWER_START_BLOCK=${deployment.deployBlock}`);
    say('CONFIRMATIONS=0');
    say('# Poll every second (the default 5 s is for real networks): a mint shows in the API within ~1 s.');
    say('POLL_INTERVAL_SECONDS=1');
    if (minter !== undefined) {
      say(`# Minter (dev account #2, the default of \`npm run mint\`): ${minter.address}`);
      say(`# MINTER_PRIVATE_KEY=${minter.privateKey}`);
    }
    say('');
    say(`chain: mint with \`npm run mint -- --author <0x address> --quantity <1-50>\`; Ctrl-C to stop`);
  } catch (error) {
    warn(`chain: could not start: ${error instanceof Error ? error.message : String(error)}`);
    await chain?.stop();
    return 1;
  }

  const running = chain;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        warn(`chain: ${signal} again, exiting without waiting`);
        process.exit(130);
      }
      stopping = true;
      say(`chain: ${signal} received, stopping`);
      running.stop().then(
        () => {
          say('chain: stopped');
          resolve(0);
        },
        (error: unknown) => {
          warn(`chain: stop failed: ${error instanceof Error ? error.message : String(error)}`);
          resolve(1);
        },
      );
    };
    if (opts.signal) {
      opts.signal.addEventListener('abort', () => onSignal('SIGTERM'), { once: true });
      return;
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

await runCli(import.meta.url, main);

// `npm run chain`: a local GLISK chain for development, running until Ctrl-C.
import { parseArgs } from 'node:util';
import { deployGlisk, localChainId, startLocalChain, type LocalChain } from '../dev/local-chain.js';
import { UsageError } from '../errors.js';

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

async function main(argv: string[]): Promise<number> {
  let options: { port: number; host: string; chainId: number };
  try {
    const { values } = parseArgs({
      args: argv,
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
      console.log(HELP);
      return 0;
    }
    options = {
      port: parseIntegerFlag(values.port, 'port', 0, 65_535, 8545),
      host: values.host ?? '127.0.0.1',
      chainId: parseIntegerFlag(values['chain-id'], 'chain-id', 1, 2 ** 32 - 1, localChainId),
    };
  } catch (error) {
    console.error(`chain: ${error instanceof Error ? error.message : String(error)} (see --help)`);
    return 2;
  }

  const started = performance.now();
  console.log(`chain: starting a local chain (id ${options.chainId}) on ${options.host}:${options.port} ...`);
  let chain: LocalChain | undefined;
  try {
    chain = await startLocalChain(options);
    const deployment = await deployGlisk({ rpcUrl: chain.rpcUrl });
    const { keeper, minters } = deployment.accounts;
    const minter = minters[0];
    const elapsed = Math.round(performance.now() - started);
    console.log(
      `chain: serving ${chain.rpcUrl}; GliskS0 deployed at ${deployment.contractAddress} ` +
        `(block ${deployment.deployBlock}), keeper ${keeper.address}, ready in ${elapsed} ms`,
    );
    console.log('');
    console.log(
      '# Local GLISK chain: paste into .env (public hardhat dev keys; never use them on a real network)',
    );
    console.log(`RPC_URL=${chain.rpcUrl}`);
    console.log(`GLISK_NFT_CONTRACT_ADDRESS=${deployment.contractAddress}`);
    console.log(`KEEPER_PRIVATE_KEY=${keeper.privateKey}`);
    console.log('# No Alchemy webhook locally: follow the chain from the deployment block. It mines only on');
    console.log('# transactions, so a confirmation depth above 0 would hold back the latest mint.');
    console.log('CHAIN_FOLLOWER_ENABLED=true');
    console.log(`FOLLOWER_START_BLOCK=${deployment.deployBlock}`);
    console.log('CONFIRMATIONS=0');
    if (minter !== undefined) {
      console.log(`# Minter (dev account #2, the default of \`npm run mint\`): ${minter.address}`);
      console.log(`# MINTER_PRIVATE_KEY=${minter.privateKey}`);
    }
    console.log('');
    console.log(
      `chain: mint with \`npm run mint -- --author <0x address> --quantity <1-50>\`; Ctrl-C to stop`,
    );
  } catch (error) {
    console.error(`chain: could not start: ${error instanceof Error ? error.message : String(error)}`);
    await chain?.stop();
    return 1;
  }

  const running = chain;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        console.error(`chain: ${signal} again, exiting without waiting`);
        process.exit(130);
      }
      stopping = true;
      console.log(`chain: ${signal} received, stopping`);
      running.stop().then(
        () => {
          console.log('chain: stopped');
          resolve(0);
        },
        (error: unknown) => {
          console.error(`chain: stop failed: ${error instanceof Error ? error.message : String(error)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

process.exitCode = await main(process.argv.slice(2));

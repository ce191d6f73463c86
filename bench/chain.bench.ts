// `npm run bench:chain`: how long a test file waits for its chain (start, deploy, keeper grant), and how long
// a 50-token mint takes on it. Prints figures; asserts nothing.
import { parseArgs } from 'node:util';
import { deployGlisk, startLocalChain } from '../src/dev/local-chain.js';
import { startTestChain } from '../tests/helpers/chain.js';
import { percentile } from './statistics.js';

const HELP = `Usage: npm run bench:chain [-- --runs N]

Starts and stops the local chain N times (default 10) in this process and prints the time to a served chain,
to a deployed contract with the keeper role granted, and the latency of a 50-token mint.`;

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  return `${label.padEnd(34)} median ${fmt(percentile(sorted, 50))}  p90 ${fmt(percentile(sorted, 90))}  max ${fmt(sorted.at(-1) ?? NaN)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const runs = Number(values.runs ?? '10');
  if (!Number.isInteger(runs) || runs < 1) {
    console.error('bench:chain: --runs must be a positive integer');
    return 2;
  }

  const coldStarted = performance.now();
  const cold = await startTestChain();
  const coldMs = performance.now() - coldStarted;
  await cold.stop();

  const served: number[] = [];
  const deployed: number[] = [];
  const helper: number[] = [];
  const mints: number[] = [];
  // On a terminal one line rewritten in place; piped (a log, CI), one line per run.
  const tty = process.stdout.isTTY === true;
  for (let run = 1; run <= runs; run++) {
    process.stdout.write(tty ? `\rbench:chain: run ${run}/${runs}` : `bench:chain: run ${run}/${runs}\n`);
    const t0 = performance.now();
    const chain = await startLocalChain();
    const t1 = performance.now();
    await deployGlisk({ rpcUrl: chain.rpcUrl });
    const t2 = performance.now();
    await chain.stop();
    served.push(t1 - t0);
    deployed.push(t2 - t0);

    const t3 = performance.now();
    const test = await startTestChain();
    helper.push(performance.now() - t3);
    try {
      const [minter, author] = test.accounts.minters;
      if (minter === undefined || author === undefined) throw new Error('too few dev accounts');
      const t4 = performance.now();
      await test.mint({ from: minter, author: author.address, quantity: 50 });
      mints.push(performance.now() - t4);
    } finally {
      await test.stop();
    }
  }
  if (tty) process.stdout.write('\n');
  console.log(`first startTestChain in a process (modules loading) ${coldMs.toFixed(0)} ms`);
  console.log(summary('startLocalChain (served)', served));
  console.log(summary('startLocalChain + deployGlisk', deployed));
  console.log(summary('startTestChain (what a test waits)', helper));
  console.log(summary('mint of 50 incl. receipt', mints));
  return 0;
}

process.exitCode = await main();

// The chain setup of the detection tests (log follower, gap scan, mint-detection workers, recover, webhook): a
// fresh local chain with GliskS0, a provider-like JSON-RPC proxy in front of it, the mint scenario on chain
// (mint-scenario.ts: 58 tokens in 3 mints of one block), and databases that are dropped with the rest. Usage,
// inside a describe():
//   const onChain = scenarioChain({ after: (chain) => mineOneByOne(chain, 3) });
//   it('...', async () => { const t = await onChain.database(); ... onChain.proxy.url ... onChain.scenario ... });
import { after, before } from 'node:test';
import { startTestChain, type TestChain } from './chain.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.js';
import { mintScenario, type Scenario } from './mint-scenario.js';
import { startRpcProxy, type RpcProxy } from './rpc-proxy.js';

export type ScenarioChain = {
  readonly chain: TestChain;
  /** In front of `chain`; what the code under test talks to. */
  readonly proxy: RpcProxy;
  readonly scenario: Scenario;
  /** A new database cloned from the migrated template, dropped after the describe's tests. */
  database: (options?: TestDatabaseOptions) => Promise<TestDatabase>;
};

export type ScenarioChainOptions = {
  /** On chain before the scenario is minted (e.g. history for a search to go through). */
  before?: (chain: TestChain) => Promise<void>;
  /** On chain after it, before the first test (e.g. blocks on top, reveals). */
  after?: (chain: TestChain, scenario: Scenario) => Promise<void>;
};

/** Registers before/after hooks in the current describe (or file) and returns what they set up. */
export function scenarioChain(options: ScenarioChainOptions = {}): ScenarioChain {
  let chain: TestChain | undefined;
  let proxy: RpcProxy | undefined;
  let scenario: Scenario | undefined;
  const databases: TestDatabase[] = [];
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined)
      throw new Error(`scenarioChain: ${name} is set up in before(), read it in a test`);
    return value;
  };

  before(async () => {
    chain = await startTestChain();
    proxy = await startRpcProxy(chain.rpcUrl);
    await options.before?.(chain);
    scenario = await mintScenario(chain);
    await options.after?.(chain, scenario);
  });
  after(async () => {
    await Promise.all(databases.map((d) => d.drop()));
    await proxy?.stop();
    await chain?.stop();
  });

  return {
    get chain() {
      return ready(chain, 'chain');
    },
    get proxy() {
      return ready(proxy, 'proxy');
    },
    get scenario() {
      return ready(scenario, 'scenario');
    },
    database: async (databaseOptions) => {
      const t = await createTestDatabase(databaseOptions);
      databases.push(t);
      return t;
    },
  };
}

/**
 * Mines `blocks` blocks, one per call: hardhat_mine with n > 1 reserves blocks whose historical state eth_call
 * does not see (the contract reads as absent there); one block per call keeps every block real, as on a live
 * chain.
 */
export async function mineOneByOne(chain: TestChain, blocks: number): Promise<void> {
  for (let i = 0; i < blocks; i++) await chain.mine(1);
}

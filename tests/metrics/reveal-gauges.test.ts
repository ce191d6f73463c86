// The reveal stage's state as gauges in the API's /metrics: what the reveal stage of any process stored in
// PostgreSQL (its state and reason per keeper, the balance it read, the batch in flight and its nonce, the last
// transaction, whether each chain part reaches the node). This app runs no reveal stage of its own: the rows are
// written as a worker process writes them. The gauges are cached like the token gauges (one read per interval,
// never a query per scrape), and no label names a keeper.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reasonCodeLabel } from '../../src/metrics/reveal-gauges.js';
import * as systemState from '../../src/repositories/system-state.repository.js';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';

const KEEPER = `0x${'ab'.repeat(20)}`;

let app: TestApp;
before(async () => {
  app = await startTestApp({ env: { METRICS_REFRESH_SECONDS: '0.05' } });
});
after(() => app.close());

async function scrape(): Promise<string> {
  return (await fetch(`${app.url}/metrics`)).text();
}

/** The value of the one series of `name` whose labels include `labels` (undefined when absent). */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) return Number(match[3]);
  }
  return undefined;
}

async function storeRevealStatus(state: string, code: string | null, balanceWei: string): Promise<void> {
  const now = new Date().toISOString();
  await systemState.set(app.testDb.db, `reveal_status_${KEEPER}`, {
    keeperAddress: KEEPER,
    state,
    code,
    reason: code === null ? null : `test: ${code}`,
    since: now,
    keeperBalanceWei: balanceWei,
    balanceCheckedAt: now,
    nextRetryAt: null,
  });
}

describe('reveal status gauges', { timeout: 60_000 }, () => {
  it('show the stored state and reason, balance, batch in flight, nonce, last transaction, chain reach', async () => {
    // Nothing stored yet: no keeper in any state, unknowns are NaN.
    let text = await scrape();
    assert.equal(value(text, 'glisk_reveal_keepers', { state: 'stalled' }), 0);
    assert.ok(Number.isNaN(value(text, 'glisk_reveal_pending_nonce')));
    assert.ok(Number.isNaN(value(text, 'glisk_reveal_last_transaction_age_seconds')));
    assert.equal(value(text, 'glisk_reveal_batches_in_flight'), 0);

    await storeRevealStatus('stalled', 'CHAIN_UNREACHABLE', '1500000000000000000');
    await systemState.set(app.testDb.db, 'chain_status_reveal', {
      source: 'reveal',
      reachable: false,
      code: 'CHAIN_UNREACHABLE',
      endpoint: 'http://127.0.0.1:1',
      detail: 'refused',
      since: new Date().toISOString(),
      checkedAt: new Date().toISOString(),
      nextRetryAt: null,
    });
    const author = await insertAuthor(app.testDb.db, 1);
    const [token] = await insertTokens(app.testDb.db, author, [1]);
    assert.ok(token);
    const [batch] = await app.testDb.sql<{ id: string }[]>`
      insert into reveal_transactions (token_ids, keeper_address, tx_hash, nonce, status, sent_at)
      values (array[${token.id}]::uuid[], ${KEEPER}, ${`0x${'cd'.repeat(32)}`}, 7, 'sent', now())
      returning id`;
    await app.testDb.sql`
      insert into reveal_attempts (reveal_transaction_id, bump, nonce, raw_transaction, tx_hash,
                                   max_fee_per_gas_wei, max_priority_fee_per_gas_wei, gas_limit, status,
                                   broadcast_at)
      values (${batch?.id ?? ''}, 0, 7, '0x02ab', ${`0x${'cd'.repeat(32)}`}, 1, 1, 21000, 'broadcast',
              now() - interval '120 seconds')`;

    await waitUntil(
      async () => {
        text = await scrape();
        return value(text, 'glisk_reveal_keepers', { state: 'stalled', code: 'CHAIN_UNREACHABLE' }) === 1;
      },
      { what: 'the stalled keeper in a scrape' },
    );
    assert.equal(value(text, 'glisk_reveal_keepers', { state: 'idle', code: 'none' }), 0);
    assert.equal(value(text, 'glisk_reveal_lowest_keeper_balance_wei'), 1.5e18);
    assert.equal(value(text, 'glisk_reveal_batches_in_flight'), 1);
    assert.equal(value(text, 'glisk_reveal_pending_nonce'), 7);
    const age = value(text, 'glisk_reveal_last_transaction_age_seconds') ?? 0;
    assert.ok(age >= 119 && age < 300, `last transaction age ${age}`);
    assert.equal(value(text, 'glisk_chain_reachable', { part: 'reveal' }), 0);
    assert.doesNotMatch(text, new RegExp(KEEPER.slice(2), 'i'), 'no label names the keeper');

    // The stage recovers: the next refresh shows it sending again.
    await storeRevealStatus('sending', null, '1400000000000000000');
    await waitUntil(
      async () => {
        text = await scrape();
        return value(text, 'glisk_reveal_keepers', { state: 'sending', code: 'none' }) === 1;
      },
      { what: 'the keeper sending again' },
    );
    assert.equal(
      value(text, 'glisk_reveal_keepers', { state: 'stalled', code: 'CHAIN_UNREACHABLE' }),
      undefined,
    );
    assert.equal(value(text, 'glisk_reveal_lowest_keeper_balance_wei'), 1.4e18);
  });

  it('is read at most once per refresh interval, never per scrape', async () => {
    const cached = await startTestApp({
      testDb: app.testDb,
      env: { METRICS_REFRESH_SECONDS: '3600' },
    });
    try {
      await storeRevealStatus('waiting', 'GAS_PRICE_ABOVE_CAP', '1000');
      const first = await (await fetch(`${cached.url}/metrics`)).text();
      assert.equal(
        value(first, 'glisk_reveal_keepers', { state: 'waiting', code: 'GAS_PRICE_ABOVE_CAP' }),
        1,
      );
      await storeRevealStatus('stalled', 'CHAIN_TIMEOUT', '1000');
      for (let i = 0; i < 5; i += 1) {
        const again = await (await fetch(`${cached.url}/metrics`)).text();
        assert.equal(
          value(again, 'glisk_reveal_keepers', { state: 'waiting', code: 'GAS_PRICE_ABOVE_CAP' }),
          1,
          'the snapshot of the first scrape, not a new read',
        );
      }
    } finally {
      await cached.close();
    }
  });

  it('a reason code becomes a label only in its constant form', () => {
    assert.equal(reasonCodeLabel(null), 'none');
    assert.equal(reasonCodeLabel('KEEPER_BALANCE_LOW'), 'KEEPER_BALANCE_LOW');
    assert.equal(reasonCodeLabel('insufficient funds for 0xabc'), 'OTHER');
  });
});

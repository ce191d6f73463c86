// Pure parts of detection: the signature check, the payload schema, BatchMinted filtering and decoding.
import assert from 'node:assert/strict';
import type * as nodeCrypto from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, it } from 'node:test';
import { getAddress, type Address, type Hex } from 'viem';
import { alchemyWebhookSchema } from '../../../src/stages/detection/alchemy-payload.js';
import { signAlchemyBody, verifyAlchemySignature } from '../../../src/stages/detection/alchemy-signature.js';
import {
  BATCH_MINTED_TOPIC,
  decodeBatchMinted,
  mintsFromAlchemyPayload,
  mintsFromRpcLogs,
} from '../../../src/stages/detection/batch-minted.js';
import { alchemyPayload, batchMintedLog, type PayloadLog } from '../../helpers/alchemy-webhook.js';

const require = createRequire(import.meta.url);
const SECRET = 'whsec_unit_test';
const CONTRACT = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const MINTER = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const AUTHOR = getAddress('0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc');
const TX: Hex = `0x${'ab'.repeat(32)}`;

function log(overrides: Partial<Parameters<typeof batchMintedLog>[0]> = {}): PayloadLog {
  return batchMintedLog({
    contract: CONTRACT,
    minter: MINTER,
    author: AUTHOR,
    startTokenId: 1n,
    quantity: 3n,
    totalPaid: 3_000n,
    txHash: TX,
    index: 0,
    ...overrides,
  });
}

/** Lower-case, upper-case and checksummed spellings of one address: three different strings. */
function spellings(address: Address): string[] {
  const forms = [address.toLowerCase(), `0x${address.slice(2).toUpperCase()}`, getAddress(address)];
  assert.equal(new Set(forms).size, 3, `${address} has three distinct spellings`);
  return forms;
}

function parse(logs: PayloadLog[]) {
  return alchemyWebhookSchema.parse(alchemyPayload({ number: 12, timestamp: 1_760_000_000, logs }));
}

describe('verifyAlchemySignature', () => {
  const body = Buffer.from('{"hello":"world"}');
  const good = signAlchemyBody(body, SECRET);

  it('signs and verifies the HMAC-SHA256 that another implementation computes for a fixed body', () => {
    // Written literally, computed with OpenSSL rather than node:crypto:
    //   printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'whsec_unit_test'
    const fixed =
      '{"webhookId":"wh_glisk","id":"whevt_1","type":"GRAPHQL","event":{"data":{"block":{"number":1,"logs":[]}}}}';
    const openssl = '3e84dad71b2bdf1f969772e5901b7e071501413480c6616890dc149ebcbcc318';
    assert.equal(signAlchemyBody(fixed, SECRET), openssl);
    assert.deepEqual(verifyAlchemySignature(Buffer.from(fixed, 'utf8'), openssl, SECRET), { ok: true });
    // The raw bytes are signed, UTF-8: printf '%s' 'ünïcode ✓' | openssl dgst -sha256 -hmac 'whsec_unit_test'
    const unicode = '780472d914d2b1b5a1552a8bca58e293768046f43acafe7b5c9e8811540a7f8e';
    assert.deepEqual(verifyAlchemySignature(Buffer.from('ünïcode ✓', 'utf8'), unicode, SECRET), { ok: true });
  });

  it('accepts the lower-case hex HMAC-SHA256 of the raw body', () => {
    assert.match(good, /^[0-9a-f]{64}$/);
    assert.deepEqual(verifyAlchemySignature(body, good, SECRET), { ok: true });
  });

  it('reports a missing header distinctly', () => {
    const result = verifyAlchemySignature(body, undefined, SECRET);
    assert.equal(result.ok, false);
    assert.equal(result.ok === false && result.code, 'SIGNATURE_MISSING');
    assert.equal(verifyAlchemySignature(body, '', SECRET).ok === false, true);
  });

  it('refuses wrong, truncated, upper-case, repeated and other-key signatures', () => {
    const wrong = good.replace(/^./, good[0] === '0' ? '1' : '0');
    for (const header of [
      wrong,
      good.slice(0, 63),
      good.slice(0, 32),
      good.toUpperCase(),
      `${good}00`,
      [good, good],
    ]) {
      const result = verifyAlchemySignature(body, header, SECRET);
      assert.equal(result.ok === false && result.code, 'SIGNATURE_INVALID', String(header));
    }
    const otherKey = signAlchemyBody(body, `${SECRET}x`);
    assert.equal(verifyAlchemySignature(body, otherKey, SECRET).ok, false);
  });

  it('refuses a body changed after signing, even by one byte', () => {
    const changed = Buffer.from('{"hello":"World"}');
    assert.equal(verifyAlchemySignature(changed, good, SECRET).ok, false);
  });

  it('compares in constant time: every well-formed signature goes through crypto.timingSafeEqual', () => {
    // A plain === gives the same answers, so only the call itself shows the difference. The spy replaces the
    // function on node:crypto and syncBuiltinESMExports carries it to the module's `import { timingSafeEqual }`.
    const crypto = require('node:crypto') as typeof nodeCrypto;
    const original = crypto.timingSafeEqual;
    const calls: string[][] = [];
    crypto.timingSafeEqual = (a, b) => {
      calls.push([
        Buffer.from(a as Uint8Array).toString('hex'),
        Buffer.from(b as Uint8Array).toString('hex'),
      ]);
      return original(a, b);
    };
    syncBuiltinESMExports();
    const wrong = signAlchemyBody(body, `${SECRET}x`);
    try {
      assert.equal(verifyAlchemySignature(body, good, SECRET).ok, true);
      assert.equal(verifyAlchemySignature(body, wrong, SECRET).ok, false);
    } finally {
      crypto.timingSafeEqual = original;
      syncBuiltinESMExports();
    }
    assert.deepEqual(calls, [
      [good, good],
      [wrong, good],
    ]);
  });

  it('never runs with an empty secret', () => {
    assert.throws(() => verifyAlchemySignature(body, signAlchemyBody(body, ''), ''));
  });
});

describe('alchemyWebhookSchema', () => {
  it('accepts a delivery and keeps unknown fields out of the way', () => {
    const raw = alchemyPayload({ number: 5, timestamp: 1, logs: [log()] });
    const parsed = alchemyWebhookSchema.parse({ ...raw, sequenceNumber: '1' });
    assert.equal(parsed.event.data.block.logs?.length, 1);
  });

  it('names the path of the bad field', () => {
    const raw = alchemyPayload({ number: 5, timestamp: 1, logs: [log(), { ...log(), index: -1 }] });
    const result = alchemyWebhookSchema.safeParse(raw);
    assert.equal(result.success, false);
    assert.equal(result.error && result.error.issues[0]?.path.join('.'), 'event.data.block.logs.1.index');
  });

  it('refuses bad topics, data, addresses, hashes and statuses', () => {
    const bad: PayloadLog[] = [
      { ...log(), topics: ['0x1234'] },
      { ...log(), data: '0x123' },
      { ...log(), account: { address: '0x1234' } },
      { ...log(), transaction: { hash: '0xzz', status: 1 } },
      { ...log(), transaction: { hash: TX, status: 2 } },
      { ...log(), topics: [...log().topics, BATCH_MINTED_TOPIC, BATCH_MINTED_TOPIC] },
    ];
    for (const entry of bad) {
      const result = alchemyWebhookSchema.safeParse(
        alchemyPayload({ number: 5, timestamp: 1, logs: [entry] }),
      );
      assert.equal(result.success, false, JSON.stringify(entry));
    }
  });
});

describe('mintsFromAlchemyPayload', () => {
  it('decodes every BatchMinted of the contract and ignores the rest', () => {
    const logs = [
      log({ index: 0 }),
      log({ index: 1, contract: getAddress('0x0000000000000000000000000000000000000001') }),
      log({ index: 2, status: 0 }),
      log({ index: 3, removed: true }),
      { ...log({ index: 4 }), topics: [`0x${'11'.repeat(32)}`] },
      {
        ...log({ index: 5, startTokenId: 4n, quantity: 50n }),
        account: { address: CONTRACT.toUpperCase().replace('0X', '0x') },
      },
    ];
    const result = mintsFromAlchemyPayload(parse(logs), CONTRACT);
    assert.equal(result.ok, true);
    if (!result.ok) return;
    assert.equal(result.ignored, 4);
    assert.deepEqual(
      result.mints.map((m) => [m.logIndex, m.startTokenId, m.quantity]),
      [
        [0, 1, 3],
        [5, 4, 50],
      ],
    );
    const [first] = result.mints;
    assert.equal(first?.minter, MINTER);
    assert.equal(first?.author, AUTHOR);
    assert.equal(first?.totalPaid, 3_000n);
    assert.equal(first?.blockNumber, 12);
    assert.equal(first?.blockTimestamp.toISOString(), new Date(1_760_000_000_000).toISOString());
    assert.equal(first?.txHash, TX);
  });

  it('matches the contract address in any case on either side', () => {
    const forms = spellings(CONTRACT);
    for (const configured of forms) {
      for (const sent of forms) {
        const result = mintsFromAlchemyPayload(
          parse([{ ...log(), account: { address: sent } }]),
          configured as Address,
        );
        assert.equal(
          result.ok && result.mints.length,
          1,
          `log of ${sent}, contract configured as ${configured}`,
        );
      }
    }
  });

  it('refuses a matching log whose topics or data do not decode, naming it', () => {
    const truncatedTopics = { ...log(), topics: log().topics.slice(0, 3) };
    const shortData = { ...log(), data: `0x${'00'.repeat(32)}` };
    const zeroQuantity = log({ quantity: 0n });
    const tooMany = log({ quantity: 51n });
    const dirtyAddress = {
      ...log(),
      topics: log().topics.map((t, i) => (i === 1 ? `0xff${t.slice(4)}` : t)),
    };
    const hugeId = log({ startTokenId: 2n ** 40n });
    const cases: [PayloadLog, string][] = [
      [truncatedTopics, 'topics'],
      [shortData, 'data'],
      [zeroQuantity, 'data'],
      [tooMany, 'data'],
      [dirtyAddress, 'topics'],
      [hugeId, 'topics'],
    ];
    for (const [entry, field] of cases) {
      const result = mintsFromAlchemyPayload(parse([log({ index: 9 }), entry]), CONTRACT);
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.equal(result.issues[0]?.path, `event.data.block.logs.1.${field}`);
    }
  });
});

describe('decodeBatchMinted and mintsFromRpcLogs', () => {
  it('decodes with the ABI', () => {
    const entry = log({ startTokenId: 7n, quantity: 50n });
    const result = decodeBatchMinted(entry.topics as Hex[], entry.data as Hex);
    assert.deepEqual(result, {
      ok: true,
      args: { minter: MINTER, author: AUTHOR, startTokenId: 7, quantity: 50, totalPaid: 3_000n },
    });
  });

  it('accepts a batch ending exactly at the largest id the database holds, refuses one past it', () => {
    // tokens_s0.token_id is a PostgreSQL integer: the last id of a batch may be 2^31 - 1, not 2^31.
    const max = 2n ** 31n - 1n;
    const atEdge = log({ startTokenId: max - 2n, quantity: 3n });
    const accepted = decodeBatchMinted(atEdge.topics as Hex[], atEdge.data as Hex);
    assert.equal(accepted.ok, true, accepted.ok ? '' : accepted.reason);
    assert.equal(accepted.ok && accepted.args.startTokenId + accepted.args.quantity - 1, Number(max));
    const pastEdge = log({ startTokenId: max - 1n, quantity: 3n });
    const refused = decodeBatchMinted(pastEdge.topics as Hex[], pastEdge.data as Hex);
    assert.deepEqual(refused.ok === false && [refused.field, refused.reason], [
      'topics',
      `token ids ${max - 1n}+3 are outside 1..${max}`,
    ]);
    const zero = log({ startTokenId: 0n, quantity: 1n });
    assert.equal(decodeBatchMinted(zero.topics as Hex[], zero.data as Hex).ok, false, 'id 0 is never minted');
  });

  it('matches the contract address of eth_getLogs results in any case on either side', () => {
    const entry = log();
    for (const configured of spellings(CONTRACT)) {
      for (const returned of spellings(CONTRACT)) {
        const mints = mintsFromRpcLogs(
          [
            {
              address: returned as Address,
              topics: entry.topics as Hex[],
              data: entry.data as Hex,
              blockNumber: 3n,
              transactionHash: TX,
              logIndex: 0,
              removed: false,
            },
          ],
          configured as Address,
        );
        assert.equal(mints.length, 1, `log of ${returned}, contract configured as ${configured}`);
      }
    }
  });

  it('keeps the contract BatchMinted logs that were not removed', () => {
    const entry = log();
    const rpc = (address: Address, removed: boolean, logIndex: number) => ({
      address,
      topics: entry.topics as Hex[],
      data: entry.data as Hex,
      blockNumber: 3n,
      transactionHash: TX,
      logIndex,
      removed,
    });
    const mints = mintsFromRpcLogs(
      [rpc(CONTRACT, false, 0), rpc(CONTRACT, true, 1), rpc(MINTER, false, 2)],
      getAddress(CONTRACT.toLowerCase()),
    );
    assert.deepEqual(
      mints.map((m) => [m.logIndex, m.blockNumber]),
      [[0, 3]],
    );
  });
});

// Sign-in nonces and the author routes over real HTTP: real signatures from viem accounts, checked against a local
// chain that runs with Base Sepolia's chain id; replays (sequential and concurrent), every refusal reason, the
// prompt rules, the author page, the author's tokens and the leaderboard.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createPublicClient, getAddress, http, type Address, type Hex, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { devAccountList, startLocalChain, type LocalChain } from '../../src/dev/local-chain.js';
import { ingestMints, type DecodedMint } from '../../src/stages/detection/mint-ingest.js';
import { deploySmartWalletFactory, type SmartWallets } from '../helpers/auth-contracts.js';
import { txHashOf } from '../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { callJson, errorCode, signSiwe, siweMessage, type JsonAnswer } from '../helpers/siwe.js';

const DOMAIN = 'glisk.test';
const CHAIN_ID = 84532; // NETWORK=BASE_SEPOLIA
const accounts = devAccountList().map((a): LocalAccount => a.account);
function account(i: number): LocalAccount {
  const found = accounts[i];
  if (found === undefined) throw new Error(`dev account ${i} missing`);
  return found;
}
const [alice, bob, carol] = [account(2), account(3), account(4)];
const SECRET_PROMPT = 'a lighthouse of folded paper, secret-marker-7f3a';

describe('authors API', () => {
  let chain: LocalChain;
  let app: TestApp;
  let wallets: SmartWallets;
  const nonce = async (): Promise<string> => {
    const answer = await callJson(app.url, 'POST', '/api/auth/nonce');
    assert.equal(answer.status, 201);
    return answer.json.nonce as string;
  };
  const putPrompt = (wallet: string, body: Record<string, unknown>): Promise<JsonAnswer> =>
    callJson(app.url, 'PUT', `/api/authors/${wallet}/prompt`, body);
  const storedPrompt = async (wallet: string): Promise<string | null | undefined> => {
    const rows = await app.testDb.db.execute<{ prompt_text: string | null }>(
      sql`SELECT prompt_text FROM authors WHERE lower(wallet_address) = lower(${wallet})`,
    );
    return rows[0]?.prompt_text;
  };
  const signed = async (
    signer: LocalAccount = alice,
    options: Partial<Parameters<typeof signSiwe>[1]> = {},
  ): Promise<{ message: string; signature: Hex }> =>
    signSiwe(signer, {
      domain: DOMAIN,
      chainId: CHAIN_ID,
      nonce: options.nonce ?? (await nonce()),
      ...options,
    });

  before(async () => {
    chain = await startLocalChain({ chainId: CHAIN_ID });
    wallets = await deploySmartWalletFactory(chain.rpcUrl);
    app = await startTestApp({
      env: { RPC_URL: chain.rpcUrl, NETWORK: 'BASE_SEPOLIA', AUTH_DOMAIN: DOMAIN, LOG_LEVEL: 'debug' },
    });
  });
  after(async () => {
    await app?.close();
    await chain?.stop();
  });

  describe('POST /api/auth/nonce', () => {
    it('issues a fresh single-use nonce with what the message must name', async () => {
      const a = await callJson(app.url, 'POST', '/api/auth/nonce');
      const b = await callJson(app.url, 'POST', '/api/auth/nonce');
      assert.equal(a.status, 201);
      assert.match(a.json.nonce as string, /^[0-9a-f]{32}$/);
      assert.notEqual(a.json.nonce, b.json.nonce);
      assert.equal(a.json.domain, DOMAIN);
      assert.equal(a.json.chainId, CHAIN_ID);
      const ttlMs = Date.parse(a.json.expiresAt as string) - Date.now();
      assert.ok(ttlMs > 290_000 && ttlMs <= 300_000, `expires in ~300 s, got ${ttlMs} ms`);
    });
  });

  describe('PUT /api/authors/{wallet}/prompt', () => {
    it('a fresh signature sets the prompt; the author page says hasPrompt and never shows it', async () => {
      const answer = await putPrompt(alice.address, { ...(await signed()), prompt: `  ${SECRET_PROMPT}  ` });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.deepEqual(answer.json, { wallet: alice.address, hasPrompt: true, tokensAwaitingImage: 0 });
      assert.equal(await storedPrompt(alice.address), SECRET_PROMPT, 'stored trimmed');

      const page = await callJson(app.url, 'GET', `/api/authors/${alice.address.toLowerCase()}`);
      assert.equal(page.status, 200);
      assert.equal(page.json.hasPrompt, true);
      assert.equal(page.json.wallet, alice.address);
      assert.ok(!JSON.stringify(page.json).includes('secret-marker'), 'the page never carries the prompt');
      assert.ok(!('prompt' in page.json) && !('promptText' in page.json));
    });

    it('replaying a used message is refused and changes nothing', async () => {
      const message = await signed();
      assert.equal((await putPrompt(alice.address, { ...message, prompt: 'first' })).status, 200);
      const replay = await putPrompt(alice.address, { ...message, prompt: 'second' });
      assert.equal(replay.status, 401);
      assert.equal(errorCode(replay), 'NONCE_USED');
      assert.equal(await storedPrompt(alice.address), 'first');
    });

    it('10 concurrent uses of one message: exactly one write wins', async () => {
      const message = await signed(bob);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          putPrompt(bob.address, { ...message, prompt: `concurrent ${i}` }),
        ),
      );
      const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      assert.equal(won.length, 1, `one winner, got ${answers.map((a) => a.status).join(',')}`);
      for (const a of answers.filter((x) => x.status !== 200)) {
        assert.equal(a.status, 401);
        assert.equal(errorCode(a), 'NONCE_USED');
      }
      assert.equal(await storedPrompt(bob.address), `concurrent ${won[0]}`);
    });

    it('refuses an expired message, an old one, one not valid yet and one issued in the future', async () => {
      const now = Date.now();
      const cases: Array<[Partial<Parameters<typeof signSiwe>[1]>, string]> = [
        [{ expirationTime: new Date(now - 1000) }, 'SIWE_EXPIRED'],
        [{ issuedAt: new Date(now - 301_000) }, 'SIWE_EXPIRED'],
        [{ notBefore: new Date(now + 60_000) }, 'SIWE_NOT_YET_VALID'],
        [{ issuedAt: new Date(now + 120_000) }, 'SIWE_ISSUED_IN_FUTURE'],
      ];
      for (const [options, code] of cases) {
        const answer = await putPrompt(carol.address, { ...(await signed(carol, options)), prompt: 'nope' });
        assert.equal(answer.status, 401, code);
        assert.equal(errorCode(answer), code);
      }
      assert.equal(await storedPrompt(carol.address), undefined, 'no author was created');
    });

    it('refuses an expired nonce and one the service never issued', async () => {
      const expired = await nonce();
      await app.testDb.db.execute(
        sql`UPDATE auth_nonces SET created_at = now() - interval '1 hour', expires_at = now() - interval '1 second' WHERE nonce = ${expired}`,
      );
      const a = await putPrompt(carol.address, { ...(await signed(carol, { nonce: expired })), prompt: 'x' });
      assert.equal(errorCode(a), 'NONCE_EXPIRED');
      const b = await putPrompt(carol.address, {
        ...(await signed(carol, { nonce: 'abcdef0123456789' })),
        prompt: 'x',
      });
      assert.equal(b.status, 401);
      assert.equal(errorCode(b), 'NONCE_UNKNOWN');
    });

    it('refuses a wrong domain and a wrong chain', async () => {
      const a = await putPrompt(carol.address, {
        ...(await signed(carol, { domain: 'evil.test' })),
        prompt: 'x',
      });
      assert.equal(a.status, 401);
      assert.equal(errorCode(a), 'SIWE_DOMAIN_MISMATCH');
      const b = await putPrompt(carol.address, { ...(await signed(carol, { chainId: 8453 })), prompt: 'x' });
      assert.equal(b.status, 401);
      assert.equal(errorCode(b), 'SIWE_CHAIN_MISMATCH');
    });

    it('refuses a signature by another key, and a message for another wallet', async () => {
      const n = await nonce();
      // The message names carol, bob signs it.
      const forged = await signSiwe(bob, {
        domain: DOMAIN,
        chainId: CHAIN_ID,
        nonce: n,
        address: carol.address,
      });
      const a = await putPrompt(carol.address, { ...forged, prompt: 'x' });
      assert.equal(a.status, 401);
      assert.equal(errorCode(a), 'SIWE_SIGNATURE_INVALID');
      // Bob signs in as bob, but writes carol's prompt.
      const b = await putPrompt(carol.address, { ...(await signed(bob)), prompt: 'x' });
      assert.equal(b.status, 403);
      assert.equal(errorCode(b), 'SIWE_ADDRESS_MISMATCH');
      // A refused request consumed nothing: the nonce still serves a valid message.
      const valid = await signSiwe(carol, { domain: DOMAIN, chainId: CHAIN_ID, nonce: n });
      assert.equal((await putPrompt(carol.address, { ...valid, prompt: 'carol' })).status, 200);
    });

    it('refuses malformed messages and signatures', async () => {
      const good = await signed(carol);
      const notSiwe = await putPrompt(carol.address, {
        message: 'hello',
        signature: await carol.signMessage({ message: 'hello' }),
        prompt: 'x',
      });
      assert.equal(notSiwe.status, 401);
      assert.equal(errorCode(notSiwe), 'SIWE_MESSAGE_MALFORMED');
      const noNonce = good.message.replace(/\nNonce: [^\n]+/, '');
      const c = await putPrompt(carol.address, {
        message: noNonce,
        signature: await carol.signMessage({ message: noNonce }),
        prompt: 'x',
      });
      assert.equal(errorCode(c), 'SIWE_MESSAGE_MALFORMED');
      const notHex = await putPrompt(carol.address, { ...good, signature: 'zz', prompt: 'x' });
      assert.equal(notHex.status, 400);
      assert.equal(errorCode(notHex), 'VALIDATION_ERROR');
      const short = await putPrompt(carol.address, { ...good, signature: '0x1234', prompt: 'x' });
      assert.equal(short.status, 401);
      assert.equal(errorCode(short), 'SIWE_SIGNATURE_INVALID');
      const flipped = `${good.signature.slice(0, 10)}${good.signature[10] === 'a' ? 'b' : 'a'}${good.signature.slice(11)}`;
      const d = await putPrompt(carol.address, { ...good, signature: flipped, prompt: 'x' });
      assert.equal(errorCode(d), 'SIWE_SIGNATURE_INVALID');
      const badWallet = await putPrompt('0x1234', { ...good, prompt: 'x' });
      assert.equal(badWallet.status, 400);
    });

    it('accepts a contract wallet (ERC-1271) through the RPC, and refuses a signature by another key', async () => {
      const owner = privateKeyToAccount(`0x${'51'.repeat(32)}`);
      const wallet = await wallets.deployWallet(owner.address, `0x${'01'.repeat(32)}`);
      const message = siweMessage({
        address: wallet,
        domain: DOMAIN,
        chainId: CHAIN_ID,
        nonce: await nonce(),
      });
      const stranger = await wallets.sign(carol, message);
      const refused = await putPrompt(wallet, { message, signature: stranger, prompt: 'smart' });
      assert.equal(refused.status, 401);
      assert.equal(errorCode(refused), 'SIWE_SIGNATURE_INVALID');
      const answer = await putPrompt(wallet, {
        message,
        signature: await wallets.sign(owner, message),
        prompt: 'smart',
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal(await storedPrompt(wallet), 'smart');
    });

    it('accepts a contract wallet that is not deployed yet (ERC-6492)', async () => {
      const owner = privateKeyToAccount(`0x${'52'.repeat(32)}`);
      const salt: Hex = `0x${'02'.repeat(32)}`;
      const wallet = await wallets.addressOf(owner.address, salt);
      assert.equal(
        await createPublicClient({ transport: http(chain.rpcUrl) }).getCode({ address: wallet }),
        undefined,
      );
      const message = siweMessage({
        address: wallet,
        domain: DOMAIN,
        chainId: CHAIN_ID,
        nonce: await nonce(),
      });
      const signature = await wallets.signUndeployed(owner, salt, message);
      const answer = await putPrompt(wallet, { message, signature, prompt: 'counterfactual' });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal(await storedPrompt(wallet), 'counterfactual');
    });

    it('without an RPC endpoint, EOA signatures still work and contract wallets get 503 RPC_URL_MISSING', async () => {
      const noRpc = await startTestApp({
        testDb: app.testDb,
        env: { NETWORK: 'BASE_SEPOLIA', AUTH_DOMAIN: DOMAIN },
      });
      try {
        const issue = async () => (await callJson(noRpc.url, 'POST', '/api/auth/nonce')).json.nonce as string;
        const eoa = await signSiwe(carol, { domain: DOMAIN, chainId: CHAIN_ID, nonce: await issue() });
        const ok = await callJson(noRpc.url, 'PUT', `/api/authors/${carol.address}/prompt`, {
          ...eoa,
          prompt: 'eoa',
        });
        assert.equal(ok.status, 200, JSON.stringify(ok.json));
        const owner = privateKeyToAccount(`0x${'51'.repeat(32)}`);
        const wallet = await wallets.addressOf(owner.address, `0x${'01'.repeat(32)}`);
        const message = siweMessage({
          address: wallet,
          domain: DOMAIN,
          chainId: CHAIN_ID,
          nonce: await issue(),
        });
        const answer = await callJson(noRpc.url, 'PUT', `/api/authors/${wallet}/prompt`, {
          message,
          signature: await wallets.sign(owner, message),
          prompt: 'x',
        });
        assert.equal(answer.status, 503);
        assert.equal(errorCode(answer), 'RPC_URL_MISSING');
      } finally {
        await noRpc.close();
      }
    });

    it('enforces the prompt rules before anything is consumed', async () => {
      const wallet = privateKeyToAccount(`0x${'42'.repeat(32)}`);
      const n = await nonce();
      const body = async (prompt: string) => ({
        ...(await signSiwe(wallet, { domain: DOMAIN, chainId: CHAIN_ID, nonce: n })),
        prompt,
      });
      const refused = [
        '',
        '   ',
        'line\nbreak',
        'tab\there',
        'bell\u0007',
        'c1\u009f',
        'lone \ud800',
        'x'.repeat(1001),
      ];
      for (const prompt of refused) {
        const answer = await putPrompt(wallet.address, await body(prompt));
        assert.equal(answer.status, 400, JSON.stringify(prompt));
        assert.equal(errorCode(answer), 'VALIDATION_ERROR');
        assert.ok(!JSON.stringify(answer.json).includes('bell\u0007'));
      }
      // 1000 characters counted as code points: emoji are one character each, as PostgreSQL counts them.
      const longest = `${'🎨'.repeat(500)}${'é'.repeat(500)}`;
      const ok = await putPrompt(wallet.address, await body(`\n ${longest} \t`));
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(await storedPrompt(wallet.address), longest);
    });

    it('creates the author if absent, matching the wallet case-insensitively and storing it checksummed', async () => {
      const wallet = privateKeyToAccount(`0x${'43'.repeat(32)}`);
      // A mint created the author in lower case.
      await ingest([{ n: 900, start: 900, quantity: 3, author: wallet.address.toLowerCase() as Address }]);
      const answer = await putPrompt(wallet.address.toLowerCase(), {
        ...(await signed(wallet)),
        prompt: 'mine',
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.tokensAwaitingImage, 3);
      const rows = await app.testDb.db.execute<{ wallet_address: string }>(
        sql`SELECT wallet_address FROM authors WHERE lower(wallet_address) = lower(${wallet.address})`,
      );
      assert.deepEqual(
        rows.map((r) => r.wallet_address),
        [wallet.address],
      );
    });

    it('counts only the tokens the image stage has not generated yet', async () => {
      const wallet = privateKeyToAccount(`0x${'44'.repeat(32)}`);
      await ingest([{ n: 901, start: 950, quantity: 4, author: wallet.address }]);
      await app.testDb.db.execute(sql`
        UPDATE tokens_s0 SET status = 'generating', lease_owner = 'w1', lease_expires_at = now() + interval '1 minute'
        WHERE token_id = 950`);
      await app.testDb.db.execute(sql`
        UPDATE tokens_s0 SET status = 'generating', lease_owner = 'dead', lease_expires_at = now() - interval '1 second'
        WHERE token_id = 951`);
      await app.testDb.db.execute(sql`UPDATE tokens_s0 SET status = 'failed' WHERE token_id = 952`);
      const answer = await putPrompt(wallet.address, { ...(await signed(wallet)), prompt: 'p' });
      // 951 (its worker died: claimable again) and 953 (detected); 950 is being generated, 952 is done for.
      assert.equal(answer.json.tokensAwaitingImage, 2);
    });

    it('never logs the prompt', () => {
      assert.ok(app.logs.lines.some((line) => line.message === 'author.prompt_set'));
      assert.ok(!app.logs.text().includes('secret-marker'), 'no log line carries the prompt');
      assert.ok(!app.logs.text().includes('lighthouse'));
    });
  });

  describe('reading', () => {
    it('hasPrompt is false for an author created by a mint; counts per status; 404 and 400', async () => {
      const minted = getAddress('0x00000000000000000000000000000000000a11ce');
      await ingest([{ n: 910, start: 1000, quantity: 2, author: minted }]);
      await app.testDb.db.execute(sql`UPDATE tokens_s0 SET status = 'failed' WHERE token_id = 1001`);
      const page = await callJson(app.url, 'GET', `/api/authors/${minted}`);
      assert.equal(page.status, 200);
      assert.equal(page.json.hasPrompt, false);
      assert.equal(page.json.xHandle, null);
      assert.equal(page.json.farcasterHandle, null);
      assert.deepEqual(page.json.tokens, {
        total: 2,
        detected: 1,
        generating: 0,
        uploading: 0,
        ready: 0,
        revealed: 0,
        failed: 1,
      });
      assert.equal(page.json.firstMintAt, '2026-01-01T12:00:10.000Z');
      const unknown = await callJson(app.url, 'GET', `/api/authors/0x${'e'.repeat(40)}`);
      assert.equal(unknown.status, 404);
      assert.equal(errorCode(unknown), 'AUTHOR_NOT_FOUND');
      const malformed = await callJson(app.url, 'GET', '/api/authors/0xnothex');
      assert.equal(malformed.status, 400);
      assert.equal(errorCode(malformed), 'VALIDATION_ERROR');
    });

    it("pages through an author's tokens newest first", async () => {
      const author = getAddress('0x00000000000000000000000000000000000b0b00');
      await ingest([
        { n: 920, start: 2000, quantity: 3, author },
        { n: 921, start: 2003, quantity: 2, author: getAddress(`0x${'9'.repeat(40)}`) },
        { n: 922, start: 2005, quantity: 4, author },
      ]);
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const answer: JsonAnswer = await callJson(
          app.url,
          'GET',
          `/api/authors/${author.toLowerCase()}/tokens?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`,
        );
        assert.equal(answer.status, 200);
        seen.push(...(answer.json.items as Array<{ tokenId: number }>).map((t) => t.tokenId));
        cursor = answer.json.nextCursor as string | null;
      } while (cursor !== null);
      assert.deepEqual(seen, [2008, 2007, 2006, 2005, 2002, 2001, 2000]);
      const unknown = await callJson(app.url, 'GET', `/api/authors/0x${'e'.repeat(40)}/tokens`);
      assert.equal(unknown.status, 404);
    });

    it('ranks authors by tokens, then first mint, then wallet', async () => {
      const t = app.testDb;
      await t.db.execute(sql`DELETE FROM tokens_s0`);
      const w = (c: string) => getAddress(`0x${c.repeat(40)}`);
      // c and d tie on count (3) and first mint (block second 31): the wallet decides. a has the most.
      await ingest([
        { n: 30, start: 1, quantity: 5, author: w('a') },
        { n: 31, start: 6, quantity: 3, author: w('d') },
        { n: 31, start: 9, quantity: 3, author: w('c'), logIndex: 1 },
        { n: 29, start: 12, quantity: 2, author: w('b') },
        { n: 32, start: 14, quantity: 1, author: w('b') },
        { n: 28, start: 15, quantity: 2, author: w('e') },
      ]);
      const board = await callJson(app.url, 'GET', '/api/authors/leaderboard?limit=10');
      assert.equal(board.status, 200);
      const items = board.json.items as Array<{ rank: number; wallet: string; tokenCount: number }>;
      assert.deepEqual(
        items.map((i) => [i.rank, i.wallet, i.tokenCount]),
        [
          [1, w('a'), 5],
          [2, w('b'), 3],
          [3, w('c'), 3],
          [4, w('d'), 3],
          [5, w('e'), 2],
        ],
      );
      const top2 = await callJson(app.url, 'GET', '/api/authors/leaderboard?limit=2');
      assert.equal((top2.json.items as unknown[]).length, 2);
      for (const limit of ['0', '101', 'x']) {
        const bad = await callJson(app.url, 'GET', `/api/authors/leaderboard?limit=${limit}`);
        assert.equal(bad.status, 400, limit);
      }
    });
  });

  async function ingest(
    mints: Array<{ n: number; start: number; quantity: number; author: Address; logIndex?: number }>,
  ): Promise<void> {
    const decoded: DecodedMint[] = mints.map((m) => ({
      txHash: txHashOf(m.n + (m.logIndex ?? 0) * 10_000) as Hex,
      logIndex: m.logIndex ?? 0,
      blockNumber: 100 + m.n,
      blockTimestamp: new Date(Date.UTC(2026, 0, 1, 12, 0, m.n % 60)),
      minter: alice.address,
      author: m.author,
      startTokenId: m.start,
      quantity: m.quantity,
      totalPaid: 0n,
    }));
    await app.testDb.db.transaction((tx) => ingestMints(tx, decoded));
  }
});

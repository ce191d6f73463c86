// Linking an author's Farcaster handle over real HTTP: real signatures from viem accounts (the author's wallet
// and the fid's custody address), a minimal IdRegistry (contracts/test/IdRegistry.sol) deployed on a local chain
// and read with custodyOf, and a fake hub on loopback speaking Hubble's HTTP API. The username comes from the hub
// only; every refusal (either message, the custody, the hub) has its own code and changes nothing; without the
// Farcaster configuration the route answers 503 naming the variable while the rest of the service runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Address, Hex, LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startLocalChain, type LocalChain } from '../../src/dev/local-chain.js';
import { deployIdRegistry, deploySmartWalletFactory, type IdRegistry } from '../helpers/auth-contracts.js';
import { startFakeHub, usernameMessage, type FakeHub } from '../helpers/fake-farcaster-hub.js';
import { closedPort, startTestApp, type TestApp } from '../helpers/http.js';
import {
  callJson,
  errorCode,
  signSiwe,
  siweMessage,
  type JsonAnswer,
  type SiweOptions,
} from '../helpers/siwe.js';

const DOMAIN = 'glisk.test';
const CHAIN_ID = 84532; // NETWORK=BASE_SEPOLIA: the wallet's message
const HUB_KEY = 'hub-api-key-0123456789';
const newAccount = (): LocalAccount => privateKeyToAccount(generatePrivateKey());
const custody = newAccount();
const FID = 1234n;
const custodyNoName = newAccount();
const FID_NO_NAME = 5678n;

type SiwfOptions = Partial<Omit<SiweOptions, 'nonce'>> & { signer?: LocalAccount; fid?: bigint };
type Proof = {
  message: string;
  signature: Hex;
  farcasterMessage: string;
  farcasterSignature: Hex;
};

describe('Farcaster handle link', () => {
  let chain: LocalChain;
  let registry: IdRegistry;
  let hub: FakeHub;
  let app: TestApp;
  const env = (): Record<string, string> => ({
    NETWORK: 'BASE_SEPOLIA',
    AUTH_DOMAIN: DOMAIN,
    FARCASTER_RPC_URL: chain.rpcUrl,
    FARCASTER_HUB_URL: hub.url,
    FARCASTER_HUB_API_KEY: HUB_KEY,
    FARCASTER_ID_REGISTRY_ADDRESS: registry.address,
  });

  const nonce = async (base: string = app.url): Promise<string> =>
    (await callJson(base, 'POST', '/api/auth/nonce')).json.nonce as string;
  /** A Sign In With Farcaster message for `nonce` as Farcaster's clients write it, signed by the custody. */
  const siwf = async (nonce: string, options: SiwfOptions = {}) => {
    const { signer = custody, fid = FID, ...fields } = options;
    const signed = await signSiwe(signer, {
      address: custody.address,
      domain: DOMAIN,
      chainId: 10,
      nonce,
      uri: `https://${DOMAIN}/login`,
      statement: 'Farcaster Auth',
      resources: [`farcaster://fid/${fid}`],
      ...fields,
    });
    return { farcasterMessage: signed.message, farcasterSignature: signed.signature };
  };
  /** The wallet's message and a SIWF message for the same nonce, as a front end builds them. */
  const proof = async (wallet: LocalAccount, options: SiwfOptions = {}, base = app.url): Promise<Proof> => {
    const walletNonce = await nonce(base);
    const signed = await signSiwe(wallet, { domain: DOMAIN, chainId: CHAIN_ID, nonce: walletNonce });
    return { ...signed, ...(await siwf(walletNonce, options)) };
  };
  const nonceOf = (message: string): string => /^Nonce: (\S+)$/m.exec(message)?.[1] ?? '';
  const link = (wallet: Address, body: unknown, base: string = app.url): Promise<JsonAnswer> =>
    callJson(base, 'POST', `/api/authors/${wallet}/farcaster`, body);
  const storedHandle = async (wallet: Address): Promise<string | null | undefined> => {
    const rows = await app.testDb.db.execute<{ farcaster_handle: string | null }>(
      sql`select farcaster_handle from authors where lower(wallet_address) = lower(${wallet})`,
    );
    return rows[0]?.farcaster_handle;
  };
  const nonceUsed = async (message: string): Promise<boolean> => {
    const value = nonceOf(message);
    const rows = await app.testDb.db.execute<{ used: boolean }>(
      sql`select consumed_at is not null as used from auth_nonces where nonce = ${value}`,
    );
    assert.equal(rows.length, 1, 'the nonce was issued');
    return rows[0]?.used ?? false;
  };
  const refused = (answer: JsonAnswer, status: number, code: string): void => {
    assert.equal(answer.status, status, JSON.stringify(answer.json));
    assert.equal(errorCode(answer), code);
  };

  before(async () => {
    chain = await startLocalChain();
    registry = await deployIdRegistry(chain.rpcUrl);
    await registry.register(FID, custody.address);
    await registry.register(FID_NO_NAME, custodyNoName.address);
    hub = await startFakeHub({ apiKey: HUB_KEY });
    hub.setUsername(FID, 'glisk-fc.eth');
    app = await startTestApp({ env: env() });
  });
  after(async () => {
    await app?.close();
    await hub?.close();
    await chain?.stop();
  });

  it('stores the username the hub holds for the fid, never one sent by the client; a replay is refused', async () => {
    const author = newAccount();
    const body = { ...(await proof(author)), username: 'evil', farcasterHandle: 'evil' };
    const answer = await link(author.address, body);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual(answer.json, { wallet: author.address, fid: '1234', farcasterHandle: 'glisk-fc.eth' });
    assert.equal(await storedHandle(author.address), 'glisk-fc.eth');
    assert.ok(hub.requests.includes(`/v1/userDataByFid?fid=1234&user_data_type=6`), hub.requests.join(', '));
    const page = await callJson(app.url, 'GET', `/api/authors/${author.address.toLowerCase()}`);
    assert.equal(page.json.farcasterHandle, 'glisk-fc.eth');

    hub.setUsername(FID, 'renamed');
    try {
      refused(await link(author.address, body), 401, 'NONCE_USED');
      assert.equal(await storedHandle(author.address), 'glisk-fc.eth', 'a replay changes nothing');
    } finally {
      hub.setUsername(FID, 'glisk-fc.eth');
    }
  });

  it('of 5 concurrent requests with one pair of messages exactly one links', async () => {
    const author = newAccount();
    const body = await proof(author);
    const answers = await Promise.all(Array.from({ length: 5 }, () => link(author.address, body)));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 401, 401, 401, 401]);
    for (const a of answers.filter((a) => a.status === 401)) assert.equal(errorCode(a), 'NONCE_USED');
  });

  it('a SIWF message signed by another address than the fid’s custody is refused; nothing changes', async () => {
    const author = newAccount();
    const impostor = newAccount();
    const wrong = await proof(author, { signer: impostor, address: impostor.address });
    refused(await link(author.address, wrong), 403, 'SIWF_CUSTODY_MISMATCH');
    assert.equal(await storedHandle(author.address), undefined, 'no author created');
    assert.equal(await nonceUsed(wrong.message), false, 'the nonce stays usable');

    // The same wallet message with the custody's own SIWF message then links: the refusal changed nothing.
    const right = {
      message: wrong.message,
      signature: wrong.signature,
      ...(await siwf(nonceOf(wrong.message))),
    };
    const linked = await link(author.address, right);
    assert.equal(linked.status, 200, JSON.stringify(linked.json));
    assert.equal(await storedHandle(author.address), 'glisk-fc.eth');
  });

  it('an fid the IdRegistry does not know is refused', async () => {
    const author = newAccount();
    const answer = await link(author.address, await proof(author, { fid: 999_999n }));
    refused(answer, 422, 'FARCASTER_FID_NOT_REGISTERED');
  });

  it('each bad SIWF message has its code, and changes nothing', async () => {
    const author = newAccount();
    const other = newAccount();
    const hourAgo = new Date(Date.now() - 3_600_000);
    const cases: Array<[string, SiwfOptions, number, string]> = [
      ['expired', { expirationTime: new Date(Date.now() - 60_000) }, 401, 'SIWF_EXPIRED'],
      ['issued too long ago', { issuedAt: hourAgo }, 401, 'SIWF_EXPIRED'],
      ['another domain', { domain: 'evil.example' }, 401, 'SIWF_DOMAIN_MISMATCH'],
      ['another chain', { chainId: 8453 }, 401, 'SIWF_CHAIN_MISMATCH'],
      ['signed by someone else', { signer: other }, 401, 'SIWF_SIGNATURE_INVALID'],
      ['no fid resource', { resources: ['https://glisk.test/'] }, 401, 'SIWF_MESSAGE_MALFORMED'],
      [
        'two fids',
        { resources: ['farcaster://fid/1234', 'farcaster://fid/5678'] },
        401,
        'SIWF_MESSAGE_MALFORMED',
      ],
      ['not a Farcaster statement', { statement: 'Sign in to GLISK' }, 401, 'SIWF_MESSAGE_MALFORMED'],
    ];
    for (const [what, options, status, code] of cases) {
      const body = await proof(author, options);
      const answer = await link(author.address, body);
      assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.json)}`);
      assert.equal(errorCode(answer), code, what);
      assert.equal(await nonceUsed(body.message), false, `${what}: the nonce stays usable`);
    }
    const garbage = { ...(await proof(author)), farcasterMessage: 'not a sign-in message' };
    refused(await link(author.address, garbage), 401, 'SIWF_MESSAGE_MALFORMED');
    assert.equal(await storedHandle(author.address), undefined);
  });

  it('the SIWF message must carry the wallet message’s nonce: a used SIWF message cannot be paired again', async () => {
    const author = newAccount();
    const first = await proof(author);
    assert.equal((await link(author.address, first)).status, 200);
    // A fresh wallet message with the old (used) SIWF message.
    const fresh = await proof(author);
    const answer = await link(author.address, {
      ...fresh,
      farcasterMessage: first.farcasterMessage,
      farcasterSignature: first.farcasterSignature,
    });
    refused(answer, 401, 'SIWF_NONCE_MISMATCH');
    assert.equal(await nonceUsed(fresh.message), false);
  });

  it('the wallet message is checked as for the prompt', async () => {
    const author = newAccount();
    const body = await proof(newAccount());
    refused(await link(author.address, body), 403, 'SIWE_ADDRESS_MISMATCH');
    const expired = await proof(author);
    const wrongDomain = await signSiwe(author, {
      domain: 'evil.example',
      chainId: CHAIN_ID,
      nonce: nonceOf(expired.message),
    });
    refused(await link(author.address, { ...expired, ...wrongDomain }), 401, 'SIWE_DOMAIN_MISMATCH');
  });

  it('an fid without a username on the hub, and a hub in trouble, are refused with their codes', async () => {
    const author = newAccount();
    const noName = await proof(author, {
      signer: custodyNoName,
      address: custodyNoName.address,
      fid: FID_NO_NAME,
    });
    refused(await link(author.address, noName), 422, 'FARCASTER_USERNAME_NOT_FOUND');
    assert.equal(await nonceUsed(noName.message), false);

    for (const status of [500, 503]) {
      hub.failWith(status);
      try {
        const body = await proof(author);
        refused(await link(author.address, body), 503, 'FARCASTER_HUB_UNAVAILABLE');
        assert.equal(await nonceUsed(body.message), false);
      } finally {
        hub.failWith(undefined);
      }
    }
    assert.equal(await storedHandle(author.address), undefined);
  });

  it('a hub answer that is not a username message for the fid is refused; an emptied username is none', async () => {
    const author = newAccount();
    const cases: Array<[string, unknown, number, string]> = [
      ['another fid', usernameMessage(Number(FID) + 1, 'someone'), 502, 'FARCASTER_HUB_BAD_ANSWER'],
      [
        'not a username',
        {
          data: {
            ...(usernameMessage(Number(FID), 'x').data as object),
            userDataBody: { type: 'USER_DATA_TYPE_BIO', value: 'hi' },
          },
        },
        502,
        'FARCASTER_HUB_BAD_ANSWER',
      ],
      ['not a Farcaster name', usernameMessage(Number(FID), 'Robert; DROP'), 502, 'FARCASTER_HUB_BAD_ANSWER'],
      ['username removed', usernameMessage(Number(FID), ''), 422, 'FARCASTER_USERNAME_NOT_FOUND'],
    ];
    try {
      for (const [what, raw, status, code] of cases) {
        hub.setRawAnswer(FID, raw);
        const answer = await link(author.address, await proof(author));
        assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.json)}`);
        assert.equal(errorCode(answer), code, what);
      }
    } finally {
      hub.setRawAnswer(FID, undefined);
    }
    assert.equal(await storedHandle(author.address), undefined);
  });

  it('a custody address that is a contract wallet (ERC-1271) signs through FARCASTER_RPC_URL', async () => {
    const wallets = await deploySmartWalletFactory(chain.rpcUrl);
    const owner = newAccount();
    const contractCustody = await wallets.deployWallet(owner.address, `0x${'11'.repeat(32)}`);
    const fid = 4242n;
    await registry.register(fid, contractCustody);
    hub.setUsername(fid, 'contract-fc');
    const author = newAccount();
    const walletNonce = await nonce();
    const signed = await signSiwe(author, { domain: DOMAIN, chainId: CHAIN_ID, nonce: walletNonce });
    const farcasterMessage = siweMessage({
      address: contractCustody,
      domain: DOMAIN,
      chainId: 10,
      nonce: walletNonce,
      uri: `https://${DOMAIN}/login`,
      statement: 'Farcaster Auth',
      resources: [`farcaster://fid/${fid}`],
    });
    const body = {
      ...signed,
      farcasterMessage,
      farcasterSignature: await wallets.sign(owner, farcasterMessage),
    };
    const answer = await link(author.address, body);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(await storedHandle(author.address), 'contract-fc');
  });

  it('a hub or an RPC that does not answer: 503 with the provider’s code', async () => {
    const author = newAccount();
    const hubDown = await startTestApp({
      env: { ...env(), FARCASTER_HUB_URL: `http://127.0.0.1:${await closedPort()}` },
    });
    const rpcDown = await startTestApp({
      env: { ...env(), FARCASTER_RPC_URL: `http://127.0.0.1:${await closedPort()}` },
    });
    try {
      const a = await link(author.address, await proof(author, {}, hubDown.url), hubDown.url);
      refused(a, 503, 'FARCASTER_HUB_UNAVAILABLE');
      const b = await link(author.address, await proof(author, {}, rpcDown.url), rpcDown.url);
      refused(b, 503, 'FARCASTER_RPC_UNAVAILABLE');
    } finally {
      await hubDown.close();
      await rpcDown.close();
    }
  });

  it('answers 503 naming the missing variable; the rest of the service runs', async () => {
    const author = newAccount();
    const { FARCASTER_RPC_URL: _rpc, FARCASTER_HUB_URL: _hub, ...none } = env();
    const noRpc = await startTestApp({ env: { ...none, FARCASTER_HUB_URL: hub.url } });
    const noHub = await startTestApp({ env: { ...none, FARCASTER_RPC_URL: chain.rpcUrl } });
    try {
      const a = await link(author.address, await proof(author, {}, noRpc.url), noRpc.url);
      refused(a, 503, 'FARCASTER_RPC_URL_MISSING');
      const b = await link(author.address, await proof(author, {}, noHub.url), noHub.url);
      refused(b, 503, 'FARCASTER_HUB_URL_MISSING');
      assert.equal((await callJson(noHub.url, 'GET', '/health')).status, 200);
      assert.equal((await callJson(noHub.url, 'POST', '/api/auth/nonce')).status, 201);
    } finally {
      await noRpc.close();
      await noHub.close();
    }
  });
});

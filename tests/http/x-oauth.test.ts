// Linking an author's X handle over real HTTP against a fake X on loopback that speaks X's OAuth 2.0 protocol
// (PKCE S256 checked, Basic client authentication, users/me): the wallet-signed start, the browser's trip through
// the fake's authorize endpoint, and the callback. State reuse, expiry, unknown state, a refused code exchange and
// a denied authorization each redirect with their own code and change nothing (the handle as it was, the state
// still usable: a retry through the same authorization URL links); of two concurrent callbacks of one state
// exactly one links. Without the X configuration both routes answer 503 <VAR>_MISSING.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startFakeX, type FakeX } from '../helpers/fake-x.js';
import { startTestApp, type TestApp } from '../helpers/http.js';
import { callJson, errorCode, signSiwe } from '../helpers/siwe.js';

const DOMAIN = 'glisk.test';
const CHAIN_ID = 84532; // NETWORK=BASE_SEPOLIA
const CLIENT_ID = 'glisk-test-client';
const CLIENT_SECRET = 'x-client-secret-0123456789';
const FRONTEND = 'https://app.glisk.test/profile';
const alice = privateKeyToAccount(generatePrivateKey());

describe('X handle link (OAuth 2.0 + PKCE)', () => {
  let fakeX: FakeX;
  let app: TestApp;

  const signed = async () => {
    const nonce = await callJson(app.url, 'POST', '/api/auth/nonce');
    return signSiwe(alice, { domain: DOMAIN, chainId: CHAIN_ID, nonce: nonce.json.nonce as string });
  };
  const start = async (): Promise<URL> => {
    const answer = await callJson(app.url, 'POST', `/api/authors/${alice.address}/x/start`, await signed());
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return new URL(answer.json.authorizationUrl as string);
  };
  /** The browser at X: X "approves" and sends it to our callback; returns that callback URL. */
  const approveAtX = async (authorizationUrl: URL): Promise<URL> => {
    const res = await fetch(authorizationUrl, { redirect: 'manual' });
    assert.equal(res.status, 302, await res.text());
    return new URL(res.headers.get('location') ?? '');
  };
  /** Our callback; returns the result parameters of the redirect to FRONTEND_URL. */
  const callback = async (url: URL | string): Promise<Record<string, string>> => {
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 302, await res.text());
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, FRONTEND);
    return Object.fromEntries(location.searchParams);
  };
  const consumedAt = async (state: string): Promise<Date | string | null | undefined> => {
    const rows = await app.testDb.db.execute<{ consumed_at: Date | string | null }>(
      sql`select consumed_at from oauth_states where state = ${state}`,
    );
    assert.equal(rows.length, 1, `state ${state} is stored`);
    return rows[0]?.consumed_at;
  };
  const handle = async (): Promise<string | null | undefined> => {
    const rows = await app.testDb.db.execute<{ twitter_handle: string | null }>(
      sql`select twitter_handle from authors where lower(wallet_address) = lower(${alice.address})`,
    );
    return rows[0]?.twitter_handle;
  };

  before(async () => {
    fakeX = await startFakeX({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    app = await startTestApp({
      env: {
        NETWORK: 'BASE_SEPOLIA',
        AUTH_DOMAIN: DOMAIN,
        X_CLIENT_ID: CLIENT_ID,
        X_CLIENT_SECRET: CLIENT_SECRET,
        X_REDIRECT_URI: 'http://127.0.0.1:1/api/authors/x/callback',
        X_AUTHORIZE_URL: `${fakeX.url}/i/oauth2/authorize`,
        X_API_URL: fakeX.url,
        FRONTEND_URL: FRONTEND,
      },
    });
  });
  after(async () => {
    await app?.close();
    await fakeX?.close();
  });

  // X sends the browser to X_REDIRECT_URI; in the test that is our app's callback on its real port.
  const toApp = (url: URL): string => `${app.url}${url.pathname}${url.search}`;

  it('start answers X’s authorization URL with an S256 challenge; the state and verifier live in PostgreSQL', async () => {
    const url = await start();
    assert.equal(`${url.origin}${url.pathname}`, `${fakeX.url}/i/oauth2/authorize`);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('client_id'), CLIENT_ID);
    const state = url.searchParams.get('state') ?? '';
    const rows = await app.testDb.db.execute<{ code_verifier: string; provider: string }>(
      sql`select code_verifier, provider from oauth_states where state = ${state}`,
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.provider, 'x');
    assert.notEqual(
      url.searchParams.get('code_challenge'),
      rows[0]?.code_verifier,
      'the verifier never leaves',
    );
  });

  it('the callback exchanges the code (PKCE), reads users/me, stores the handle and redirects; a second use of the state is refused', async () => {
    fakeX.setUsername('glisk_alice');
    const back = toApp(await approveAtX(await start()));
    assert.deepEqual(await callback(back), { x: 'linked', handle: 'glisk_alice' });
    assert.equal(await handle(), 'glisk_alice');
    const author = await callJson(app.url, 'GET', `/api/authors/${alice.address}`);
    assert.equal(author.json.xHandle, 'glisk_alice');

    fakeX.setUsername('someone_else');
    assert.deepEqual(await callback(back), { x: 'error', code: 'OAUTH_STATE_USED' });
    assert.equal(await handle(), 'glisk_alice', 'a replayed callback changes nothing');
  });

  it('an unknown state, an expired one, a denial and a missing code each have their code; the handle stays', async () => {
    const before = await handle();
    assert.deepEqual(
      await callback(`${app.url}/api/authors/x/callback?state=forged-state-0123456789abc&code=c`),
      {
        x: 'error',
        code: 'OAUTH_STATE_UNKNOWN',
      },
    );

    const expiring = await approveAtX(await start());
    await app.testDb.db.execute(
      sql`update oauth_states set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
          where state = ${expiring.searchParams.get('state')}`,
    );
    assert.deepEqual(await callback(toApp(expiring)), { x: 'error', code: 'OAUTH_STATE_EXPIRED' });

    const denied = await start();
    const state = denied.searchParams.get('state') ?? '';
    assert.deepEqual(await callback(`${app.url}/api/authors/x/callback?state=${state}&error=access_denied`), {
      x: 'error',
      code: 'X_AUTHORIZATION_DENIED',
    });
    assert.deepEqual(await callback(`${app.url}/api/authors/x/callback?state=${state}`), {
      x: 'error',
      code: 'X_CODE_MISSING',
    });
    assert.equal(await handle(), before);
    assert.equal(await consumedAt(state), null, 'a failed callback leaves its state unused');
  });

  it('a refused code exchange changes nothing: the state stays usable and the same authorization URL succeeds after', async () => {
    const before = await handle();
    fakeX.setUsername('glisk_retry');
    const authorizationUrl = await start();
    const state = authorizationUrl.searchParams.get('state') ?? '';
    fakeX.refuseCodes(true);
    try {
      assert.deepEqual(await callback(toApp(await approveAtX(authorizationUrl))), {
        x: 'error',
        code: 'X_TOKEN_EXCHANGE_FAILED',
      });
    } finally {
      fakeX.refuseCodes(false);
    }
    assert.equal(await handle(), before);
    assert.equal(await consumedAt(state), null, 'the failed exchange did not use the state');

    assert.deepEqual(await callback(toApp(await approveAtX(authorizationUrl))), {
      x: 'linked',
      handle: 'glisk_retry',
    });
    assert.equal(await handle(), 'glisk_retry');
    assert.notEqual(await consumedAt(state), null);
  });

  it('two callbacks of one state at once: exactly one links, the other is told OAUTH_STATE_USED', async () => {
    fakeX.setUsername('glisk_race');
    const authorizationUrl = await start();
    // The browser went to X twice (two codes for one state); both come back at the same time.
    const backs = [await approveAtX(authorizationUrl), await approveAtX(authorizationUrl)];
    const results = await Promise.all(backs.map((back) => callback(toApp(back))));
    const codes = results.map((r) => r.code ?? r.x).sort();
    assert.deepEqual(codes, ['OAUTH_STATE_USED', 'linked']);
    assert.equal(await handle(), 'glisk_race');
  });

  it('a verifier that does not match the challenge is refused by X (PKCE is really used)', async () => {
    const back = await approveAtX(await start());
    await app.testDb.db.execute(
      sql`update oauth_states set code_verifier = ${'v'.repeat(43)} where state = ${back.searchParams.get('state')}`,
    );
    assert.deepEqual(await callback(toApp(back)), { x: 'error', code: 'X_TOKEN_EXCHANGE_FAILED' });
  });

  it('a signed start consumes its nonce: the same message cannot start twice', async () => {
    const message = await signed();
    const first = await callJson(app.url, 'POST', `/api/authors/${alice.address}/x/start`, message);
    assert.equal(first.status, 200);
    const second = await callJson(app.url, 'POST', `/api/authors/${alice.address}/x/start`, message);
    assert.equal(second.status, 401);
    assert.equal(errorCode(second), 'NONCE_USED');
  });
});

describe('X link not configured', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { NETWORK: 'BASE_SEPOLIA', AUTH_DOMAIN: DOMAIN } });
  });
  after(() => app?.close());

  it('both routes answer 503 naming the missing variable; the rest of the service runs', async () => {
    const nonce = await callJson(app.url, 'POST', '/api/auth/nonce');
    const message = await signSiwe(alice, {
      domain: DOMAIN,
      chainId: CHAIN_ID,
      nonce: nonce.json.nonce as string,
    });
    const started = await callJson(app.url, 'POST', `/api/authors/${alice.address}/x/start`, message);
    assert.equal(started.status, 503);
    assert.equal(errorCode(started), 'X_CLIENT_ID_MISSING');
    const back = await callJson(app.url, 'GET', '/api/authors/x/callback?state=abcdefghijklmnopqrstuvwxyz');
    assert.equal(back.status, 503);
    assert.equal(errorCode(back), 'X_CLIENT_ID_MISSING');
    assert.equal((await callJson(app.url, 'GET', '/health')).status, 200);
  });

  it('names X_REDIRECT_URI or FRONTEND_URL when only that is missing', async () => {
    const partial = await startTestApp({
      env: {
        X_CLIENT_ID: CLIENT_ID,
        X_CLIENT_SECRET: CLIENT_SECRET,
        X_REDIRECT_URI: 'https://api.glisk.test/cb',
      },
    });
    try {
      const back = await callJson(
        partial.url,
        'GET',
        '/api/authors/x/callback?state=abcdefghijklmnopqrstuvwxyz',
      );
      assert.equal(errorCode(back), 'FRONTEND_URL_MISSING');
    } finally {
      await partial.close();
    }
  });
});

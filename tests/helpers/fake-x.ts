// A fake X (Twitter) OAuth 2.0 server on loopback speaking X's protocol: GET /i/oauth2/authorize (the user
// "approves" at once: 302 to redirect_uri with code and state), POST /2/oauth2/token (HTTP Basic client
// authentication, grant_type=authorization_code, the redirect_uri of the authorization, and PKCE S256: the
// verifier's SHA-256 must be the challenge), GET /2/users/me (Bearer). Codes and tokens are single-use/real.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeX = {
  url: string;
  /** The username users/me answers for tokens issued from now on. */
  setUsername: (username: string) => void;
  /** Makes the token endpoint refuse every code (invalid_grant) until called with false. */
  refuseCodes: (refuse: boolean) => void;
  /** Every request seen, in order (method, path). */
  requests: Array<{ method: string; path: string }>;
  close: () => Promise<void>;
};

type Grant = { clientId: string; redirectUri: string; challenge: string; username: string };

export async function startFakeX(options: { clientId: string; clientSecret: string }): Promise<FakeX> {
  let username = 'glisk_author';
  let refusing = false;
  const codes = new Map<string, Grant>();
  const tokens = new Map<string, string>();
  const requests: FakeX['requests'] = [];

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const oauthError = (res: ServerResponse, status: number, error: string, description: string): void =>
    json(res, status, { error, error_description: description });
  const readBody = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake-x');
    requests.push({ method: req.method ?? '', path: url.pathname });
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/i/oauth2/authorize') {
        const p = url.searchParams;
        const redirectUri = p.get('redirect_uri') ?? '';
        if (
          p.get('response_type') !== 'code' ||
          p.get('client_id') !== options.clientId ||
          p.get('code_challenge_method') !== 'S256' ||
          !p.get('code_challenge') ||
          !p.get('state') ||
          !(p.get('scope') ?? '').split(' ').includes('users.read')
        ) {
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end('invalid authorization request');
          return;
        }
        const code = randomBytes(16).toString('base64url');
        codes.set(code, {
          clientId: options.clientId,
          redirectUri,
          challenge: p.get('code_challenge') ?? '',
          username,
        });
        const back = new URL(redirectUri);
        back.searchParams.set('state', p.get('state') ?? '');
        back.searchParams.set('code', code);
        res.writeHead(302, { location: back.toString() });
        res.end();
        return;
      }
      if (req.method === 'POST' && url.pathname === '/2/oauth2/token') {
        const expected = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
        if (req.headers.authorization !== expected) {
          oauthError(res, 401, 'unauthorized_client', 'Missing valid authorization header');
          return;
        }
        if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
          oauthError(res, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
          return;
        }
        const form = new URLSearchParams(await readBody(req));
        const code = form.get('code') ?? '';
        const grant = codes.get(code);
        codes.delete(code);
        const verifier = form.get('code_verifier') ?? '';
        const challenge = createHash('sha256').update(verifier).digest('base64url');
        if (
          refusing ||
          form.get('grant_type') !== 'authorization_code' ||
          grant === undefined ||
          form.get('redirect_uri') !== grant.redirectUri ||
          challenge !== grant.challenge
        ) {
          oauthError(res, 400, 'invalid_request', 'Value passed for the authorization code was invalid.');
          return;
        }
        const token = randomBytes(24).toString('base64url');
        tokens.set(token, grant.username);
        json(res, 200, {
          token_type: 'bearer',
          expires_in: 7200,
          access_token: token,
          scope: 'users.read tweet.read',
        });
        return;
      }
      if (req.method === 'GET' && url.pathname === '/2/users/me') {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const user = token === undefined ? undefined : tokens.get(token);
        if (user === undefined) {
          json(res, 401, { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
          return;
        }
        json(res, 200, { data: { id: '1234567890', name: 'A GLISK author', username: user } });
        return;
      }
      json(res, 404, { title: 'Not Found Error', detail: `no ${req.method} ${url.pathname}` });
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setUsername: (name) => {
      username = name;
    },
    refuseCodes: (refuse) => {
      refusing = refuse;
    },
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

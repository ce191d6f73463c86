// A fake Farcaster hub on loopback speaking Hubble's HTTP API for user data: GET /v1/userDataByFid?fid=N&
// user_data_type=6 (or USER_DATA_TYPE_USERNAME) answers the fid's latest USERNAME message in the hub's JSON
// encoding, or HTTP 400 with Hubble's not_found error when the fid has none. It can be told to fail (HTTP 5xx)
// and to require an x-api-key, as hosted hubs do.
import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeHub = {
  url: string;
  /** The username the hub holds for an fid (undefined: none). */
  setUsername: (fid: bigint, username: string | undefined) => void;
  /** Answers the fid's username requests with this body instead (HTTP 200), or as usual again with undefined. */
  setRawAnswer: (fid: bigint, body: unknown) => void;
  /** Answers every request with this HTTP status until called with undefined. */
  failWith: (status: number | undefined) => void;
  /** Every request's path and query, in order. */
  requests: string[];
  close: () => Promise<void>;
};

const USERNAME_TYPES = new Set(['6', 'USER_DATA_TYPE_USERNAME']);

/** A USERNAME user-data message as Hubble's HTTP API encodes it (hashes and signer hex, signature base64). */
export function usernameMessage(fid: number, username: string): Record<string, unknown> {
  const hash = `0x${createHash('sha256').update(`${fid}:${username}`).digest('hex').slice(0, 40)}`;
  return {
    data: {
      type: 'MESSAGE_TYPE_USER_DATA_ADD',
      fid,
      timestamp: 83433831,
      network: 'FARCASTER_NETWORK_MAINNET',
      userDataBody: { type: 'USER_DATA_TYPE_USERNAME', value: username },
    },
    hash,
    hashScheme: 'HASH_SCHEME_BLAKE3',
    signature: Buffer.from(hash).toString('base64'),
    signatureScheme: 'SIGNATURE_SCHEME_ED25519',
    signer: `0x${'ab'.repeat(32)}`,
  };
}

export async function startFakeHub(options: { apiKey?: string } = {}): Promise<FakeHub> {
  const usernames = new Map<string, string>();
  const rawAnswers = new Map<string, unknown>();
  let failing: number | undefined;
  const requests: string[] = [];
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  // Hubble's HTTP API answers a gRPC error as HTTP 400 with the serialised HubError.
  const hubError = (res: ServerResponse, errCode: string, details: string): void =>
    json(res, 400, {
      errCode,
      presentable: false,
      name: 'HubError',
      code: errCode === 'not_found' ? 5 : 3,
      details,
      metadata: { errcode: [errCode] },
    });

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake-hub');
    requests.push(`${url.pathname}${url.search}`);
    if (failing !== undefined) {
      json(res, failing, { error: 'the hub is having a bad day' });
      return;
    }
    if (options.apiKey !== undefined && req.headers['x-api-key'] !== options.apiKey) {
      json(res, 401, { message: 'Unauthorized' });
      return;
    }
    if (req.method !== 'GET' || url.pathname !== '/v1/userDataByFid') {
      json(res, 404, { message: `Route ${req.method} ${url.pathname} not found`, error: 'Not Found' });
      return;
    }
    const fid = url.searchParams.get('fid') ?? '';
    if (!/^\d+$/.test(fid) || !USERNAME_TYPES.has(url.searchParams.get('user_data_type') ?? '')) {
      hubError(res, 'bad_request.validation_failure', 'fid and user_data_type=6 are expected here');
      return;
    }
    if (rawAnswers.has(fid)) {
      json(res, 200, rawAnswers.get(fid));
      return;
    }
    const username = usernames.get(fid);
    if (username === undefined) {
      hubError(res, 'not_found', 'NotFound: UserDataAdd not found');
      return;
    }
    json(res, 200, usernameMessage(Number(fid), username));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setUsername: (fid, username) => {
      if (username === undefined) usernames.delete(fid.toString());
      else usernames.set(fid.toString(), username);
    },
    setRawAnswer: (fid, body) => {
      if (body === undefined) rawAnswers.delete(fid.toString());
      else rawAnswers.set(fid.toString(), body);
    },
    failWith: (status) => {
      failing = status;
    },
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

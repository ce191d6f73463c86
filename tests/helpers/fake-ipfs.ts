// Fake Kubo and fake Pinata: real HTTP servers on loopback that speak the two upload APIs the IPFS providers use
// (Kubo's POST /api/v0/add, Pinata's POST /pinning/pinFileToIPFS), parse the multipart bodies, pin the bytes
// under the CID a real node computes for them, and answer with the faults a test injects: a status with or
// without Retry-After, a hang, a 2xx without a CID, a CID that is not the bytes'. Pinata also enforces its own
// requests-per-window limit with 429s, as the real service does.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { computeCid, toCidV0 } from '../../src/lib/cid.js';

export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  | { kind: 'hang' }
  | { kind: 'no-cid' }
  | { kind: 'wrong-cid' };

export type ReceivedUpload = {
  /** performance.now() when the request arrived. */
  at: number;
  headers: IncomingMessage['headers'];
  query: URLSearchParams;
  /** Text fields of the multipart body (pinataOptions, pinataMetadata, ...). */
  fields: Record<string, string>;
  fileName: string;
  mediaType: string;
  bytes: Buffer;
  /** What the fake answered: a CID, or the fault / status it injected. */
  outcome: { cid: string } | { fault: Fault['kind'] | 'rate-limited' | 'unauthorized'; status: number };
};

export type FakeIpfsService = {
  url: string;
  uploads: ReceivedUpload[];
  /** Pinned bytes by canonical CID. */
  pins: Map<string, Buffer>;
  /** The next requests get these faults, one each, in order. */
  inject: (...faults: Fault[]) => void;
  close: () => Promise<void>;
};

export type FakePinataOptions = {
  /** The Bearer token it accepts; anything else is 401. */
  jwt: string;
  /** At most `max` requests per `windowMs` (sliding), beyond that 429 with Retry-After. Unlimited if unset. */
  rateLimit?: { max: number; windowMs: number };
};

type Answer = {
  status: number;
  body: string;
  headers?: Record<string, string>;
  outcome: ReceivedUpload['outcome'];
};

export function startFakeKubo(): Promise<FakeIpfsService> {
  return startFake('/api/v0/add', async (upload, fault, pins) => {
    const cidVersion = upload.query.get('cid-version') ?? '0';
    // Kubo's default: raw leaves with CIDv1, dag-pb leaves with CIDv0, unless raw-leaves says otherwise.
    const rawLeaves = (upload.query.get('raw-leaves') ?? String(cidVersion === '1')) === 'true';
    if (fault?.kind === 'status') {
      return statusAnswer(
        fault,
        JSON.stringify({ Message: `injected ${fault.status}`, Code: 0, Type: 'error' }),
      );
    }
    if (fault?.kind === 'no-cid') {
      return {
        status: 200,
        body: `${JSON.stringify({ Name: upload.fileName, Size: String(upload.bytes.length) })}\n`,
        outcome: { fault: 'no-cid', status: 200 },
      };
    }
    const bytes =
      fault?.kind === 'wrong-cid' ? Buffer.concat([upload.bytes, Buffer.from('!')]) : upload.bytes;
    const canonical = await computeCid(bytes, rawLeaves ? 'raw-leaves' : 'dag-pb');
    const answered = cidVersion === '0' ? toCidV0(canonical) : canonical;
    if (upload.query.get('pin') === 'true') pins.set(canonical, bytes);
    return {
      status: 200,
      body: `${JSON.stringify({ Name: upload.fileName, Hash: answered, Size: String(bytes.length) })}\n`,
      outcome: fault?.kind === 'wrong-cid' ? { fault: 'wrong-cid', status: 200 } : { cid: answered },
    };
  });
}

export function startFakePinata(options: FakePinataOptions): Promise<FakeIpfsService> {
  const recent: number[] = [];
  return startFake('/pinning/pinFileToIPFS', async (upload, fault, pins) => {
    if (upload.headers.authorization !== `Bearer ${options.jwt}`) {
      return {
        status: 401,
        body: JSON.stringify({
          error: { reason: 'INVALID_CREDENTIALS', details: 'Invalid/expired credentials' },
        }),
        outcome: { fault: 'unauthorized', status: 401 },
      };
    }
    if (options.rateLimit) {
      const { max, windowMs } = options.rateLimit;
      while (recent.length > 0 && (recent[0] ?? 0) <= upload.at - windowMs) recent.shift();
      if (recent.length >= max) {
        const retryAfterSeconds = Math.max(
          1,
          Math.ceil(((recent[0] ?? upload.at) + windowMs - upload.at) / 1000),
        );
        return {
          status: 429,
          body: JSON.stringify({ error: { reason: 'RATE_LIMITED', details: 'Too many requests' } }),
          headers: { 'Retry-After': String(retryAfterSeconds) },
          outcome: { fault: 'rate-limited', status: 429 },
        };
      }
      recent.push(upload.at);
    }
    if (fault?.kind === 'status') {
      return statusAnswer(
        fault,
        JSON.stringify({ error: { reason: 'INJECTED', details: `injected ${fault.status}` } }),
      );
    }
    if (fault?.kind === 'no-cid') {
      return {
        status: 200,
        body: JSON.stringify({ PinSize: upload.bytes.length, Timestamp: new Date().toISOString() }),
        outcome: { fault: 'no-cid', status: 200 },
      };
    }
    const pinataOptions = JSON.parse(upload.fields.pinataOptions ?? '{}') as { cidVersion?: number };
    const cidVersion = pinataOptions.cidVersion ?? 0;
    const bytes =
      fault?.kind === 'wrong-cid' ? Buffer.concat([upload.bytes, Buffer.from('!')]) : upload.bytes;
    const canonical = await computeCid(bytes, cidVersion === 1 ? 'raw-leaves' : 'dag-pb');
    const answered = cidVersion === 0 ? toCidV0(canonical) : canonical;
    pins.set(canonical, bytes);
    return {
      status: 200,
      body: JSON.stringify({
        IpfsHash: answered,
        PinSize: bytes.length,
        Timestamp: new Date().toISOString(),
      }),
      outcome: fault?.kind === 'wrong-cid' ? { fault: 'wrong-cid', status: 200 } : { cid: answered },
    };
  });
}

function statusAnswer(fault: Extract<Fault, { kind: 'status' }>, defaultBody: string): Answer {
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['Retry-After'] = fault.retryAfter;
  return {
    status: fault.status,
    body: fault.body ?? defaultBody,
    headers,
    outcome: { fault: 'status', status: fault.status },
  };
}

async function startFake(
  path: string,
  handle: (
    upload: Omit<ReceivedUpload, 'outcome'>,
    fault: Fault | undefined,
    pins: Map<string, Buffer>,
  ) => Promise<Answer>,
): Promise<FakeIpfsService> {
  const faults: Fault[] = [];
  const uploads: ReceivedUpload[] = [];
  const pins = new Map<string, Buffer>();

  const server = createServer((req, res) => {
    const at = performance.now();
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = await readBody(req);
      if (req.method !== 'POST' || url.pathname !== path) {
        send(res, { status: 404, body: JSON.stringify({ Message: 'not found' }) });
        return;
      }
      const form = await parseMultipart(req, body);
      const fault = faults.shift();
      const received: Omit<ReceivedUpload, 'outcome'> = {
        at,
        headers: req.headers,
        query: url.searchParams,
        fields: form.fields,
        fileName: form.file?.name ?? '',
        mediaType: form.file?.type ?? '',
        bytes: form.file ? Buffer.from(await form.file.arrayBuffer()) : Buffer.alloc(0),
      };
      if (!form.file) {
        const answer = {
          status: 400,
          body: JSON.stringify({ Message: 'no file part' }),
          outcome: { fault: 'status' as const, status: 400 },
        };
        uploads.push({ ...received, outcome: answer.outcome });
        send(res, answer);
        return;
      }
      if (fault?.kind === 'hang') {
        uploads.push({ ...received, outcome: { fault: 'hang', status: 0 } });
        return; // never answers; close() destroys the socket
      }
      const answer = await handle(received, fault, pins);
      uploads.push({ ...received, outcome: answer.outcome });
      send(res, answer);
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    pins,
    inject: (...more) => faults.push(...more),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, answer: Pick<Answer, 'status' | 'body' | 'headers'>): void {
  res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
  res.end(answer.body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

// The multipart/form-data parser of undici (the one behind fetch's Request.formData), not a hand-written one.
async function parseMultipart(
  req: IncomingMessage,
  body: Buffer,
): Promise<{ file: File | undefined; fields: Record<string, string> }> {
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith('multipart/form-data')) return { file: undefined, fields: {} };
  const form = await new Request('http://fake/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  }).formData();
  let file: File | undefined;
  const fields: Record<string, string> = {};
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields[name] = value;
    else if (file === undefined) file = value;
  }
  return { file, fields };
}

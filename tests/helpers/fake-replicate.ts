// A fake Replicate: a real HTTP server on loopback speaking the predictions API the production client uses
// (POST /v1/models/{owner}/{name}/predictions with Prefer: wait, GET /v1/predictions/{id}, POST .../cancel) and
// serving the output files. Each prediction's behaviour is chosen by `behave(prompt, call)`; failures are
// injected the way Replicate produces them.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type Behaviour =
  | 'succeed'
  /** Starts, and succeeds only on the first poll (the client must poll). */
  | 'succeed-after-poll'
  /** 429 with Retry-After (seconds). */
  | { status: 429; retryAfterSeconds: number }
  | { status: 500 | 401 | 422 }
  /** Stays `processing` forever: the client times out and must cancel. */
  | 'hang'
  /** 201 with a body that is not JSON. */
  | 'malformed-json'
  /** Succeeds with an output URL that answers 404 (Replicate deleted it). */
  | 'expired-output'
  /** The safety checker refuses: status failed, error "NSFW content detected...". */
  | 'nsfw';

export type FakeReplicateCall = {
  prompt: string;
  model: string;
  prefer: string | undefined;
  auth: string | undefined;
};

export type FakeReplicate = {
  /** Base URL for REPLICATE_API_URL (ends with /v1). */
  url: string;
  token: string;
  calls: FakeReplicateCall[];
  cancelled: string[];
  /** The WebP bytes every successful prediction outputs for `prompt`. */
  outputFor: (prompt: string) => Promise<Buffer>;
  close: () => Promise<void>;
};

type Prediction = {
  id: string;
  model: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  input: { prompt: string };
  output: string[] | null;
  error: string | null;
  polls: number;
  finalOnPoll: boolean;
};

/** Distinct small WebP bytes per prompt (a colour from its hash). */
async function webpFor(prompt: string): Promise<Buffer> {
  let hash = 0;
  for (const char of prompt) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return sharp({
    create: {
      width: 16,
      height: 16,
      channels: 3,
      background: { r: hash & 255, g: (hash >> 8) & 255, b: (hash >> 16) & 255 },
    },
  })
    .webp({ lossless: true })
    .toBuffer();
}

export async function startFakeReplicate(
  behave: (prompt: string, call: number) => Behaviour = () => 'succeed',
): Promise<FakeReplicate> {
  const token = `r8_fake_${randomUUID().replace(/-/g, '')}`;
  const calls: FakeReplicateCall[] = [];
  const cancelled: string[] = [];
  const predictions = new Map<string, Prediction>();
  const files = new Map<string, Buffer | 'expired'>();
  let base = '';

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const view = (p: Prediction) => ({
    id: p.id,
    model: p.model,
    version: 'fake',
    status: p.status,
    input: p.input,
    output: p.output,
    error: p.error,
    logs: '',
    urls: { get: `${base}/v1/predictions/${p.id}`, cancel: `${base}/v1/predictions/${p.id}/cancel` },
    created_at: new Date().toISOString(),
  });
  const finish = async (p: Prediction, behaviour: Behaviour) => {
    if (behaviour === 'nsfw') {
      p.status = 'failed';
      p.error = 'NSFW content detected. Try running it again, or try a different prompt.';
      return;
    }
    const name = `${p.id}.webp`;
    files.set(name, behaviour === 'expired-output' ? 'expired' : await webpFor(p.input.prompt));
    p.status = 'succeeded';
    p.output = [`${base}/files/${name}`];
  };

  const behaviours = new Map<string, Behaviour>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', base);
        const auth = req.headers.authorization;
        if (url.pathname.startsWith('/files/')) {
          const file = files.get(url.pathname.slice('/files/'.length));
          if (file === undefined || file === 'expired') {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
            return;
          }
          res.writeHead(200, { 'content-type': 'image/webp' }).end(file);
          return;
        }
        if (auth !== `Bearer ${token}`) {
          json(res, 401, {
            title: 'Unauthenticated',
            detail: 'You did not pass a valid authentication token',
            status: 401,
          });
          return;
        }
        const create = /^\/v1\/models\/([^/]+\/[^/]+)\/predictions$/.exec(url.pathname);
        if (create && req.method === 'POST') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input?: { prompt?: unknown } };
          const prompt = typeof body.input?.prompt === 'string' ? body.input.prompt : '';
          const prefer = typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined;
          calls.push({ prompt, model: create[1] ?? '', prefer, auth });
          const behaviour = behave(prompt, calls.length);
          if (typeof behaviour === 'object') {
            const headers: Record<string, string> =
              behaviour.status === 429 ? { 'retry-after': String(behaviour.retryAfterSeconds) } : {};
            json(
              res,
              behaviour.status,
              { title: 'error', detail: `injected ${behaviour.status}`, status: behaviour.status },
              headers,
            );
            return;
          }
          if (behaviour === 'malformed-json') {
            res.writeHead(201, { 'content-type': 'application/json' }).end('{"id": "broken", "status": ');
            return;
          }
          const p: Prediction = {
            id: randomUUID().replace(/-/g, '').slice(0, 20),
            model: create[1] ?? '',
            status: 'starting',
            input: { prompt },
            output: null,
            error: null,
            polls: 0,
            finalOnPoll: behaviour === 'succeed-after-poll',
          };
          predictions.set(p.id, p);
          behaviours.set(p.id, behaviour);
          if (behaviour === 'hang') p.status = 'processing';
          else if (behaviour !== 'succeed-after-poll' && prefer !== undefined) await finish(p, behaviour);
          json(res, 201, view(p));
          return;
        }
        const get = /^\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(url.pathname);
        const p = get ? predictions.get(get[1] ?? '') : undefined;
        if (get && p) {
          if (get[2] && req.method === 'POST') {
            cancelled.push(p.id);
            p.status = 'canceled';
            json(res, 200, view(p));
            return;
          }
          p.polls += 1;
          const behaviour = behaviours.get(p.id) ?? 'succeed';
          if (p.status === 'starting' && behaviour !== 'hang')
            await finish(p, behaviour === 'succeed-after-poll' ? 'succeed' : behaviour);
          json(res, 200, view(p));
          return;
        }
        json(res, 404, { title: 'Not found', detail: 'Not found', status: 404 });
      })().catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/v1`,
    token,
    calls,
    cancelled,
    outputFor: webpFor,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// A JSON-RPC proxy on loopback in front of the test chain, speaking the real protocol: it forwards every request
// and answers like a hosted provider where a test needs it to (refusing wide eth_getLogs ranges, failing for a
// while), and records the eth_getLogs ranges that were answered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type JsonRpcRequest = {
  jsonrpc: '2.0';
  id: number | string | null;
  method: string;
  params?: unknown[];
};

export type RpcOverride = {
  /** Send the request to the chain first (its answer is dropped). */
  forward?: boolean;
  /** A JSON-RPC error answer, e.g. { code: -32000, message: 'already known' }. */
  error?: { code: number; message: string };
  /** A result answer (null: "no receipt yet"). Used when error is absent. */
  result?: unknown;
};

export type GetLogsCall = { fromBlock: bigint; toBlock: bigint; refused: boolean };

export type RpcProxy = {
  url: string;
  /** eth_getLogs calls in arrival order, refused ones included. */
  getLogsCalls: GetLogsCall[];
  /** Ranges wider than this many blocks are refused the way Alchemy refuses them; undefined accepts all. */
  maxRange: number | undefined;
  /** The next `n` HTTP requests are answered 503 without reaching the chain. */
  failNext(n: number): void;
  /** Requests for which this returns true get a JSON-RPC error answer instead of reaching the chain. */
  refuse: ((request: JsonRpcRequest) => boolean) | undefined;
  /**
   * Answers a request the way a test needs (a node's error message, a missing receipt), optionally after
   * forwarding it (`forward: true`: the chain sees it, the client gets the override); undefined passes it on.
   */
  override: ((request: JsonRpcRequest) => RpcOverride | undefined) | undefined;
  /** Every request in arrival order (method and params), batched ones included. */
  requests: JsonRpcRequest[];
  stop(): Promise<void>;
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function blockParam(value: unknown): bigint | undefined {
  return typeof value === 'string' && value.startsWith('0x') ? BigInt(value) : undefined;
}

export async function startRpcProxy(upstreamUrl: string): Promise<RpcProxy> {
  let failures = 0;
  const proxy: RpcProxy = {
    url: '',
    getLogsCalls: [],
    maxRange: undefined,
    failNext(n) {
      failures = n;
    },
    refuse: undefined,
    override: undefined,
    requests: [],
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function forward(request: JsonRpcRequest): Promise<unknown> {
    const upstream = await fetch(upstreamUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    return upstream.json();
  }

  async function answer(request: JsonRpcRequest): Promise<unknown> {
    proxy.requests.push(request);
    const override = proxy.override?.(request);
    if (override !== undefined) {
      if (override.forward === true) await forward(request);
      return override.error !== undefined
        ? { jsonrpc: '2.0', id: request.id, error: override.error }
        : { jsonrpc: '2.0', id: request.id, result: override.result ?? null };
    }
    if (proxy.refuse?.(request) === true) {
      return {
        jsonrpc: '2.0',
        id: request.id,
        error: { code: -32000, message: 'execution aborted (timeout = 5s)' },
      };
    }
    if (request.method === 'eth_getLogs') {
      const filter = (request.params?.[0] ?? {}) as { fromBlock?: unknown; toBlock?: unknown };
      const fromBlock = blockParam(filter.fromBlock);
      const toBlock = blockParam(filter.toBlock);
      if (fromBlock !== undefined && toBlock !== undefined) {
        const refused = proxy.maxRange !== undefined && toBlock - fromBlock + 1n > BigInt(proxy.maxRange);
        proxy.getLogsCalls.push({ fromBlock, toBlock, refused });
        if (refused) {
          // Alchemy's answer to a range over its limit (JSON-RPC error inside an HTTP 200).
          return {
            jsonrpc: '2.0',
            id: request.id,
            error: {
              code: -32600,
              message: `You can make eth_getLogs requests with up to a ${proxy.maxRange} block range. Based on your parameters, this block range should work: [0x${fromBlock.toString(16)}, 0x${(fromBlock + BigInt(proxy.maxRange ?? 1) - 1n).toString(16)}]`,
            },
          };
        }
      }
    }
    return forward(request);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const text = await readBody(req);
        if (failures > 0) {
          failures -= 1;
          res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable');
          return;
        }
        const parsed = JSON.parse(text) as JsonRpcRequest | JsonRpcRequest[];
        const result = Array.isArray(parsed) ? await Promise.all(parsed.map(answer)) : await answer(parsed);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      } catch (error) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      }
    })();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

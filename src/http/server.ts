// Listening and graceful closing of the HTTP server. close() stops accepting connections, lets the requests
// in flight finish (their answers carry Connection: close and their sockets are closed once idle), and after
// the timeout destroys whatever is still open.
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';

export type RunningServer = {
  server: Server;
  /** The bound port (the real one when 0 was asked). */
  port: number;
  /** http://host:port as a client on this machine would reach it. */
  url: string;
  /** Resolves once every connection is closed; `forced` tells whether the timeout had to cut some. */
  close: (timeoutMs: number) => Promise<{ forced: boolean }>;
};

export async function listen(app: RequestListener, host: string, port: number): Promise<RunningServer> {
  let closing = false;
  // Answers not yet sent when close() is called must say Connection: close, so that no client sends another
  // request on a socket that is about to go away.
  const pending = new Set<ServerResponse>();
  const forget = function (this: ServerResponse): void {
    pending.delete(this);
  };
  const server = createServer((req, res) => {
    if (closing) res.shouldKeepAlive = false;
    else {
      pending.add(res);
      res.once('close', forget);
    }
    app(req, res);
  });
  // Longer than the usual proxy idle timeout (60 s), so the proxy, not us, closes idle keep-alive sockets.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  const address = server.address() as AddressInfo;
  const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${clientHost.includes(':') ? `[${clientHost}]` : clientHost}:${address.port}`;

  let closed: Promise<{ forced: boolean }> | undefined;
  const close = (timeoutMs: number): Promise<{ forced: boolean }> => {
    closed ??= new Promise((resolve) => {
      closing = true;
      for (const res of pending) if (!res.headersSent) res.shouldKeepAlive = false;
      pending.clear();
      let forced = false;
      const timer = setTimeout(() => {
        forced = true;
        server.closeAllConnections();
      }, timeoutMs);
      // A keep-alive socket whose answer was in flight becomes idle when it ends; close those as they appear
      // rather than waiting keepAliveTimeout for them.
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      server.close(() => {
        clearTimeout(timer);
        clearInterval(sweeper);
        resolve({ forced });
      });
      server.closeIdleConnections();
    });
    return closed;
  };
  return { server, port: address.port, url, close };
}

/**
 * Fails at once, with the error listen() would give later (EADDRINUSE, EACCES), when host:port cannot be
 * bound: checked before the slow part of a start (database, migrations). Port 0 always binds.
 */
export async function checkCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

// Listening and graceful closing of the HTTP server. close() stops accepting connections, lets the requests
// in flight finish (answers carry Connection: close so keep-alive sockets end after them), and after the
// timeout destroys whatever is still open.
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  const inFlight = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (closing) res.shouldKeepAlive = false;
    inFlight.add(res);
    res.on('close', () => {
      inFlight.delete(res);
      // A keep-alive socket whose last answer just ended would otherwise idle until keepAliveTimeout.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
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
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      let forced = false;
      const timer = setTimeout(() => {
        forced = true;
        server.closeAllConnections();
      }, timeoutMs);
      server.close(() => {
        clearTimeout(timer);
        resolve({ forced });
      });
      server.closeIdleConnections();
    });
    return closed;
  };
  return { server, port: address.port, url, close };
}

// The LISTEN side of the wake-up: one dedicated connection per process that LISTENs on the tokens channel and
// calls back with the status named by each NOTIFY (sent in the writing transaction, delivered at its commit).
// A dropped connection is re-opened with a capped backoff and logged; after a reconnect the callers are told to
// look for work at once, since notifications sent while the connection was down are lost.
import postgres from 'postgres';
import { TOKENS_CHANNEL } from '../db/channels.js';
import { TOKEN_STATUSES, type TokenStatus } from '../db/schema.js';
import { backoffDelayMs } from '../lib/backoff.js';
import type { Logger } from '../logger.js';

export type TokenListenerOptions = {
  url: string;
  onStatus: (status: TokenStatus) => void;
  /** The connection came back after a loss: notifications may have been missed. */
  onReconnect: () => void;
  log: Logger;
  /** First and largest pause between reconnection attempts. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
};

export type TokenListener = {
  /** Times the connection was re-established after a loss. */
  readonly reconnects: () => number;
  close: () => Promise<void>;
};

export async function listenForTokens(options: TokenListenerOptions): Promise<TokenListener> {
  const { log } = options;
  let closed = false;
  let reconnects = 0;
  let reconnecting: Promise<void> | undefined;
  // onnotify (one callback for every NOTIFY on the connection) is a postgres.js option its types leave out; its
  // sql.listen() helper re-listens after a loss but silently gives up if that first retry fails.
  const connectionOptions: postgres.Options<Record<string, never>> & {
    onnotify: (channel: string, payload: string) => void;
  } = {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 5,
    connection: { application_name: 'glisk-listener', TimeZone: 'UTC' },
    onnotice: () => {},
    onnotify: (channel, payload) => {
      if (channel !== TOKENS_CHANNEL) return;
      const status = TOKEN_STATUSES.find((s) => s === payload);
      if (status !== undefined) options.onStatus(status);
    },
    onclose: () => {
      if (closed) return;
      log.warn('listener.disconnected', { channel: TOKENS_CHANNEL });
      reconnecting ??= reconnect().finally(() => (reconnecting = undefined));
    },
  };
  const sql = postgres(options.url, connectionOptions);
  const listen = async (): Promise<void> => {
    await sql.unsafe(`LISTEN ${TOKENS_CHANNEL}`);
  };

  async function reconnect(): Promise<void> {
    for (let attempt = 1; !closed; attempt += 1) {
      try {
        await listen();
        reconnects += 1;
        log.info('listener.reconnected', { channel: TOKENS_CHANNEL, attempt });
        options.onReconnect();
        return;
      } catch (error) {
        if (closed) return;
        const delayMs = backoffDelayMs(attempt, {
          baseMs: options.reconnectBaseMs ?? 200,
          maxMs: options.reconnectMaxMs ?? 10_000,
        });
        log.warn('listener.reconnect_failed', { channel: TOKENS_CHANNEL, attempt, delayMs, error });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  await listen();
  return {
    reconnects: () => reconnects,
    close: async () => {
      closed = true;
      await sql.end({ timeout: 1 });
    },
  };
}

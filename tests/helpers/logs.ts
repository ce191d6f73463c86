// The one way tests capture what a logger writes: the service's own logger (createLogger, JSON format) writing
// to memory, its lines parsed, with a bounded wait for a line that has not come yet.
import { Writable } from 'node:stream';
import type { Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';

/** Log lines of a logger, parsed from its JSON output. */
export type LogCapture = {
  lines: Array<Record<string, unknown>>;
  /** The raw text written, for "this never appears" assertions. */
  text: () => string;
  logger: Logger;
  /** Resolves with the first line whose message is `message` (already written or still to come). */
  waitFor: (message: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
};

export function captureLogs(
  secrets: readonly string[] = [],
  level: Config['log']['level'] = 'debug',
): LogCapture {
  const lines: Array<Record<string, unknown>> = [];
  const chunks: string[] = [];
  const listeners = new Set<() => void>();
  const stream = new Writable({
    // winston's Stream transport writes one object per line to an object-mode stream.
    objectMode: true,
    write(chunk: unknown, _encoding, callback) {
      const record = chunk as Record<string | symbol, unknown>;
      const formatted = record[Symbol.for('message')];
      const text = typeof formatted === 'string' ? formatted : JSON.stringify(record);
      chunks.push(text);
      lines.push(JSON.parse(text) as Record<string, unknown>);
      for (const listener of [...listeners]) listener();
      callback();
    },
  });
  const logger = createLogger({ level, format: 'json', secrets, stream });
  const waitFor: LogCapture['waitFor'] = (message, timeoutMs = 15_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find((line) => line.message === message);
        if (found === undefined) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${message} line within ${timeoutMs} ms; lines:\n${chunks.join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { lines, text: () => chunks.join('\n'), logger, waitFor };
}

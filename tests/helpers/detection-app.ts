// The real app (createApp) on an ephemeral loopback port over a test database, configured for detection.
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import { createApp } from '../../src/http/app.js';
import { listen } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';

export type DetectionApp = { url: string; close: () => Promise<void>; logLines: string[] };

export async function startDetectionApp(
  database: Database,
  env: Record<string, string | undefined>,
): Promise<DetectionApp> {
  const config = loadConfig({ APP_ENV: 'test', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env });
  const stream = new PassThrough();
  const logLines: string[] = [];
  stream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const logger = createLogger({ level: config.log.level, format: 'json', stream, secrets: config.secrets });
  const app = createApp({ config, logger, database });
  const running = await listen(app, '127.0.0.1', 0);
  return {
    url: running.url,
    logLines,
    close: async () => {
      await running.close(2_000);
    },
  };
}

// What the service's parts are built from: the same object for createApp, every route factory, startWorkers and
// every worker factory, made once by src/main.ts (or a test).
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { Logger } from './logger.js';

export type Deps = {
  config: Config;
  logger: Logger;
  database: Database;
};

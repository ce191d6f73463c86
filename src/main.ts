// `npm start`: the service. All side effects live here: read the config, open the database (DATABASE_URL or
// the embedded PostgreSQL in .data/), migrate, listen, start the workers; on SIGINT/SIGTERM close in reverse.
import { loadConfig, useUtcTimezone, type Config } from './config.js';
import { ConfigError } from './errors.js';
import { EMBEDDED_POSTGRES_PASSWORD, EMBEDDED_POSTGRES_USER } from './dev/embedded-postgres.js';
import type { LocalDatabase } from './dev/local-database.js';
import { createApp } from './http/app.js';
import { checkCanListen, listen, type RunningServer } from './http/server.js';
import { installProcessGuards } from './lib/process-guards.js';
import { createLoggerFromConfig, redactUrl, type Logger } from './logger.js';
import { startWorkers, type RunningWorkers } from './workers/index.js';
import { startPipeline, type RunningPipeline } from './workers/pipeline.js';
import { databaseStartup, type DatabaseStartup } from './startup.js';

const HELP = `Usage: npm start [-- --help]

Starts the GLISK backend: HTTP API on HOST:PORT (default 0.0.0.0:8000) and its background workers.

Database: DATABASE_URL when set; otherwise an embedded PostgreSQL 17 with its data in .data/postgres (kept
across restarts). Pending migrations are applied at start unless MIGRATE_ON_START=false.
Configuration: environment variables, or a .env file in the working directory (see .env.example).

Ctrl-C or SIGTERM shut down gracefully (requests in flight finish, bounded by SHUTDOWN_TIMEOUT_SECONDS);
a second signal exits at once. Exit status: 0 after a clean shutdown, 1 on a startup failure.`;

type Running = {
  startup?: DatabaseStartup;
  server?: RunningServer;
  workers?: RunningWorkers;
  pipeline?: RunningPipeline;
};

async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    return;
  }
  const unknown = args.filter((arg) => arg !== '--');
  if (unknown.length > 0) {
    console.error(`start: unknown argument ${unknown.join(' ')} (see --help)`);
    process.exitCode = 1;
    return;
  }
  useUtcTimezone();
  const startedAt = performance.now();

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\nSee .env.example for every variable and its default.`);
    process.exitCode = 1;
    return;
  }
  const logger = createLoggerFromConfig(config);
  installProcessGuards(logger);
  const running: Running = {};
  const shutdown = installSignalHandlers(logger, (signal) => stop(running, config, logger, signal));

  try {
    // A taken port is known in milliseconds; the database and migrations take seconds.
    await checkCanListen(config.http.host, config.http.port);
    running.startup = databaseStartup(config, {
      checkReachable: true,
      onLog: (message, level) => logger.log(level, 'database.embedded_log', { detail: message }),
      onOpened: (local) => logDatabase(logger, local),
      onMigrated: (result) =>
        logger.info('database.migrated', {
          applied: result.applied,
          total: result.total,
          durationMs: Math.round(result.durationMs),
        }),
    });
    const started = await running.startup.open();
    if (started === undefined || shutdown.requested()) return;
    if (!config.database.migrateOnStart) {
      logger.info('database.migrate_skipped', { reason: 'MIGRATE_ON_START=false' });
    }
    const { database } = started;
    const app = createApp({ config, logger, database });
    running.server = await listen(app, config.http.host, config.http.port);
    logger.info('http.listening', {
      url: running.server.url,
      host: config.http.host,
      port: running.server.port,
      docs: `${running.server.url}/docs`,
      startupMs: Math.round(performance.now() - startedAt),
    });
    running.workers = startWorkers({ config, logger, database });
    running.pipeline = await startPipeline({ config, logger, database }, { listenUrl: started.url });
  } catch (error) {
    logger.error('service.start_failed', { reason: startFailure(error, config), error });
    process.exitCode = 1;
    await stop(running, config, logger, undefined);
  }
}

// Ctrl-C in a terminal reaches this process more than once: directly (same process group) and relayed by
// npm and tsx. Signals this close to the first are that same Ctrl-C, not a request to force.
const DUPLICATE_SIGNAL_WINDOW_MS = 500;

/**
 * First SIGINT/SIGTERM: graceful stop. Another one later: exit at once (1). Returns whether a stop was
 * requested, so that a start still in progress can bail out between steps.
 */
function installSignalHandlers(
  logger: Logger,
  onStop: (signal: NodeJS.Signals) => Promise<void>,
): { requested: () => boolean } {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const handle = (signal: NodeJS.Signals): void => {
    if (first) {
      if (performance.now() - first.at < DUPLICATE_SIGNAL_WINDOW_MS) return;
      logger.warn('service.exit_forced', { signal, reason: 'second signal' });
      process.exit(1);
    }
    first = { signal, at: performance.now() };
    logger.info('service.stopping', { signal, hint: 'send the signal again to exit at once' });
    void onStop(signal);
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  return { requested: () => first !== undefined };
}

let stopping: Promise<void> | undefined;

function stop(
  running: Running,
  config: Config,
  logger: Logger,
  signal: NodeJS.Signals | undefined,
): Promise<void> {
  stopping ??= (async () => {
    const timeoutMs = config.http.shutdownTimeoutMs;
    const started = performance.now();
    try {
      // Stop accepting at once; workers stop while the requests in flight finish; both bounded.
      const draining = running.server?.close(timeoutMs);
      await Promise.all([running.workers?.stop(timeoutMs), running.pipeline?.stop(timeoutMs)]);
      if (draining) {
        const { forced } = await draining;
        if (forced) logger.warn('http.close_forced', { timeoutMs });
      }
      await running.startup?.close(timeoutMs);
      if (signal) {
        logger.info('service.stopped', { signal, durationMs: Math.round(performance.now() - started) });
        // Everything is closed, so the process ends by itself; if a stray handle keeps it alive, say so and go.
        setTimeout(() => {
          logger.warn('service.exit_forced', { reason: 'open handles after shutdown' });
          process.exit(process.exitCode ?? 0);
        }, 2_000).unref();
      }
    } catch (error) {
      logger.error('service.stop_failed', { error });
      process.exitCode = 1;
    }
  })();
  return stopping;
}

function logDatabase(logger: Logger, local: LocalDatabase): void {
  if (local.embedded) {
    logger.info('database.embedded', {
      detail: local.joined
        ? 'joined the embedded PostgreSQL 17 already running for this checkout'
        : 'started the embedded PostgreSQL 17 (DATABASE_URL is not set)',
      dataDir: local.dataDir,
      psql: psqlCommand(local.url),
    });
  } else {
    logger.info('database.external', { url: redactUrl(local.url) });
  }
}

function psqlCommand(url: string): string {
  const parsed = new URL(url);
  // The embedded server's password is fixed and documented (it listens on 127.0.0.1 only); printing the whole
  // command makes it copy-paste ready.
  return `PGPASSWORD=${EMBEDDED_POSTGRES_PASSWORD} psql -h ${parsed.hostname} -p ${parsed.port} -U ${EMBEDDED_POSTGRES_USER} -d ${parsed.pathname.slice(1) || 'postgres'}`;
}

function startFailure(error: unknown, config: Config): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (code === 'EADDRINUSE') {
    return `port ${config.http.port} on ${config.http.host} is already in use: stop the other process or set PORT`;
  }
  if (code === 'EACCES') return `not allowed to listen on ${config.http.host}:${config.http.port}`;
  if (code === 'DATABASE_CONNECT_TIMEOUT') {
    const seconds = config.database.connectTimeoutMs / 1000;
    const last = (error as { lastError?: unknown }).lastError;
    return (
      `no working PostgreSQL connection at ${redactUrl(config.database.url ?? 'the embedded database')} within ` +
      `${seconds} s (DB_CONNECT_TIMEOUT_SECONDS): is PostgreSQL running there and DATABASE_URL right?` +
      (last instanceof Error
        ? ` Last error: ${redactUrl(last.message)}`
        : ' It never answered like PostgreSQL.')
    );
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'CONNECT_TIMEOUT') {
    return 'cannot reach the database at DATABASE_URL: is PostgreSQL running and the URL right?';
  }
  return error instanceof Error ? redactUrl(error.message) : String(error);
}

await main(process.argv.slice(2));

// `npm run dev`: the service from its sources (tsx), restarted when a file changes (tsx watch). This process
// holds the database meanwhile: without DATABASE_URL it starts (or joins) the embedded PostgreSQL of .data/ and
// stays one of its users, so each restart of the service joins the running server instead of stopping and
// starting it again (seconds per change).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { REPO_ROOT } from '../dev/local-database.js';
import { UsageError } from '../errors.js';
import { withDatabase } from '../startup.js';
import { printFailure, printLine, readCliConfig, readCliOptions, runCli, type CliIo } from './run.js';

const HELP = `Usage: npm run dev [-- --help]

Runs the service like npm start, but from its TypeScript sources (tsx), and restarts it whenever a file it
loads changes (tsx watch). Without DATABASE_URL, the embedded PostgreSQL 17 of .data/postgres is started (or
joined, when another command runs it) once and kept running across the restarts: a restart takes the
service's own start-up only. Configuration as for npm start (environment or .env).

Ctrl-C stops the service, then the embedded PostgreSQL (unless another command still uses it).
Exit status: 0 after Ctrl-C or SIGTERM, 1 when the database cannot be started or the watcher fails,
2 bad arguments.`;

function parseOptions(argv: string[]): 'help' | Record<string, never> {
  const args = argv.filter((arg) => arg !== '--');
  if (args.includes('--help') || args.includes('-h')) return 'help';
  if (args.length > 0) throw new UsageError(`unknown argument ${args.join(' ')}`);
  return {};
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'dev', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const config = readCliConfig(io, 'dev');
  if (config === undefined) return 1;
  try {
    // The service migrates at each start (MIGRATE_ON_START); this process only keeps the server up.
    return await withDatabase(config, { migrate: false, pool: { max: 1 } }, async ({ local }) => {
      if (local.embedded) {
        const port = new URL(local.url).port;
        printLine(
          io.stdout,
          `dev: the embedded PostgreSQL on port ${port} (${local.dataDir ?? '.data/postgres'}) stays up while ` +
            'the service restarts on changes',
        );
      }
      return await watchService(io);
    });
  } catch (error) {
    printFailure(io, 'dev', error);
    return 1;
  }
}

function watchService(io: CliIo): Promise<number> {
  const tsx = createRequire(import.meta.url).resolve('tsx/cli');
  const child = spawn(
    process.execPath,
    [tsx, 'watch', '--clear-screen=false', path.join(REPO_ROOT, 'src/main.ts')],
    { cwd: REPO_ROOT, env: io.env, stdio: 'inherit' },
  );
  // Ctrl-C reaches the watcher and the service too (same process group): wait for them, then close. A
  // SIGTERM sent to this process alone is passed on.
  let stopping = false;
  const onInterrupt = () => {
    stopping = true;
  };
  const forward = (signal: NodeJS.Signals) => {
    stopping = true;
    child.kill(signal);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('error', (error) => {
      printLine(io.stderr, `dev: cannot run tsx watch: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', forward);
      resolve(code === 0 || signal !== null || stopping ? 0 : 1);
    });
  });
}

await runCli(import.meta.url, main);

// `npm run db:studio`: Drizzle Studio on the database the service uses: DATABASE_URL when set, otherwise the
// embedded PostgreSQL of .data/ (joined when `npm start` runs it, started for the session otherwise).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../dev/local-database.js';
import { redactUrl } from '../logger.js';
import { withDatabase } from '../startup.js';
import { printLine, readCliConfig, runCli, type CliIo } from './run.js';

const HELP = `Usage: npm run db:studio [-- --port <port>] [-- --host <host>]

Opens Drizzle Studio (drizzle-kit studio) on the service's database: DATABASE_URL when set (environment or
.env), otherwise the embedded PostgreSQL 17 in .data/postgres, joined when \`npm start\` is running it or
started for this session and stopped when Studio exits.

Options:
  --port <port>   Studio's local server port (default 4983)
  --host <host>   Studio's local server interface (default 127.0.0.1)
  -h, --help      this text

Studio's page is https://local.drizzle.studio; it talks to the local server started here. Ctrl-C stops it.
Exit status: 0 when Studio ends normally, 1 on an error.`;

type Options = { port: string; host: string };

type Parsed = { kind: 'run'; options: Options } | { kind: 'help' } | { kind: 'error'; message: string };

function parseArgs(args: string[]): Parsed {
  const options: Options = { port: '4983', host: '127.0.0.1' };
  const rest = args.filter((arg) => arg !== '--');
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i];
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    const value = rest[i + 1];
    if (arg === '--port' || arg === '--host') {
      if (value === undefined) return { kind: 'error', message: `${arg} needs a value` };
      if (arg === '--port' && !/^\d{1,5}$/.test(value)) {
        return { kind: 'error', message: `--port expects a port number, got "${value}"` };
      }
      options[arg === '--port' ? 'port' : 'host'] = value;
      i += 1;
      continue;
    }
    return { kind: 'error', message: `unknown argument ${arg ?? ''}` };
  }
  return { kind: 'run', options };
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'help') {
    printLine(io.stdout, HELP);
    return 0;
  }
  if (parsed.kind === 'error') {
    printLine(io.stderr, `db:studio: ${parsed.message} (see --help)`);
    return 1;
  }
  const config = readCliConfig(io, 'db:studio');
  if (config === undefined) return 1;
  try {
    printLine(io.stdout, 'db:studio: opening the database...');
    return await withDatabase(config, { migrate: false }, async ({ local }) => {
      const target = local.embedded
        ? `the embedded PostgreSQL in ${local.dataDir ?? '.data/postgres'}`
        : redactUrl(local.url);
      printLine(io.stdout, `db:studio: starting Drizzle Studio on ${target}`);
      return await runStudio({ ...io.env, DATABASE_URL: local.url }, parsed.options, io);
    });
  } catch (error) {
    printLine(
      io.stderr,
      `db:studio failed: ${error instanceof Error ? redactUrl(error.message) : String(error)}`,
    );
    return 1;
  }
}

function runStudio(env: CliIo['env'], options: Options, io: CliIo): Promise<number> {
  const bin = path.join(REPO_ROOT, 'node_modules', 'drizzle-kit', 'bin.cjs');
  const child = spawn(
    process.execPath,
    [
      bin,
      'studio',
      '--config',
      path.join(REPO_ROOT, 'drizzle.config.ts'),
      '--port',
      options.port,
      '--host',
      options.host,
    ],
    { cwd: REPO_ROOT, env, stdio: 'inherit' },
  );
  // Ctrl-C reaches Studio too (same process group); a SIGTERM sent to this process alone is passed on.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', () => {});
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('error', (error) => {
      printLine(io.stderr, `db:studio: cannot run drizzle-kit: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      resolve(code === 0 || signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1);
    });
  });
}

await runCli(import.meta.url, main);

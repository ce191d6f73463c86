// The seam between a command and its process. A command exports `main(argv, io)` returning its exit status and
// ends with `await runCli(import.meta.url, main)`, which runs it only when the file is the process's entry
// point: tests import the same main and call it in-process with their own output and environment.
import { realpathSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, readProcessEnv, type Config } from '../config.js';
import { ConfigError, UsageError } from '../errors.js';

export type CliOutput = { write(text: string): unknown; isTTY?: boolean };

export type CliIo = {
  stdout: CliOutput;
  stderr: CliOutput;
  /** What the command's configuration is read from: process.env over .env in a real run. */
  env: Record<string, string | undefined>;
};

export type CliMain = (argv: string[], io: CliIo) => Promise<number>;

/** console.log for a CliOutput. */
export function printLine(output: CliOutput, text: string): void {
  output.write(`${text}\n`);
}

/** The command's configuration (from io.env), or undefined once every problem is printed (the command exits 1). */
export function readCliConfig(io: CliIo, command: string): Config | undefined {
  try {
    return loadConfig(io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    printLine(io.stderr, `${command}: ${error.message}`);
    return undefined;
  }
}

/**
 * A command's flags, read strictly (no positionals; `npm run x -- --flag` passes a bare `--`, which is skipped):
 * an unknown or malformed flag is a UsageError, so the command answers it through readCliOptions.
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
) {
  try {
    return parseArgs({
      args: argv.filter((arg) => arg !== '--'),
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The command's options from `parse`, or the exit status once it is decided: 0 after printing `help` (parse
 * answered 'help'), 2 after printing a usage error (`<command>: <why> (see --help)`).
 */
export function readCliOptions<T>(
  io: CliIo,
  command: string,
  help: string,
  parse: () => T | 'help',
): { options: T } | { exit: number } {
  try {
    const parsed = parse();
    if (parsed !== 'help') return { options: parsed };
    printLine(io.stdout, help);
    return { exit: 0 };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printLine(io.stderr, `${command}: ${error.message} (see --help)`);
    return { exit: 2 };
  }
}

/**
 * `<command> failed: <why>` on stderr: a configuration or usage problem in full (a usage one points to --help),
 * anything else by the first line of its message (stacks are for debugging, not for the terminal).
 */
export function printFailure(io: CliIo, command: string, error: unknown): void {
  const message =
    error instanceof ConfigError || error instanceof UsageError || !(error instanceof Error)
      ? String(error instanceof Error ? error.message : error)
      : (error.message.split('\n')[0] ?? error.name);
  printLine(io.stderr, `${command} failed: ${message}${error instanceof UsageError ? ' (see --help)' : ''}`);
}

/**
 * Where `npm start` with this configuration answers on this machine (HOST 0.0.0.0 is reached on 127.0.0.1);
 * undefined for PORT=0, a port chosen at start.
 */
export function localServiceUrl(config: Pick<Config, 'http'>): string | undefined {
  const { host, port } = config.http;
  if (port === 0) return undefined;
  const local = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`;
}

export async function runCli(moduleUrl: string, main: CliMain): Promise<void> {
  if (!isEntryPoint(moduleUrl)) return;
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: readProcessEnv(),
  });
}

/** Compared through realpath and without extension: `node dist/cli/x` and symlinked paths run it too. */
function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  const canonical = (file: string): string => {
    let resolved = path.resolve(file);
    try {
      resolved = realpathSync(resolved);
    } catch {
      // `node dist/cli/x` names a file that exists only with its extension.
    }
    return resolved.replace(/\.[cm]?[jt]s$/, '');
  };
  return canonical(entry) === canonical(fileURLToPath(moduleUrl));
}

// `npm run recover`: the gap scan as a command, for an operator who wants missing tokens now (or a report of
// them with --dry-run) rather than at the next GAP_SCAN_INTERVAL_SECONDS.
import { PassThrough } from 'node:stream';
import { createChainPublicClient } from '../providers/chain/client.js';
import { loadConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { scanGaps, type GapScanProgress, type GapScanReport } from '../stages/detection/gap-scan.js';
import { createLogger } from '../logger.js';
import { withDatabase } from '../startup.js';
import { parseCommandArgs, printFailure, printLine, runCli, type CliIo, type CliOutput } from './run.js';

const HELP = `Usage: npm run recover -- [--dry-run] [--limit N] [--concurrency N]

Finds every token id below the contract's nextTokenId() that has no row, reads its prompt author and reveal
state from the contract, traces it to its BatchMinted log (minter, block time, mint event) and records it;
ids already revealed on chain are recorded as revealed with their metadata CID. Reads are made at
head - CONFIRMATIONS. Safe to run while the service runs: every write is idempotent.

Options:
  --dry-run          read and report, write nothing
  --limit <n>        recover at most n missing ids (lowest first)
  --concurrency <n>  concurrent contract reads (default 8)
  --help             show this help

Configuration (environment or .env): RPC_URL (or ALCHEMY_API_KEY + NETWORK), GLISK_NFT_CONTRACT_ADDRESS,
CONFIRMATIONS, DATABASE_URL (unset: the embedded PostgreSQL in .data/).

Exit status: 0 every missing id recovered (or none missing), 2 partial (some ids failed; listed),
1 failed (bad arguments or configuration, chain or database unreachable).`;

type Options = { dryRun: boolean; limit: number | undefined; concurrency: number };

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(value))
    throw new UsageError(`${name} must be a whole number >= 1, got "${value}"`);
  return Number(value);
}

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseCommandArgs(argv, {
    'dry-run': { type: 'boolean' },
    limit: { type: 'string' },
    concurrency: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  return {
    dryRun: values['dry-run'] === true,
    limit: positiveInt(values.limit, '--limit'),
    concurrency: positiveInt(values.concurrency, '--concurrency') ?? 8,
  };
}

function progressPrinter(stderr: CliOutput): (progress: GapScanProgress) => void {
  const tty = stderr.isTTY === true;
  let lastPrinted = 0;
  return ({ phase, done, total, failed }) => {
    const line = `recover: ${phase} ${done}/${total}${failed > 0 ? `, ${failed} failed` : ''}`;
    if (tty) {
      stderr.write(`\r${line}\x1b[K${done === total ? '\n' : ''}`);
      return;
    }
    // Not a terminal (CI, a log file): one line per second at most, and the last of each phase.
    const now = Date.now();
    if (done === total || now - lastPrinted >= 1000) {
      lastPrinted = now;
      stderr.write(`${line}\n`);
    }
  };
}

/** The first line, printed before any progress. */
function found({ atBlock, nextTokenId, missing }: { atBlock: bigint; nextTokenId: number; missing: number }) {
  return `recover: nextTokenId ${nextTokenId} at block ${atBlock}; ${missing} missing`;
}

function summary(report: GapScanReport): string {
  const lines: string[] = [];
  if (report.dryRun)
    lines.push(`recover: dry run, would record ${report.recovered.length}: ${ranges(report.recovered)}`);
  else {
    lines.push(
      `recover: recorded ${report.created.length} (${report.revealed.length} as revealed)` +
        (report.skipped.length > 0 ? `, ${report.skipped.length} recorded meanwhile by another path` : ''),
    );
  }
  for (const failure of report.failed.slice(0, 20))
    lines.push(`recover: token ${failure.tokenId} failed: ${failure.error}`);
  if (report.failed.length > 20) lines.push(`recover: ... and ${report.failed.length - 20} more failed`);
  return lines.join('\n');
}

/** 1-5, 8, 10-12: compact id lists for the summary. */
function ranges(ids: readonly number[]): string {
  const parts: string[] = [];
  let start = ids[0];
  let prev = start;
  for (const id of [...ids.slice(1), Number.NaN]) {
    if (prev !== undefined && id === prev + 1) {
      prev = id;
      continue;
    }
    if (start !== undefined && prev !== undefined)
      parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = id;
    prev = id;
  }
  return parts.length === 0 ? 'none' : parts.join(', ');
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    const options = parseOptions(argv);
    if (options === 'help') {
      printLine(io.stdout, HELP);
      return 0;
    }
    const config = loadConfig(io.env);
    const { rpcUrl, contractAddress } = config.chain;
    if (rpcUrl === undefined) throw new UsageError('RPC_URL (or ALCHEMY_API_KEY with NETWORK) is not set');
    if (contractAddress === undefined) throw new UsageError('GLISK_NFT_CONTRACT_ADDRESS is not set');
    const pool = { max: 4, applicationName: 'glisk-recover' };
    const report = await withDatabase(config, { migrate: false, pool }, ({ database }) =>
      scanGaps({
        db: database.db,
        client: createChainPublicClient({ rpcUrl, cacheTimeMs: 0 }),
        contractAddress,
        confirmations: config.detection.confirmations,
        concurrency: options.concurrency,
        limit: options.limit,
        dryRun: options.dryRun,
        // The summary below says what happened; the structured log lines are for the service.
        logger: createLogger({ level: 'error', format: 'json', stream: new PassThrough() }),
        onMissing: (result) => printLine(io.stdout, found(result)),
        onProgress: progressPrinter(io.stderr),
      }),
    );
    printLine(io.stdout, summary(report));
    return report.failed.length > 0 ? 2 : 0;
  } catch (error) {
    printFailure(io, 'recover', error);
    return 1;
  }
}

await runCli(import.meta.url, main);

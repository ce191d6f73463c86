// `npm run webhook:send -- --file payload.json`: posts an Alchemy webhook delivery to the running service,
// signed with the configured ALCHEMY_WEBHOOK_SECRET exactly as Alchemy signs it (HMAC-SHA256 of the raw bytes).
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { ALCHEMY_SIGNATURE_HEADER, signAlchemyBody } from '../stages/detection/alchemy-signature.js';
import {
  parseCommandArgs,
  localServiceUrl,
  printFailure,
  printLine,
  readCliConfig,
  readCliOptions,
  runCli,
  type CliIo,
} from './run.js';

const HELP = `Usage: npm run webhook:send -- --file <payload.json> [--url <service URL>]

Posts the file's bytes, unchanged, to POST /webhooks/alchemy of the running service, with the
X-Alchemy-Signature header Alchemy would send: the HMAC-SHA256 of those bytes keyed with ALCHEMY_WEBHOOK_SECRET
(read like the service reads it: environment, then .env). Prints the status and the answer.

Options:
  --file <path>   the delivery (JSON, as Alchemy posts it; required)
  --url <url>     the service (default http://127.0.0.1:PORT, PORT from the environment or .env, else 8000)
  -h, --help      show this help

The service must have the same ALCHEMY_WEBHOOK_SECRET and a GLISK_NFT_CONTRACT_ADDRESS (else it answers 503
WEBHOOK_NOT_CONFIGURED); only logs of that contract are ingested.
Exit status: 0 the service answered 2xx, 1 it answered otherwise or could not be reached or the secret is not
set, 2 bad arguments.`;

type Options = { file: string; url: string | undefined };

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseCommandArgs(argv, {
    file: { type: 'string' },
    url: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  if (values.file === undefined) throw new UsageError('--file is required');
  const url = values.url?.replace(/\/+$/, '');
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) {
    throw new UsageError(`--url must be an http(s) URL, got "${values.url}"`);
  }
  return { file: values.file, url };
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const read = readCliOptions(io, 'webhook:send', HELP, () => parseOptions(argv));
  if ('exit' in read) return read.exit;
  const { options } = read;
  const config = readCliConfig(io, 'webhook:send');
  if (config === undefined) return 1;
  try {
    const secret = config.detection.webhookSecret;
    if (secret === '') {
      throw new Error(
        'ALCHEMY_WEBHOOK_SECRET is not set (environment or .env): nothing to sign with, and the service answers 503',
      );
    }
    const base = options.url ?? localServiceUrl(config);
    if (base === undefined) throw new Error("PORT=0: the service's address is unknown; pass --url");
    const body = await readFile(options.file);
    const target = `${base}/webhooks/alchemy`;
    const response = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [ALCHEMY_SIGNATURE_HEADER]: signAlchemyBody(body, secret),
      },
      body,
      signal: AbortSignal.timeout(60_000),
    }).catch((error: unknown) => {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      throw code === 'ECONNREFUSED'
        ? new Error(`no service answers at ${base} (is npm start running? --url names another)`)
        : error;
    });
    const answer = await response.text();
    printLine(io.stdout, `webhook:send: POST ${target} (${body.length} bytes, signed) -> ${response.status}`);
    printLine(io.stdout, answer);
    return response.ok ? 0 : 1;
  } catch (error) {
    printFailure(io, 'webhook:send', error);
    return 1;
  }
}

await runCli(import.meta.url, main);

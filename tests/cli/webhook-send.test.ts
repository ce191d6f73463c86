// npm run webhook:send: the command's main in this process against the real app (the webhook route verifies the
// signature over the bytes it receives, so a 200 proves the file was signed as sent with the configured secret).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/webhook-send.js';
import { closedPort, startTestApp, type TestApp } from '../helpers/http.js';

const SECRET = 'webhook-send-test-signing-secret';
const CONTRACT = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
// Spacing and key order as a file has them: the signature covers these bytes, not a re-serialisation.
const PAYLOAD =
  '{ "webhookId": "wh_1", "id": "whevt_1", "createdAt": "2026-01-01T00:00:00.000Z", "type": "GRAPHQL",\n' +
  '  "event": { "data": { "block": { "number": 5, "timestamp": 1760000000, "logs": [] } } } }\n';

async function send(argv: string[], env: Record<string, string>) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  });
  return { code, stdout, stderr };
}

describe('npm run webhook:send', () => {
  let app: TestApp;
  const dir = mkdtempSync(path.join(tmpdir(), 'glisk-webhook-send-'));
  const file = path.join(dir, 'payload.json');
  writeFileSync(file, PAYLOAD);
  before(async () => {
    app = await startTestApp({
      env: { ALCHEMY_WEBHOOK_SECRET: SECRET, GLISK_NFT_CONTRACT_ADDRESS: CONTRACT },
    });
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs the file with the configured secret and prints the answer', async () => {
    const result = await send(['--', '--file', file, '--url', app.url], { ALCHEMY_WEBHOOK_SECRET: SECRET });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      `webhook:send: POST ${app.url}/webhooks/alchemy (${Buffer.byteLength(PAYLOAD)} bytes, signed) -> 200\n` +
        '{"created":[],"skipped":[],"mints":0,"ignored":0}\n',
    );
  });

  it('exits 1 with the answer when the service holds another secret', async () => {
    const result = await send(['--file', file, '--url', app.url], {
      ALCHEMY_WEBHOOK_SECRET: 'not the secret',
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /-> 401\n.*"code":"SIGNATURE_INVALID"/s);
  });

  it('refuses to send without a secret, and says where it reads it', async () => {
    const result = await send(['--file', file, '--url', app.url], {});
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /^webhook:send failed: ALCHEMY_WEBHOOK_SECRET is not set \(environment or \.env\)/,
    );
  });

  it('says when no service answers', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await send(['--file', file, '--url', url], { ALCHEMY_WEBHOOK_SECRET: SECRET });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`no service answers at ${url} \\(is npm start running\\?`));
  });

  it('--help exits 0; a missing --file is a usage error (exit 2)', async () => {
    const help = await send(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: npm run webhook:send -- --file <payload\.json>/);
    const missing = await send([], { ALCHEMY_WEBHOOK_SECRET: SECRET });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'webhook:send: --file is required (see --help)\n');
  });
});

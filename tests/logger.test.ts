// The logger's redaction and formats: secrets never reach the output, whatever field or string carries them.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, REDACTED, redactUrl } from '../src/logger.js';
import { captureLogs } from './helpers/logs.js';

describe('event names', () => {
  it('a field named message never changes the event name; it is kept as detail', () => {
    const logs = captureLogs();
    logs.logger.warn('http.service_error', { code: 'X', message: 'The database is down' });
    logs.logger.child({ requestId: 'r-1' }).info('token.claimed', { message: 'claimed' });
    logs.logger.info('plain.event', { count: 1 });
    assert.deepEqual(
      logs.lines.map((l) => [l.message, l.detail]),
      [
        ['http.service_error', 'The database is down'],
        ['token.claimed', 'claimed'],
        ['plain.event', undefined],
      ],
    );
  });
});

describe('redaction', () => {
  it('masks fields named like secrets, at any depth, and keeps ids that merely contain "token"', () => {
    const logs = captureLogs();
    logs.logger.info('webhook.received', {
      headers: {
        'x-alchemy-signature': 'ab12cd',
        authorization: 'Bearer abc',
        'content-type': 'application/json',
      },
      keeper_private_key: '0xdeadbeef',
      pinataJwt: 'eyJhbGciOi',
      apiKey: 'k-123',
      token_id: 42,
      tokenIds: [1, 2],
      nested: [{ password: 'pw-1', user: 'glisk' }],
    });
    const [line] = logs.lines;
    assert.ok(line);
    const headers = line.headers as Record<string, unknown>;
    assert.equal(headers['x-alchemy-signature'], REDACTED);
    assert.equal(headers.authorization, REDACTED);
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(line.keeper_private_key, REDACTED);
    assert.equal(line.pinataJwt, REDACTED);
    assert.equal(line.apiKey, REDACTED);
    assert.equal(line.token_id, 42);
    assert.deepEqual(line.tokenIds, [1, 2]);
    assert.deepEqual(line.nested, [{ password: REDACTED, user: 'glisk' }]);
    assert.doesNotMatch(logs.text(), /ab12cd|Bearer abc|deadbeef|eyJhbGciOi|k-123|pw-1/);
  });

  it('masks the password of any URL, in messages and fields', () => {
    const logs = captureLogs();
    logs.logger.warn('database.retry postgres://glisk:s3cr3t@db:5432/glisk', {
      target: 'postgresql://admin:hunter2@10.0.0.1/x?sslmode=require',
      rpc: 'https://user:rpc-pass@node.example/v2',
    });
    const text = logs.text();
    assert.doesNotMatch(text, /s3cr3t|hunter2|rpc-pass/);
    assert.match(text, /postgres:\/\/glisk:\*\*\*@db:5432\/glisk/);
    assert.equal(redactUrl('postgres://u:p@h/d'), 'postgres://u:***@h/d');
    assert.equal(redactUrl('postgres://u@h/d'), 'postgres://u@h/d');
  });

  it('masks the configured secret values wherever they appear, errors included', () => {
    const logs = captureLogs(['whsec_topsecret', 'alchemy-key-999']);
    const error = new Error('request to https://base.g.alchemy.com/v2/alchemy-key-999 failed');
    logs.logger.error('rpc.failed', { error, attempts: ['alchemy-key-999'], note: 'key whsec_topsecret' });
    const text = logs.text();
    assert.doesNotMatch(text, /whsec_topsecret|alchemy-key-999/);
    const line = logs.lines[0] as { error: { message: string; stack: string } };
    assert.match(line.error.message, /\/v2\/\[REDACTED\] failed/);
    assert.match(line.error.stack, /logger\.test\.ts/, 'the stack is kept');
  });
});

describe('formats and levels', () => {
  function collect(format: 'json' | 'pretty', level: 'info' | 'debug') {
    const out: string[] = [];
    const stream = new Writable({
      objectMode: true,
      write(chunk: Record<symbol, unknown>, _encoding, callback) {
        out.push(String(chunk[Symbol.for('message')]));
        callback();
      },
    });
    return { logger: createLogger({ format, level, stream }), out };
  }

  it('JSON lines with an ISO UTC timestamp, level and noun.verb message', () => {
    const { logger, out } = collect('json', 'info');
    logger.info('token.claimed', { token_id: 7 });
    const line = JSON.parse(out[0] ?? '') as Record<string, unknown>;
    assert.equal(line.level, 'info');
    assert.equal(line.message, 'token.claimed');
    assert.equal(line.token_id, 7);
    assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('readable lines in development', () => {
    const { logger, out } = collect('pretty', 'info');
    logger.info('http.request', { method: 'GET', path: '/health', note: 'two words' });
    assert.match(out[0] ?? '', /^\S+Z info {2}http\.request method=GET path=\/health note="two words"$/);
  });

  it('honours the level', () => {
    const { logger, out } = collect('json', 'info');
    logger.debug('uow.committed');
    logger.info('http.listening');
    assert.equal(out.length, 1);
    const debug = collect('json', 'debug');
    debug.logger.debug('uow.committed');
    assert.equal(debug.out.length, 1);
  });

  it('a call below the level does no work: its fields are never read (child loggers too)', () => {
    let reads = 0;
    const fields = {
      get tokenId() {
        reads += 1;
        return 7;
      },
    };
    const { logger, out } = collect('json', 'info');
    logger.debug('stage.completed', fields);
    logger.child({ stage: 'image' }).debug('stage.completed', fields);
    assert.equal(
      reads,
      0,
      'winston formats every call before its transport drops it; a disabled level must not',
    );
    assert.equal(out.length, 0);
    logger.level = 'debug';
    logger.child({ stage: 'image' }).debug('stage.completed', fields);
    assert.ok(reads > 0);
    assert.equal(
      (JSON.parse(out[0] ?? '') as { tokenId: number }).tokenId,
      7,
      'a level turned on later is written',
    );
  });
});

// Issue 13.9: a password containing @ was logged as `glisk:***@Secret99@host`.
describe('redactUrl with @ in the password', () => {
  it('masks up to the last @ of the authority', () => {
    assert.equal(redactUrl('postgres://glisk:Sup3r@Secret99@host/db'), 'postgres://glisk:***@host/db');
    assert.equal(
      redactUrl('connect to postgres://glisk:a@b@c@db.internal:5432/glisk?sslmode=require failed'),
      'connect to postgres://glisk:***@db.internal:5432/glisk?sslmode=require failed',
    );
    assert.equal(redactUrl('postgres://glisk:plain@host/db'), 'postgres://glisk:***@host/db');
  });
});

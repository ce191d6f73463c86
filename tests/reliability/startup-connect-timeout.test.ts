// Issue 13.7: DATABASE_URL pointing at a server that is not PostgreSQL (here an HTTP server answering 400 to
// anything) hung start-up for minutes with no message. `npm start` must give up after
// DB_CONNECT_TIMEOUT_SECONDS, say why, and exit 1. A child process: the exit is what is tested.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { spawnService } from '../helpers/http.js';

let port = 0;
let connections = 0;
const server = createServer((socket) => {
  connections += 1;
  socket.on('error', () => {});
  socket.once('data', () => {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
});

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  port = address.port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('a DATABASE_URL that is not PostgreSQL stops the start with a clear reason and exit 1', async () => {
  const service = spawnService({
    APP_ENV: 'development',
    DATABASE_URL: `postgres://glisk:s3cret-pass@127.0.0.1:${port}/glisk`,
    DB_CONNECT_TIMEOUT_SECONDS: '1',
    PORT: '0',
    HOST: '127.0.0.1',
  });
  try {
    const line = await service.waitForLog((l) => l.message === 'service.start_failed', 30_000);
    assert.match(
      String(line.reason),
      /no working PostgreSQL connection at postgres:\/\/glisk:\*\*\*@127\.0\.0\.1/,
    );
    assert.match(String(line.reason), /within 1 s \(DB_CONNECT_TIMEOUT_SECONDS\)/);
    assert.equal(await service.exited, 1);
    assert.ok(connections >= 1, 'the service never tried the server');
    assert.doesNotMatch(service.stdout() + service.stderr(), /s3cret-pass/);
  } finally {
    await service.kill();
  }
});

// npm start checks what it can check in milliseconds before the slow part of a start (database, migrations).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { closedPort, spawnService } from '../helpers/http.js';

describe('npm start with its port taken', () => {
  it('stops with exit 1 and says so before it touches the database', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    // A database that would answer ECONNREFUSED: had the service gone to it first, that would be the failure.
    const databasePort = await closedPort();
    const service = spawnService({
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: `postgres://glisk:secret@127.0.0.1:${databasePort}/glisk`,
    });
    try {
      assert.equal(await service.exited, 1);
      const failed = await service.waitForLog((line) => line.message === 'service.start_failed');
      assert.match(
        String(failed.reason),
        new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is already in use: stop the other process or set PORT$`),
      );
      assert.doesNotMatch(service.stdout(), /"message":"database\./);
    } finally {
      await service.kill();
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});

// patches/postgres+3.4.9.patch: a bytea parameter given as bytes goes to the server in binary format, as is.
// postgres.js sent every parameter as text, a Buffer as hex: twice its size on the wire, built by the client and
// parsed by the server (the image stage stores a ~120 KB PNG per token this way). Checked on the wire through a
// counting TCP proxy, and byte for byte, prepared (tagged templates) and unprepared (drizzle, unsafe).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql as drizzleSql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/** A TCP proxy to the database's port counting the bytes the client sends. */
async function countingProxy(target: {
  host: string;
  port: number;
}): Promise<{ port: number; sent: () => number; close: () => void }> {
  let sent = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => (sent += chunk.byteLength));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => sent,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('bytea parameters in binary format', { timeout: 30_000 }, () => {
  let t: TestDatabase;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  let sql: postgres.Sql;
  // Every byte value, 300 KB: binary adds nothing to it, hex would double it.
  const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 131 + (i >> 8)) & 0xff));

  before(async () => {
    t = await createTestDatabase();
    const url = new URL(t.url);
    proxy = await countingProxy({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    await sql`SELECT 1`;
  });
  after(async () => {
    await sql?.end({ timeout: 1 });
    proxy?.close();
    await t?.drop();
  });

  /** Runs `query` and answers the bytes it put on the wire. */
  async function wireBytes(query: () => Promise<unknown>): Promise<number> {
    const before = proxy.sent();
    await query();
    return proxy.sent() - before;
  }

  it('a prepared statement sends the bytes as they are and the server gets them exactly', async () => {
    let row: { same: boolean; n: number } | undefined;
    const sent = await wireBytes(async () => {
      [row] = await sql<{ same: boolean; n: number }[]>`
        SELECT ${bytes}::bytea = decode(${bytes.toString('hex')}, 'hex') AS same, octet_length(${bytes}::bytea) AS n`;
    });
    assert.deepEqual(row, { same: true, n: bytes.byteLength });
    // Two binary copies plus one hex copy (the reference): 4 x the size; hex parameters would make it 6 x.
    assert.ok(sent < 4.2 * bytes.byteLength, `${sent} bytes sent for ${bytes.byteLength}`);
  });

  it('so does an unprepared one (drizzle execute), next to text parameters, with nulls', async () => {
    const db = drizzle(sql);
    let rows: Record<string, unknown>[] = [];
    const sent = await wireBytes(async () => {
      rows = await db.execute(
        drizzleSql`SELECT ${'text'}::text AS label, ${bytes} AS b, ${null}::bytea AS none, ${7}::int AS n`,
      );
    });
    const [row] = rows;
    assert.equal(row?.label, 'text');
    assert.equal(Buffer.compare(row?.b as Buffer, bytes), 0);
    assert.deepEqual([row?.none, row?.n], [null, 7]);
    assert.ok(sent < 1.2 * bytes.byteLength, `${sent} bytes sent for ${bytes.byteLength}`);
  });
});

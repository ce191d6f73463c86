// A database connection that dies under a pinned session (reserved connection, open transaction) must fail
// the waiting queries, not the process. postgres.js 3.4.9 threw an uncatchable TypeError from a setImmediate
// here (porsager/postgres#1208); patches/postgres+3.4.9.patch guards it until upstream releases a fix.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase } from '../helpers/database.js';

const errorCode = (result: PromiseSettledResult<unknown>): string =>
  result.status === 'rejected' ? String((result.reason as { code?: unknown }).code) : 'fulfilled';

test('queries on a reserved connection whose backend was terminated reject, and the process survives', async () => {
  const t = await createTestDatabase();
  let closed: () => void = () => {};
  const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
  const sql = postgres(t.url, { max: 2, onnotice: () => {}, onclose: () => closed() });
  const admin = postgres(t.url, { max: 1, onnotice: () => {} });
  after(async () => {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
    await t.drop();
  });

  const reserved = await sql.reserve();
  const [session] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
  assert.ok(session);
  await reserved`begin`;
  await admin`select pg_terminate_backend(${session.pid})`;

  // Whether the reset or the close is seen first is a race; either way each query fails with a connection error.
  const connectionLost = new Set(['ECONNRESET', 'CONNECTION_CLOSED']);
  const first = await Promise.allSettled([reserved`select 1`, reserved`select 2`]);
  for (const code of first.map(errorCode)) assert.ok(connectionLost.has(code), code);
  // The connection is gone (the driver has seen it close); a later write on the pinned handle is where the
  // unpatched driver crashed.
  await connectionClosed;
  const later = await Promise.allSettled([reserved`select 3`]);
  assert.deepEqual(later.map(errorCode), ['CONNECTION_CLOSED']);
  reserved.release();

  // The pool still serves new work; the released dead connection may fail one query before it is replaced.
  const attempts = await Promise.allSettled([sql`select 1 as one`]);
  const retry =
    attempts[0]?.status === 'fulfilled' ? attempts : await Promise.allSettled([sql`select 1 as one`]);
  assert.equal(retry[0]?.status, 'fulfilled');
});

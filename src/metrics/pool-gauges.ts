// The database pool of this process, read at each scrape (a few counters in memory, no query): connections in
// use (running a query, held by a transaction or a reserved session, or opening), idle, the pool's size, and
// the queries waiting for a connection. postgres.js keeps these to itself; patches/postgres+3.4.9.patch adds the
// read (`sql.pool()`).
import { Gauge } from 'prom-client';
import type { Database } from '../db/client.js';
import { metricsRegistry } from './registry.js';

/** What the patched postgres.js answers for `sql.pool()`. */
export type PoolState = {
  max: number;
  idle: number;
  busy: number;
  reserved: number;
  connecting: number;
  waiting: number;
};

/** The pool's state now; undefined when postgres.js was installed without the project's patch. */
export function poolState(database: Pick<Database, 'sql'>): PoolState | undefined {
  return (database.sql as unknown as { pool?: () => PoolState }).pool?.();
}

const NAMES = ['glisk_db_pool_connections', 'glisk_db_pool_max_connections'];

/** Registers the pool gauges of `database` (replacing those of a previous call: one pool per process). */
export function registerPoolGauges(database: Pick<Database, 'sql'>): void {
  const registry = metricsRegistry();
  for (const name of NAMES) registry.removeSingleMetric(name);
  new Gauge({
    name: 'glisk_db_pool_connections',
    help:
      'Database pool of this process: connections in use (state="in_use": running a query, held by a ' +
      'transaction, or opening), idle (state="idle"), and queries waiting for a connection (state="waiting").',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = poolState(database);
      if (pool === undefined) return;
      this.set({ state: 'in_use' }, pool.busy + pool.reserved + pool.connecting);
      this.set({ state: 'idle' }, pool.idle);
      this.set({ state: 'waiting' }, pool.waiting);
    },
  });
  new Gauge({
    name: 'glisk_db_pool_max_connections',
    help: 'Most connections the database pool of this process opens (DB_POOL_SIZE).',
    registers: [registry],
    collect() {
      const pool = poolState(database);
      if (pool !== undefined) this.set(pool.max);
    },
  });
}

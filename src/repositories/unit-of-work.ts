// The unit of work: every repository bound to one transaction. The HTTP layer builds its request-scoped,
// lazily opened unit of work on exactly these two exports; keep their shapes stable.
import type { PgTransactionConfig } from 'drizzle-orm/pg-core';
import { repositories, type Repositories } from './index.js';
import type { Executor } from '../db/client.js';

/** A repository function with its transaction argument already supplied. */
type BoundFunction<F> = F extends (tx: Executor, ...args: infer A) => infer R ? (...args: A) => R : never;

/** A repository module with every function bound to one transaction. */
export type BoundRepository<M> = { readonly [K in keyof M]: BoundFunction<M[K]> };

export type UnitOfWork = { readonly tx: Executor } & {
  readonly [K in keyof Repositories]: BoundRepository<Repositories[K]>;
};

function bindModule<M extends object>(tx: Executor, module: M): BoundRepository<M> {
  const bound: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(module) as [string, unknown][]) {
    // Repository modules export only functions of (tx, ...args); anything else would be a mistake to bind.
    if (typeof value !== 'function') throw new TypeError(`repository export ${name} is not a function`);
    const repositoryFunction = value as (tx: Executor, ...args: unknown[]) => unknown;
    bound[name] = (...args: unknown[]): unknown => repositoryFunction(tx, ...args);
  }
  return bound as BoundRepository<M>;
}

/**
 * Every repository bound to `tx` (the database itself or a transaction of it). Calls go straight to the
 * repository functions: nothing is opened, committed or rolled back here.
 */
export function bindRepositories(tx: Executor): UnitOfWork {
  const bound: Record<string, unknown> = { tx };
  for (const [name, module] of Object.entries(repositories)) bound[name] = bindModule(tx, module);
  return bound as UnitOfWork;
}

/**
 * Runs `work` in ONE transaction with every repository bound to it: commits when `work` resolves and returns its
 * result; rolls back and rethrows the original error when it throws. Given a transaction instead of the
 * database, the work runs in a savepoint of it.
 */
export async function withUnitOfWork<T>(
  db: Executor,
  work: (uow: UnitOfWork) => Promise<T>,
  config?: PgTransactionConfig,
): Promise<T> {
  return db.transaction((tx) => work(bindRepositories(tx)), config);
}

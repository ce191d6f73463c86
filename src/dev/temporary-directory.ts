import { rmdirSync } from 'node:fs';
import { chown, mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePostgresUser, isRoot } from './postgres-os-user.js';

/**
 * A new directory under the OS temp dir (or `parent`) for a throwaway cluster. mkdtemp makes it 0700; as root it
 * is handed to the postgres user, who must enter it. stop() of a non-persistent server whose dataDir is directly
 * inside removes it too when nothing else is left in it; otherwise its creator removes it.
 */
export async function createTemporaryDirectory(prefix: string, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(path.join(parent, prefix));
  if (isRoot()) {
    const runAs = await ensurePostgresUser(() => {});
    await chown(dir, runAs.uid, runAs.gid);
  }
  temporaryDirectories.add(dir);
  return dir;
}

// Directories made by createTemporaryDirectory: a throwaway server whose cluster sits directly in one removes
// it at stop when nothing else is left in it, so forgetting the final rm leaves nothing behind in /tmp.
const temporaryDirectories = new Set<string>();

export async function removeIfEmptyTemporary(dir: string): Promise<void> {
  if (!temporaryDirectories.delete(dir)) return;
  await rmdir(dir).catch(() => undefined);
}

/** removeIfEmptyTemporary for the `exit` event, where nothing asynchronous runs. */
export function removeIfEmptyTemporarySync(dir: string): void {
  if (!temporaryDirectories.delete(dir)) return;
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: it holds more than the cluster, and its creator removes it.
  }
}

// PostgreSQL refuses to run as root: as root, its processes run as the `postgres` system user.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EmbeddedPostgresLogLevel } from './postgres-log.js';

export type RunAs = { uid: number; gid: number; name: string };

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, created when missing. */
export async function ensurePostgresUser(
  log: (message: string, level: EmbeddedPostgresLogLevel) => void,
): Promise<RunAs> {
  const name = 'postgres';
  const existing = await findUser(name);
  if (existing) return existing;
  log(`creating the system user "${name}" to run PostgreSQL (it refuses to run as root)`, 'info');
  const groupExists = (await readFile('/etc/group', 'utf8').catch(() => ''))
    .split('\n')
    .some((line) => line.startsWith(`${name}:`));
  await run('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    groupExists ? '--gid' : '--user-group',
    ...(groupExists ? [name] : []),
    name,
  ]);
  const created = await findUser(name);
  if (!created)
    throw new Error(`could not create the system user "${name}" needed to run PostgreSQL as root`);
  return created;
}

async function findUser(name: string): Promise<RunAs | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined)
      return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** The postgres user needs search permission on every ancestor of the data directory (not so under /root). */
export function assertReachableBy(runAs: RunAs, dataDir: string): void {
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const info = statSync(dir);
    const reachable =
      (info.mode & 0o001) !== 0 ||
      (info.uid === runAs.uid && (info.mode & 0o100) !== 0) ||
      (info.gid === runAs.gid && (info.mode & 0o010) !== 0);
    if (!reachable) {
      throw new Error(
        `PostgreSQL runs as the "${runAs.name}" user (it refuses root), which cannot enter ${dir} ` +
          `(mode ${(info.mode & 0o777).toString(8)}). Allow it (chmod o+x ${dir}), put the data directory ` +
          'elsewhere, or set DATABASE_URL to another PostgreSQL 17 server.',
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

export function spawnIds(runAs: RunAs | undefined): { uid?: number; gid?: number } {
  return runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
}

export function run(command: string, args: string[], runAs?: RunAs): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...spawnIds(runAs), encoding: 'utf8', cwd: '/' }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`${path.basename(command)} failed: ${error.message}\n${lastLines(stderr, 15)}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

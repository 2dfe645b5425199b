import { execFile } from 'node:child_process';
import { chown, mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PgOsUserMissingError } from './errors.js';

const execFileAsync = promisify(execFile);
const LOOKUP_TIMEOUT_MS = 5000;

/** The OS identity every PostgreSQL binary runs as. */
export interface PgOsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** True when the agent runs as root and must switch to this user for every PostgreSQL binary. */
  readonly switchUser: boolean;
}

/**
 * PostgreSQL refuses to run as root. When the agent is root, every PostgreSQL
 * binary runs as `name` (default `postgres`, created by the Debian package);
 * otherwise everything runs as the current user.
 */
export async function resolvePgOsUser(name = 'postgres'): Promise<PgOsUser> {
  const uid = process.getuid?.();
  if (uid !== 0) {
    const me = userInfo();
    return Object.freeze({ name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, switchUser: false });
  }
  let line: string;
  try {
    const { stdout } = await execFileAsync('getent', ['passwd', name], { timeout: LOOKUP_TIMEOUT_MS });
    line = stdout.trim().split('\n')[0] ?? '';
  } catch (cause) {
    throw new PgOsUserMissingError(name, { cause });
  }
  // name:password:uid:gid:gecos:home:shell
  const fields = line.split(':');
  const pwUid = Number(fields[2]);
  const pwGid = Number(fields[3]);
  if (fields.length < 7 || !Number.isInteger(pwUid) || !Number.isInteger(pwGid)) throw new PgOsUserMissingError(name);
  if (pwUid === 0) throw new PgOsUserMissingError(`${name} (uid 0 is root; PostgreSQL refuses it)`);
  return Object.freeze({ name, uid: pwUid, gid: pwGid, home: fields[5] || '/', switchUser: true });
}

/** Spawn options that run a child as the PostgreSQL OS user. */
export function spawnIdentity(user: PgOsUser): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
  };
  return user.switchUser ? { uid: user.uid, gid: user.gid, env } : { env };
}

/** Give a path the agent created for PostgreSQL to its OS user (a no-op when not switching users). */
export async function chownToPg(user: PgOsUser, ...paths: string[]): Promise<void> {
  if (!user.switchUser) return;
  for (const path of paths) await chown(path, user.uid, user.gid);
}

/**
 * mkdir -p for PostgreSQL: every directory this call creates (not the
 * existing parents) is 0700 and owned by the PostgreSQL OS user, so the
 * server can enter it; an existing `path` is chowned too.
 */
export async function mkdirForPg(user: PgOsUser, path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: 0o700 });
  if (!user.switchUser) return;
  const created: string[] = [resolve(path)];
  if (first !== undefined) {
    for (let dir = dirname(resolve(path)); dir.length >= resolve(first).length; dir = dirname(dir)) created.push(dir);
  }
  for (const dir of created) await chown(dir, user.uid, user.gid);
}

import { open, rename, rm } from 'node:fs/promises';
import { chownToPg, type PgOsUser } from './os-user.js';

/** Escape a field of a libpq password file (':' and '\' are escaped with '\'). */
function escapeField(value: string): string {
  return value.replace(/[\\:]/g, (c) => `\\${c}`);
}

/**
 * Write a libpq password file (0600, owned by the PostgreSQL OS user) holding
 * one line `*:*:*:<user>:<password>`. It lives outside PGDATA so that no
 * clone or rewind copies it, and it keeps passwords out of `ps` and the
 * command line. Written to a temporary name and renamed: never half a file.
 */
export async function writePassfile(path: string, osUser: PgOsUser, user: string, password: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`*:*:*:${escapeField(user)}:${escapeField(password)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chownToPg(osUser, tmp);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

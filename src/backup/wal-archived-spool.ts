import { chmodSync, chownSync, mkdirSync, rmSync, type BigIntStats } from 'node:fs';
import { chown, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageIoError } from '../lib/errors.js';

/*
 * The "already archived" markers behind archive_command's fast path
 * (wal-commands.ts), one file per WAL file name in a directory the agent
 * owns beside its WAL socket:
 *
 *   <dir>/<WAL file name>   content: <inode>.<size>.<mtime seconds>
 *
 * of pg_wal/<name> as the archiver read it — what `stat -c %i.%s.%Y` prints
 * for that very file, so the shell can compare without starting node.
 *
 * A marker is a claim the agent makes once, about bytes it has in the store:
 *  - it is written (temporary file, rename: never seen half written) only
 *    after the store holds those bytes durably — a finished put, or an
 *    object already there with the same SHA-256;
 *  - it names the file by inode, size and mtime at the moment it was read:
 *    a file replaced in pg_wal (rewind, re-clone, a recycled inode) does not
 *    match and goes the slow path with the full conflict check;
 *  - it is consumed once: archive_command removes it before it succeeds, so
 *    a second .ready of the same name goes the slow path too; the agent
 *    removes it when it answers that name itself, when the .ready went away
 *    without it being used, and when it forgets the read-ahead result;
 *  - every marker is removed when the spool is opened (agent start): one
 *    left by an earlier agent may speak of another store (the configuration
 *    changed) or of a data directory since replaced.
 * The directory is 0700, owned by the PostgreSQL OS user (the shell run by
 * PostgreSQL removes markers; nobody else may plant one); each marker is
 * 0600 and owned by that user as well.
 */

/** Directory name of the spool, beside the agent's WAL socket. */
export const WAL_ARCHIVED_SPOOL_NAME = '.pgherd-archived';

export interface FileIdentity {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

export function fileIdentityOf(info: BigIntStats): FileIdentity {
  return { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs };
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

/** `stat -c %i.%s.%Y` of the file: inode, size in bytes, mtime in whole seconds since the epoch. */
export function identityText(file: FileIdentity): string {
  const seconds = file.mtimeNs >= 0n ? file.mtimeNs / 1_000_000_000n : -((-file.mtimeNs + 999_999_999n) / 1_000_000_000n);
  return `${file.ino}.${file.size}.${seconds}`;
}

export class ArchivedSpool {
  /**
   * Opens the spool at `dir` (its parent must exist): removes whatever is
   * there — every marker of an earlier run — and creates it empty, 0700,
   * owned by `owner`. Synchronous, so no marker of an earlier run outlives
   * the constructor. Throws StorageIoError naming the directory.
   */
  constructor(
    readonly dir: string,
    private readonly owner?: { readonly uid: number; readonly gid: number },
  ) {
    try {
      // A symbolic link planted here is removed itself, never followed.
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, 0o700);
      if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
    } catch (cause) {
      throw new StorageIoError(dir, `cannot prepare the archived-marker directory: ${(cause as Error).message}`, { cause });
    }
  }

  /** Write the marker for `name` (replacing one there). */
  async write(name: string, file: FileIdentity): Promise<void> {
    const final = join(this.dir, name);
    // PostgreSQL never archives a name starting with '.': the shell never reads this.
    const temporary = join(this.dir, `.${name}.tmp`);
    try {
      await rm(temporary, { force: true });
      await writeFile(temporary, identityText(file), { mode: 0o600, flag: 'wx' });
      if (this.owner !== undefined) await chown(temporary, this.owner.uid, this.owner.gid);
      await rename(temporary, final);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Remove the marker for `name`: true when this call removed it, false when there was none (consumed). */
  async remove(name: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, name));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }
}

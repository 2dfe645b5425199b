import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, realpath, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Readable } from 'node:stream';

/*
 * File-level helpers of the local directory store (store-local.ts): the
 * names it keeps beside objects, durable writes, and the ordered walk.
 *
 * Beside an object "dir/name" the store keeps two kinds of hidden files in
 * the same directory: temporaries ".tmp-<16 hex>" (renamed over the object,
 * which is atomic only within one file system, hence the same directory) and
 * the metadata sidecar ".meta-<name>". Both start with ".", which
 * validateKey() rejects in every key segment, so neither can ever be a key,
 * list() skips them by that rule alone, and the two prefixes are disjoint.
 */

export const TEMP_PREFIX = '.tmp-';
const SIDECAR_PREFIX = '.meta-';
/** Objects and directories are private to the agent's user: they hold database contents. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
/** Creating the temporary file races with delete() pruning the empty directory it goes into; a few retries settle it. */
const OPEN_TEMP_ATTEMPTS_MAX = 3;

export function sidecarPath(objectPath: string): string {
  const slash = objectPath.lastIndexOf('/');
  return `${objectPath.slice(0, slash + 1)}${SIDECAR_PREFIX}${objectPath.slice(slash + 1)}`;
}

/** The errno code of a Node file-system error ('ENOENT', ...), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Makes a rename or unlink in `dir` durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `dir` and its missing parents, and fsyncs the parent of every
 * directory it created (else a crash could drop the new directory, and the
 * object in it, after put() returned). `dir` must lie below an existing root:
 * the caller checks that first, so that a missing root is never created.
 */
export async function makeDirectoryDurably(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  if (first === undefined) return;
  for (let created = dir; ; created = dirname(created)) {
    await fsyncDirectory(dirname(created));
    if (created === first) return;
  }
}

/**
 * Writes `body` to a new temporary file in `dir` and fsyncs it; returns its
 * path. On failure removes it and rethrows. `makeDirectory` is called when
 * `dir` does not exist (yet, or any more).
 */
export async function writeTemporary(dir: string, body: Buffer | Readable, makeDirectory: () => Promise<void>): Promise<string> {
  const { path, handle } = await openTemporary(dir, makeDirectory);
  try {
    if (Buffer.isBuffer(body)) await handle.writeFile(body);
    else for await (const chunk of body) await handle.write(chunk as Buffer);
    await handle.sync();
    await handle.close();
    return path;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
}

async function openTemporary(dir: string, makeDirectory: () => Promise<void>): Promise<{ path: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt++) {
    const path = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      return { path, handle: await open(path, 'wx', FILE_MODE) };
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' || attempt === OPEN_TEMP_ATTEMPTS_MAX) throw error;
      await makeDirectory();
    }
  }
}

/**
 * The first directory on the way from `root` down to `dir` that is a symlink
 * (or lies below one), or undefined when `dir` is reached without any. Checks
 * the deepest existing directory, so it also tells where a later mkdir would
 * create directories. Throws ENOENT when the root is missing, ENOTDIR when a
 * component is a file.
 */
export async function symlinkOnPath(root: string, dir: string): Promise<string | undefined> {
  const realRoot = await realpath(root);
  for (let at = dir; ; at = dirname(at)) {
    try {
      const real = await realpath(at);
      return real === join(realRoot, relative(root, at)) ? undefined : at;
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' || at === root) throw error;
    }
  }
}

export interface WalkedFile {
  readonly key: string;
  readonly path: string;
}

/**
 * The files below `dir` (whose key prefix is `dirKey`, "" or ending in "/")
 * whose keys start with `prefix`, in ascending key order. Entries that
 * cannot be keys (hidden names, names with other characters) and anything
 * but regular files and directories (symlinks included) are skipped, so a
 * walk from the root never leaves it.
 *
 * Order: a directory "a" holds keys "a/…", which sort after a sibling file
 * "a-b" ("-" < "/") but before "a0". Sorting each directory's entries with
 * directories named "a/" yields every key in global byte order, one
 * directory in memory at a time.
 */
export async function* walkFiles(dir: string, dirKey: string, prefix: string, isSegment: (name: string) => boolean): AsyncGenerator<WalkedFile> {
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => isSegment(entry.name) && (entry.isFile() || entry.isDirectory()))
    .map((entry) => ({ entry, sortKey: entry.isDirectory() ? `${entry.name}/` : entry.name }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  for (const { entry, sortKey } of entries) {
    const key = dirKey + sortKey;
    const path = join(dir, entry.name);
    if (!entry.isDirectory()) {
      if (key.startsWith(prefix)) yield { key, path };
    } else if (key.startsWith(prefix) || prefix.startsWith(key)) {
      try {
        yield* walkFiles(path, key, prefix, isSegment);
      } catch (error) {
        // Deleted (and pruned) while we walked: it holds nothing any more.
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
  }
}

/** stat() of a walked file, undefined when it was deleted since readdir(). */
export async function statIfPresent(path: string): Promise<{ size: number; mtime: Date } | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

import { constants } from 'node:fs';
import { lstat, open, readFile, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { assert } from '../lib/assert.js';
import { bodyFailed, checkBufferLength, discardBody, mapStreamErrors, watchBody, withLengthCheck } from './body.js';
import { errnoCode, fsyncDirectory, makeDirectoryDurably, sidecarPath, statIfPresent, symlinkOnPath, walkFiles, writeTemporary } from './local-files.js';
import { probeRoundTrip } from './probe.js';
import {
  isKeySegment,
  StoreError,
  validateKey,
  validateMetadata,
  validatePrefix,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoreErrorReason,
} from './store.js';

/**
 * The object store in a local directory: the embedded default for the demo
 * and tests, and a way to archive to a mounted file system. The object
 * "c/wal/x.gz" is the file <root>/c/wal/x.gz, byte for byte.
 *
 * put() writes a temporary file beside the object, fsyncs it, renames it over
 * the object and fsyncs the directory: a reader sees the old or the new
 * object whole, and a returned put() survives a crash. Metadata lives in a
 * sidecar file (local-files.ts) switched just before the object: creating an
 * object is atomic with its metadata; while an existing object is replaced,
 * head() may briefly pair the old bytes with the new metadata (and a crash
 * between the two renames leaves them so until the next put). pgherd writes
 * WAL and backup objects once, and an archive retry writes the same bytes
 * and metadata again.
 *
 * Differences from S3, inherent to a file system: a key cannot be both an
 * object and a "directory" of others ("a" and "a/b"); put() refuses the
 * second with INVALID_KEY. delete() removes directories it empties, so a
 * deleted "a/b" does not block a later "a". Keys are joined to the root
 * lexically (validateKey() makes that safe), and symlinks below the root are
 * never followed: list() skips them, reads treat a key reached through one
 * as absent, put() refuses to write through one (the root itself may be a
 * symlink). The root is never created: a typo in the path must show, not
 * silently archive elsewhere.
 */
export class LocalStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;

  constructor(root: string) {
    assert(isAbsolute(root), () => `local object store path must be absolute, got ${JSON.stringify(root)}`);
    this.root = resolve(root);
    this.description = pathToFileURL(this.root).href;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<void> {
    validateKey(key);
    if (options.metadata !== undefined) validateMetadata(options.metadata);
    let bodyError = (): unknown => undefined;
    try {
      let checked = body;
      if (options.contentLength !== undefined) {
        if (Buffer.isBuffer(body)) checkBufferLength(body, options.contentLength);
        else checked = withLengthCheck(body, options.contentLength);
      }
      bodyError = watchBody(checked);
      await this.writeObject(await this.writablePath(key), checked, options.metadata ?? {});
    } catch (error) {
      discardBody(body);
      const failed = bodyError();
      throw failed === undefined ? await this.failure('put', key, error) : bodyFailed(this.description, key, failed, error);
    }
  }

  async get(key: string): Promise<Readable> {
    validateKey(key);
    const handle = await this.openObject('get', key);
    return mapStreamErrors(handle.createReadStream(), (error) => this.streamFailure(key, error));
  }

  async getBuffer(key: string): Promise<Buffer> {
    validateKey(key);
    const handle = await this.openObject('getBuffer', key);
    try {
      return await handle.readFile();
    } catch (error) {
      throw await this.failure('getBuffer', key, error);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    validateKey(key);
    try {
      const path = await this.readablePath(key);
      if (path === undefined) return undefined;
      const stats = await lstat(path);
      if (!stats.isFile()) return undefined;
      return { key, size: stats.size, modified: stats.mtime, metadata: await this.readMetadata(path, key) };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
      throw await this.failure('head', key, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    try {
      // From the root, not from the prefix's directory: the walk sees (and skips) symlinks on the way.
      for await (const file of walkFiles(this.root, '', prefix, isKeySegment)) {
        const stats = await statIfPresent(file.path);
        if (stats !== undefined) yield { key: file.key, size: stats.size, modified: stats.mtime, metadata: {} };
      }
    } catch (error) {
      throw await this.failure('list', prefix, error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) validateKey(key);
    if (keys.length === 0) return;
    const missing = await this.rootProblem();
    if (missing !== undefined) throw missing;
    const dirs = new Set<string>();
    for (const key of new Set(keys)) {
      try {
        const path = await this.readablePath(key);
        if (path === undefined) continue;
        await removeObjectFile(path);
        await rm(sidecarPath(path), { force: true });
        dirs.add(dirname(path));
      } catch (error) {
        if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') continue;
        throw await this.failure('delete', key, error);
      }
    }
    // Deepest first, so that a parent emptied by its children's pruning goes too.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
      try {
        await this.pruneAndSync(dir);
      } catch (error) {
        throw await this.failure('delete', undefined, error);
      }
    }
  }

  async check(probeKey: string): Promise<void> {
    validateKey(probeKey, 'probe key');
    const missing = await this.rootProblem();
    if (missing !== undefined) throw missing;
    await probeRoundTrip(this, probeKey);
  }

  async close(): Promise<void> {
    // Nothing held between calls.
  }

  private pathOf(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  /** The object's path for reading or deleting; undefined when a symlink lies on the way (not an object, as list() agrees). */
  private async readablePath(key: string): Promise<string | undefined> {
    const path = this.pathOf(key);
    return (await symlinkOnPath(this.root, dirname(path))) === undefined ? path : undefined;
  }

  /** The object's path for writing: refused when writing would pass a symlink or hit a directory of other objects. */
  private async writablePath(key: string): Promise<string> {
    const path = this.pathOf(key);
    const link = await symlinkOnPath(this.root, dirname(path));
    if (link !== undefined) {
      throw new StoreError('INVALID_KEY', `${this.description}: put ${key}: ${link} is a symlink, or lies below one; the local store does not write through symlinks`, { key });
    }
    const existing = await lstat(path).catch(() => undefined);
    if (existing?.isDirectory() === true) throw new StoreError('INVALID_KEY', `${this.description}: put ${key}: ${CONFLICT}`, { key });
    return path;
  }

  /** Temporary data file, then the metadata switch, then the rename that publishes the object, then the directory fsync. */
  private async writeObject(path: string, body: Buffer | Readable, metadata: Readonly<Record<string, string>>): Promise<void> {
    const dir = dirname(path);
    const makeDirectory = async (): Promise<void> => {
      const missing = await this.rootProblem();
      if (missing !== undefined) throw missing;
      await makeDirectoryDurably(dir);
    };
    const dataTemp = await writeTemporary(dir, body, makeDirectory);
    try {
      if (Object.keys(metadata).length > 0) {
        const metaTemp = await writeTemporary(dir, Buffer.from(JSON.stringify(metadata)), makeDirectory);
        await rename(metaTemp, sidecarPath(path)).catch(async (error: unknown) => {
          await rm(metaTemp, { force: true });
          throw error;
        });
      } else {
        await rm(sidecarPath(path), { force: true });
      }
      await rename(dataTemp, path);
    } catch (error) {
      await rm(dataTemp, { force: true });
      throw error;
    }
    await fsyncDirectory(dir);
  }

  private async openObject(op: string, key: string): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      const path = await this.readablePath(key);
      if (path === undefined) throw new StoreError('NOT_FOUND', `${this.description}: ${op} ${key}: no such object (a symlink lies on its path)`, { key });
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      throw await this.failure(op, key, error);
    }
    const isFile = await handle.stat().then((s) => s.isFile(), () => false);
    if (!isFile) {
      await handle.close();
      throw new StoreError('NOT_FOUND', `${this.description}: ${op} ${key}: no such object (a directory of other objects)`, { key });
    }
    return handle;
  }

  private async readMetadata(path: string, key: string): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(sidecarPath(path), 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return {};
      throw error;
    }
    const parsed: unknown = (() => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })();
    const valid = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string');
    if (!valid) throw new StoreError('UNAVAILABLE', `${this.description}: head ${key}: metadata file ${sidecarPath(path)} is not a JSON object of strings`, { key });
    return parsed as Record<string, string>;
  }

  /** Removes `dir` and its parents below the root while they are empty, then fsyncs the deepest directory that remains. */
  private async pruneAndSync(dir: string): Promise<void> {
    let remaining = dir;
    while (remaining !== this.root) {
      try {
        await rmdir(remaining);
      } catch (error) {
        if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(errnoCode(error) ?? '')) break;
        throw error;
      }
      remaining = dirname(remaining);
    }
    await fsyncDirectory(remaining).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw error;
    });
  }

  /** NO_SUCH_BUCKET (or ACCESS_DENIED) when the root directory is not usable; undefined when it is. */
  private async rootProblem(): Promise<StoreError | undefined> {
    try {
      const stats = await stat(this.root);
      if (stats.isDirectory()) return undefined;
      return new StoreError('NO_SUCH_BUCKET', `${this.description}: ${this.root} is not a directory (fix backup.store.path)`);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return new StoreError('NO_SUCH_BUCKET', `${this.description}: directory ${this.root} does not exist (create it, or fix backup.store.path; it is never created implicitly)`, { cause: error });
      }
      if (code === 'EACCES' || code === 'EPERM') return new StoreError('ACCESS_DENIED', `${this.description}: cannot access ${this.root}: ${(error as Error).message}`, { cause: error });
      return undefined;
    }
  }

  /** Maps a file-system error of `op` on `key` to a StoreError naming the directory, the key and the cause. */
  private async failure(op: string, key: string | undefined, error: unknown): Promise<StoreError> {
    if (error instanceof StoreError) return error;
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      const missing = await this.rootProblem();
      if (missing !== undefined) return missing;
    }
    const what = key === undefined ? `${this.description}: ${op}` : `${this.description}: ${op} ${key}`;
    const cause = error instanceof Error ? error.message : String(error);
    const [reason, detail] = classify(op, code);
    return new StoreError(reason, `${what}: ${detail}${detail === '' ? '' : ': '}${cause}`, { key, cause: error });
  }

  private streamFailure(key: string, error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    return new StoreError('UNAVAILABLE', `${this.description}: get ${key}: reading failed: ${error instanceof Error ? error.message : String(error)}`, { key, cause: error });
  }
}

function classify(op: string, code: string | undefined): [StoreErrorReason, string] {
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return ['ACCESS_DENIED', 'not allowed (check the owner and mode of the directory)'];
  const reading = op === 'get' || op === 'getBuffer';
  // ELOOP: the object is a symlink, opened with O_NOFOLLOW; list() does not show it either.
  if (reading && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP')) return ['NOT_FOUND', 'no such object'];
  if (op === 'put' && (code === 'ENOTDIR' || code === 'EISDIR')) return ['INVALID_KEY', CONFLICT];
  return ['UNAVAILABLE', ''];
}

const CONFLICT = 'conflicts with an existing object: a directory store cannot hold both "a" and "a/…"';

/** Removes the object file at `path`, if it is one (a directory of other objects, or a symlink, is not). */
async function removeObjectFile(path: string): Promise<void> {
  const stats = await lstat(path);
  if (stats.isFile()) await unlink(path);
}

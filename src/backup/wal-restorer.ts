import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { PgherdError } from '../lib/errors.js';
import { Limiter } from '../lib/limiter.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { DigestTap } from './body.js';
import { StoreError, type ObjectStore } from './store.js';
import { WalCorruptError, WalNameError, WalRestoreError } from './wal-errors.js';
import { checkSegmentBytes, formatSegmentName, parseSegmentName, walFileKind, walKey, WAL_SEGMENT_BYTES_DEFAULT } from './wal-names.js';
import { collect, decodeBuffer, decodeStream, fromStoreMetadata, sha256Hex, sniffEncoding, type StoredWalMeta } from './wal-object.js';
import { checkAbsolutePath, checkClusterName, checkIntegerRange } from './wal-options.js';

/*
 * restore_command, served inside the agent (DESIGN §7).
 *
 * restore(name) fetches the archived file into a spool directory the agent
 * owns, decoded and verified, and answers with the spool file's path; the
 * service streams it to the client, which writes it where PostgreSQL asked.
 * Verification: the uncompressed bytes must match the object's metadata
 * (SHA-256 and size, when present; gzip's own CRC always): a mismatch is a
 * WalCorruptError naming the key and both values, and nothing is served.
 *
 * Prefetch: recovery asks for segments one by one, in order, and waits for
 * each. After serving segment N the restorer fetches N+1 … N+prefetch of
 * the same timeline in the background, so that the next requests are
 * answered from the spool. The chain starts with N+1 alone and fans out only
 * once it was found: at the end of the archive (a standby polling for the
 * next segment) each request costs one lookup, not `prefetch`. A missing or
 * failed prefetch is not remembered: the request fetches again. Spool files
 * of segments before the last requested one, or beyond its prefetch window,
 * are deleted; the spool is emptied at start.
 *
 * Timeline history files, backup history files and partial segments are
 * fetched directly, without prefetch, into a spool file of their own that
 * release() removes once served.
 */

export interface WalRestorerOptions {
  readonly store: ObjectStore;
  /** The cluster's key prefix in the store. */
  readonly cluster: string;
  /** Absolute; created 0700 and emptied at open. Only the agent reads it. */
  readonly spoolDir: string;
  /** Segments fetched ahead of recovery; default 4; 0 turns prefetch off. */
  readonly prefetch?: number;
  /** wal_segment_size, to name the next segments; default 16 MiB. */
  readonly segmentBytes?: number;
  readonly logger?: Logger;
  /** Wall clock for the "last … at" stats (ms since the epoch); default Date.now. */
  readonly nowMs?: () => number;
}

export type RestoreResult =
  | {
      readonly kind: 'found';
      /** A spool file holding the uncompressed, verified bytes. */
      readonly path: string;
      readonly sizeBytes: number;
      /** Call once the file has been served: removes it when it is not a prefetch-window segment. */
      release(): Promise<void>;
    }
  | { readonly kind: 'missing' };

export interface WalRestorerStats {
  readonly restoredFiles: number;
  readonly restoredBytes: number;
  /** Requests answered from a prefetched (or prefetching) segment. */
  readonly prefetchHits: number;
  /** Requests for files the archive does not hold (normal: recovery probes for history files and the next segment). */
  readonly missing: number;
  readonly failures: number;
  readonly lastRestoredName: string | null;
  readonly lastRestoredAtMs: number | null;
  readonly lastError: string | null;
  readonly lastErrorAtMs: number | null;
}

export const WAL_PREFETCH_DEFAULT = 4;
/** Spool space and store connections grow with it; recovery replays one segment at a time. */
export const WAL_PREFETCH_MAX = 32;

type Fetched = { readonly kind: 'found'; readonly path: string; readonly sizeBytes: number } | { readonly kind: 'missing' };

/** A segment being fetched, or fetched into the spool. */
interface Entry {
  readonly promise: Promise<Fetched>;
  settled: Fetched | undefined;
}

const OWNER = 'WalRestorer';
const noRelease = async (): Promise<void> => {};

export class WalRestorer {
  private readonly store: ObjectStore;
  private readonly cluster: string;
  private readonly spoolDir: string;
  private readonly prefetch: number;
  private readonly segmentBytes: number;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly limiter: Limiter;
  private readonly entries = new Map<string, Entry>();
  private sequence = 0;
  private closed = false;
  private counters = {
    restoredFiles: 0,
    restoredBytes: 0,
    prefetchHits: 0,
    missing: 0,
    failures: 0,
    lastRestoredName: null as string | null,
    lastRestoredAtMs: null as number | null,
    lastError: null as string | null,
    lastErrorAtMs: null as number | null,
  };

  /** Creates the spool directory (0700) and empties it. */
  static async open(options: WalRestorerOptions): Promise<WalRestorer> {
    const restorer = new WalRestorer(options);
    await mkdir(options.spoolDir, { recursive: true, mode: 0o700 });
    await chmod(options.spoolDir, 0o700);
    for (const entry of await readdir(options.spoolDir)) await rm(join(options.spoolDir, entry), { recursive: true, force: true });
    return restorer;
  }

  private constructor(options: WalRestorerOptions) {
    checkClusterName(OWNER, options.cluster);
    checkAbsolutePath(OWNER, 'spoolDir', options.spoolDir);
    const prefetch = options.prefetch ?? WAL_PREFETCH_DEFAULT;
    checkIntegerRange(OWNER, 'prefetch', prefetch, 0, WAL_PREFETCH_MAX);
    const segmentBytes = options.segmentBytes ?? WAL_SEGMENT_BYTES_DEFAULT;
    checkSegmentBytes(segmentBytes);
    this.store = options.store;
    this.cluster = options.cluster;
    this.spoolDir = options.spoolDir;
    this.prefetch = prefetch;
    this.segmentBytes = segmentBytes;
    this.limiter = new Limiter(prefetch + 1);
    this.log = (options.logger ?? silentLogger).child({ component: 'wal-restore' });
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * restore_command for `name` (%f). 'missing' when the archive does not
   * hold it; rejects with WalNameError, WalCorruptError or WalRestoreError.
   */
  async restore(name: string): Promise<RestoreResult> {
    const kind = walFileKind(name);
    try {
      if (kind === undefined) throw new WalNameError(name);
      const result = kind === 'segment' ? await this.restoreSegment(name) : await this.restoreDirect(name);
      this.countResult(name, result);
      return result;
    } catch (cause) {
      const error = cause instanceof PgherdError && !(cause instanceof StoreError) ? cause : new WalRestoreError(name, { cause });
      this.countFailure(name, error);
      throw error;
    }
  }

  stats(): WalRestorerStats {
    return Object.freeze({ ...this.counters });
  }

  /** Stops prefetching and waits for the fetches in flight. The spool is left as it is (emptied at the next open). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map((entry) => entry.promise.catch(() => undefined)));
  }

  private async restoreSegment(name: string): Promise<RestoreResult> {
    let fetched: Fetched | undefined;
    const entry = this.entries.get(name);
    if (entry !== undefined) {
      // Prefetched, or on its way; a missing or failed prefetch is fetched again.
      fetched = await entry.promise.catch(() => undefined);
      if (fetched?.kind === 'found') this.counters.prefetchHits += 1;
      else fetched = undefined;
    }
    fetched ??= await this.fetchSegment(name, true).promise;
    this.dropOutsideWindow(name);
    if (fetched.kind === 'missing') return fetched;
    this.prefetchAfter(name);
    return { ...fetched, release: noRelease };
  }

  private async restoreDirect(name: string): Promise<RestoreResult> {
    this.sequence += 1;
    const path = join(this.spoolDir, `${name}.direct-${this.sequence}`);
    const slot = this.limiter.acquire(true);
    await slot.granted;
    let fetched: Fetched;
    try {
      fetched = await this.fetch(name, path);
    } finally {
      slot.release();
    }
    if (fetched.kind === 'missing') return fetched;
    return { ...fetched, release: () => rm(path, { force: true }) };
  }

  /** Start fetching segment `name` into the spool (entries holds it while in flight, and afterwards when found). */
  private fetchSegment(name: string, requested: boolean): Entry {
    const slot = this.limiter.acquire(requested);
    const run = async (): Promise<Fetched> => {
      await slot.granted;
      try {
        return await this.fetch(name, join(this.spoolDir, name));
      } finally {
        slot.release();
      }
    };
    const entry: Entry = { promise: run(), settled: undefined };
    this.entries.set(name, entry);
    entry.promise.then(
      (fetched) => {
        if (fetched.kind === 'found') entry.settled = fetched;
        else if (this.entries.get(name) === entry) this.entries.delete(name);
      },
      (error: unknown) => {
        if (this.entries.get(name) === entry) this.entries.delete(name);
        if (!requested) this.log.debug({ name, err: (error as Error).message }, 'wal.prefetch_failed');
      },
    );
    return entry;
  }

  /** Prefetch the `prefetch` segments after `name`: the next one first, the rest once it was found. */
  private prefetchAfter(name: string): void {
    if (this.prefetch === 0 || this.closed) return;
    const { timeline, segment } = parseSegmentName(name, this.segmentBytes);
    const wanted: string[] = [];
    for (let ahead = 1; ahead <= this.prefetch; ahead += 1) {
      const next = formatSegmentName(timeline, segment + ahead, this.segmentBytes);
      if (!this.entries.has(next)) wanted.push(next);
    }
    const [first, ...rest] = wanted;
    if (first === undefined) return;
    void this.fetchSegment(first, false).promise.then(
      (fetched) => {
        if (fetched.kind !== 'found' || this.closed) return;
        for (const next of rest) if (!this.entries.has(next)) this.fetchSegment(next, false);
      },
      () => undefined,
    );
  }

  /** Delete spooled segments before `name` or beyond its prefetch window (recovery moved on, or jumped back). */
  private dropOutsideWindow(name: string): void {
    const at = parseSegmentName(name, this.segmentBytes).segment;
    for (const [other, entry] of this.entries) {
      if (other === name || entry.settled?.kind !== 'found') continue;
      const position = parseSegmentName(other, this.segmentBytes).segment;
      if (position >= at && position <= at + this.prefetch) continue;
      this.entries.delete(other);
      const path = entry.settled.path;
      void rm(path, { force: true }).catch((error: unknown) => this.log.warn({ path, err: (error as Error).message }, 'wal.spool_remove_failed'));
    }
  }

  /** Fetch `name` into `path`, decoded and verified; 'missing' when the archive does not hold it. */
  private async fetch(name: string, path: string): Promise<Fetched> {
    const key = walKey(this.cluster, name);
    const info = await this.store.head(key);
    if (info === undefined) return { kind: 'missing' };
    const meta = fromStoreMetadata(key, info.metadata);
    let body: Readable;
    try {
      body = await this.store.get(key);
    } catch (error) {
      if (error instanceof StoreError && error.reason === 'NOT_FOUND') return { kind: 'missing' };
      throw error;
    }
    this.sequence += 1;
    const temporary = `${path}.tmp-${this.sequence}`;
    try {
      const written = await this.decodeInto(body, meta, temporary).catch((error: unknown) => {
        throw isZlibError(error) ? new WalCorruptError(key, `cannot decode its gzip data: ${error.message}`, { cause: error }) : error;
      });
      if (meta.sha256 !== undefined && written.sha256 !== meta.sha256) {
        throw new WalCorruptError(key, `the sha256 of its uncompressed bytes is ${written.sha256}, its metadata says ${meta.sha256}`);
      }
      if (meta.size !== undefined && written.sizeBytes !== meta.size) {
        throw new WalCorruptError(key, `it decodes to ${written.sizeBytes} bytes, its metadata says ${meta.size}`);
      }
      await rename(temporary, path);
      return { kind: 'found', path, sizeBytes: written.sizeBytes };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /** Write the uncompressed bytes of `body` to `path` (0600); their digest and size. */
  private async decodeInto(body: Readable, meta: StoredWalMeta, path: string): Promise<{ sha256: string; sizeBytes: number }> {
    if (meta.encoding === undefined) {
      // Written by another tool: small and rare, so sniff the encoding from the whole object.
      const stored = await collect(body);
      const bytes = await decodeBuffer(stored, sniffEncoding(stored));
      await writeFile(path, bytes, { mode: 0o600 });
      return { sha256: sha256Hex(bytes), sizeBytes: bytes.length };
    }
    const tap = new DigestTap();
    const decoder = decodeStream(meta.encoding);
    const sink = createWriteStream(path, { mode: 0o600 });
    if (decoder === undefined) await pipeline(body, tap, sink);
    else await pipeline(body, decoder, tap, sink);
    return { sha256: tap.sha256(), sizeBytes: tap.bytes };
  }

  private countResult(name: string, result: RestoreResult): void {
    if (result.kind === 'missing') {
      this.counters.missing += 1;
      this.log.debug({ name }, 'wal.restore_missing');
      return;
    }
    this.counters.restoredFiles += 1;
    this.counters.restoredBytes += result.sizeBytes;
    this.counters.lastRestoredName = name;
    this.counters.lastRestoredAtMs = this.nowMs();
    this.log.debug({ name, bytes: result.sizeBytes }, 'wal.restored');
  }

  private countFailure(name: string, error: PgherdError): void {
    this.counters.failures += 1;
    this.counters.lastError = error.message;
    this.counters.lastErrorAtMs = this.nowMs();
    if (error instanceof WalCorruptError) this.log.error({ name, key: error.key, err: error.message }, 'wal.restore_corrupt');
    else this.log.warn({ name: name.slice(0, 100), err: error.message }, 'wal.restore_failed');
  }
}

/** zlib's errors carry codes like Z_DATA_ERROR (bad data) and Z_BUF_ERROR (truncated). */
function isZlibError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('Z_');
}

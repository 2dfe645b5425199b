import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { assert } from '../lib/assert.js';
import { ConfigError, PgherdError } from '../lib/errors.js';
import { Limiter, type Slot } from '../lib/limiter.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { DigestTap } from './body.js';
import { ReadyWatch } from './ready-watch.js';
import type { ObjectInfo, ObjectStore } from './store.js';
import { ArchivedSpool, fileIdentityOf, identityText, sameFile, type FileIdentity } from './wal-archived-spool.js';
import { WalArchiveError, WalConflictError, WalNameError } from './wal-errors.js';
import { compareArchiveOrder, isWalFileName, walKey } from './wal-names.js';
import { decodeBuffer, fromStoreMetadata, sha256Hex, sniffEncoding, toStoreMetadata, type WalObjectMeta } from './wal-object.js';
import { checkAbsolutePath, checkClusterName, checkIntegerRange } from './wal-options.js';

/*
 * archive_command, served inside the agent (DESIGN §7).
 *
 * archive(name) reads <pgdata>/pg_wal/<name> once, hashing it (SHA-256 of
 * the uncompressed bytes) while compressing it (zlib's async stream: the
 * work runs on libuv's thread pool, so segments compress in parallel and the
 * event loop stays free), and stores it under walKey() with its metadata
 * (wal-object.ts).
 *
 * Never overwrite: head(key) first. Absent: read, compress, upload. Present
 * with the same SHA-256: success without compressing or uploading
 * (PostgreSQL re-runs archive_command after a crash). Present with different content: the
 * command fails, loudly (an error line with both digests, a conflict count,
 * lastError) — PostgreSQL keeps the file and retries; an operator decides.
 *
 * Read-ahead: PostgreSQL archives one file at a time and waits for each
 * command. The archiver does not wait for it: it watches
 * archive_status (ready-watch.ts: fs.watch, and a scan every
 * `scanIntervalMs` as the fallback), and at every wake-up and every request
 * lists archive_status/*.ready, takes the first `readAhead` + 1 names in
 * PostgreSQL's own order (timeline history files first, then oldest first;
 * pgarch.c ready_file_comparator) and starts their uploads in the
 * background, at most `parallel` uploads running at once overall (a
 * waiting archive_command goes first). A background failure is retried by
 * the scan only after a back-off (BACKGROUND_RETRY_MS_*); a request always
 * tries at once.
 *
 * A finished background upload is answered two ways:
 *  - fast path: with `archivedDir`, the archiver writes a marker for the
 *    name (wal-archived-spool.ts: the file's inode, size and mtime as it was
 *    read) once the bytes are durably in the store; archive_command (a sh
 *    snippet, wal-commands.ts) finds it, compares it with `stat` of %p,
 *    removes it and succeeds without starting node. The agent never sees
 *    that request: a scan that finds the .ready gone counts the marker as
 *    consumed if it is gone too (markersConsumed), and removes it otherwise;
 *  - slow path: the result is remembered (bounded) until the request
 *    arrives through the socket, together with the file's identity: should
 *    pg_wal hold another file by then (rewind, re-clone), it is archived
 *    afresh with the full conflict check. Every request removes the name's
 *    marker before it answers, so a marker is used at most once and never
 *    outlives the answer for its name.
 * Only requests count and log failures (a background failure is a debug
 * line), so metrics count PostgreSQL's attempts.
 *
 * Memory: each running upload holds its stored (compressed) bytes, so at
 * most `parallel` × the segment size.
 */

export type WalCompression = 'gzip' | 'none';

export interface WalArchiverOptions {
  readonly store: ObjectStore;
  /** The cluster's key prefix in the store. */
  readonly cluster: string;
  /** Absolute path of the data directory (archive_command runs with cwd = PGDATA). */
  readonly pgdata: string;
  /** Default 'gzip'. */
  readonly compression?: WalCompression;
  /** 0–9; default 1: archiving must keep up with WAL generation, ratio matters less. */
  readonly gzipLevel?: number;
  /** Concurrent uploads, foreground and read-ahead together; default 4. */
  readonly parallel?: number;
  /** Ready files uploaded ahead of PostgreSQL's requests (`parallel` at a time); default WAL_READ_AHEAD_DEFAULT; 0 turns read-ahead (and the watch) off. */
  readonly readAhead?: number;
  /** Scan archive_status at least this often, besides fs.watch; default 250. */
  readonly scanIntervalMs?: number;
  /**
   * The archived-marker directory of archive_command's fast path
   * (wal-archived-spool.ts; its parent must exist). Emptied and created at
   * construction. Undefined: no markers, every request goes through the socket.
   */
  readonly archivedDir?: string;
  /** Owner of archivedDir and its markers (the PostgreSQL OS user when the agent is root); undefined: the agent's user. */
  readonly archivedDirOwner?: { readonly uid: number; readonly gid: number };
  readonly logger?: Logger;
  /** Wall clock for the "last … at" stats (ms since the epoch); default Date.now. */
  readonly nowMs?: () => number;
}

export const WAL_ARCHIVE_PARALLEL_DEFAULT = 4;
export const WAL_GZIP_LEVEL_DEFAULT = 1;
/** More concurrent uploads than this buys nothing on one node and multiplies memory (each holds a segment). */
export const WAL_ARCHIVE_PARALLEL_MAX = 32;
/** PostgreSQL's archiver itself gathers at most 64 ready files per directory scan (pgarch.c). */
export const WAL_READ_AHEAD_MAX = 64;
/**
 * The window is counted from PostgreSQL's oldest ready file, and uploads
 * that finished early stay in it until PostgreSQL asks for them: a window
 * of only `parallel` files leaves slots idle while PostgreSQL catches up.
 * 16 keeps them busy (32 segments archived in PostgreSQL's order, in-process,
 * compression none: 1.5× the throughput of a window of 4). A file waiting in
 * the window holds no memory.
 */
export const WAL_READ_AHEAD_DEFAULT = 16;
/** Background results waiting for their archive_command; beyond this the oldest is forgotten (and merely re-checked later). */
const FINISHED_MAX = 2 * WAL_READ_AHEAD_MAX;
/** Recently answered names kept so a lingering .ready marker is not read ahead again; PostgreSQL renames it right after the answer. */
const ANSWERED_MAX = WAL_READ_AHEAD_MAX;
assert(WAL_READ_AHEAD_MAX <= FINISHED_MAX, 'every read-ahead result of one window must fit in the finished map');
/** zlib output chunk: fewer thread-pool round trips than the 16 KiB default. */
const ZLIB_CHUNK_BYTES = 256 * 1024;
/** zlib's largest hash table (256 KiB more per stream than the default 8): ~25 % faster at level 1 on WAL-like data, same ratio (measured). */
const ZLIB_MEM_LEVEL = 9;
const READ_CHUNK_BYTES = 1024 * 1024;
export const WAL_READY_SCAN_INTERVAL_MS_DEFAULT = 250;
const SCAN_INTERVAL_MS_MIN = 10;
const SCAN_INTERVAL_MS_MAX = 60_000;
/**
 * A failed background upload is tried again by the scan after this, doubling
 * up to the maximum: a store that fails or a conflicting object is not hit
 * with a 16 MiB read at every wake-up. PostgreSQL's own requests are never held back.
 */
const BACKGROUND_RETRY_MS_MIN = 10_000;
const BACKGROUND_RETRY_MS_MAX = 300_000;
assert(BACKGROUND_RETRY_MS_MIN <= BACKGROUND_RETRY_MS_MAX, 'the background retry back-off grows from its minimum to its maximum');

export interface ArchiveOutcome {
  /** 'uploaded': stored now (by this request or read-ahead); 'already_archived': the store held the same bytes. */
  readonly kind: 'uploaded' | 'already_archived';
  readonly name: string;
  /** Uncompressed bytes. */
  readonly sizeBytes: number;
  /** Bytes stored (0 when already archived). */
  readonly storedBytes: number;
}

export interface WalArchiverStats {
  /** Files uploaded (by requests and read-ahead). */
  readonly archivedFiles: number;
  readonly archivedBytes: number;
  readonly storedBytes: number;
  /** Files found already in the store with the same SHA-256 (by requests and read-ahead): nothing uploaded. */
  readonly alreadyArchivedFiles: number;
  /** Failed archive requests, conflicts included. */
  readonly failures: number;
  readonly conflicts: number;
  /** The newest WAL file name stored (by name order, whatever finished last). */
  readonly lastArchivedName: string | null;
  readonly lastArchivedAtMs: number | null;
  readonly lastError: string | null;
  readonly lastErrorAtMs: number | null;
  /** Uploads running or waiting for a slot. */
  readonly inFlight: number;
  /** Markers written for archive_command's fast path (background uploads in the store). */
  readonly markersWritten: number;
  /** Markers archive_command consumed: files PostgreSQL archived without reaching the agent. */
  readonly markersConsumed: number;
}

/** One upload, started by a request or by read-ahead. */
class Job {
  /** An archive request waits for this job: it reports a failure, and a success is not kept for later. */
  requested: boolean;
  result!: Promise<JobResult>;

  constructor(
    readonly name: string,
    readonly slot: Slot,
    requested: boolean,
  ) {
    this.requested = requested;
  }
}

interface JobDone {
  readonly outcome: ArchiveOutcome;
  /** pg_wal/<name> as it was read. */
  readonly file: FileIdentity;
}

/** A background result waiting for its request; `marked`: its marker was written. */
interface Finished extends JobDone {
  readonly marked: boolean;
}

type JobResult = ({ readonly ok: true } & JobDone) | { readonly ok: false; readonly error: PgherdError };

interface LocalFile {
  readonly body: Buffer;
  readonly meta: WalObjectMeta;
  readonly file: FileIdentity;
}

const OWNER = 'WalArchiver';

export class WalArchiver {
  private readonly store: ObjectStore;
  private readonly cluster: string;
  private readonly walDir: string;
  private readonly statusDir: string;
  private readonly compression: WalCompression;
  private readonly gzipLevel: number;
  private readonly readAhead: number;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly limiter: Limiter;
  private readonly spool: ArchivedSpool | undefined;
  private readonly watch: ReadyWatch | undefined;
  private readonly inFlight = new Map<string, Job>();
  private readonly finished = new Map<string, Finished>();
  /** Names whose request succeeded lately: their .ready marker may linger a moment, read-ahead must not take them again. */
  private readonly answered = new Set<string>();
  /** Names whose background upload failed: not read ahead again before `atMs` (performance.now()). */
  private readonly backoff = new Map<string, { readonly failures: number; readonly atMs: number }>();
  private scanning = false;
  private scanAgain = false;
  private closed = false;
  private counters = {
    archivedFiles: 0,
    archivedBytes: 0,
    storedBytes: 0,
    alreadyArchivedFiles: 0,
    failures: 0,
    conflicts: 0,
    lastArchivedName: null as string | null,
    lastArchivedAtMs: null as number | null,
    lastError: null as string | null,
    lastErrorAtMs: null as number | null,
    markersWritten: 0,
    markersConsumed: 0,
  };

  constructor(options: WalArchiverOptions) {
    checkClusterName(OWNER, options.cluster);
    checkAbsolutePath(OWNER, 'pgdata', options.pgdata);
    const compression = options.compression ?? 'gzip';
    if (compression !== 'gzip' && compression !== 'none') throw new ConfigError(`${OWNER}.compression`, `expected "gzip" or "none", got ${JSON.stringify(compression)}`);
    const gzipLevel = options.gzipLevel ?? WAL_GZIP_LEVEL_DEFAULT;
    checkIntegerRange(OWNER, 'gzipLevel', gzipLevel, 0, 9);
    const parallel = options.parallel ?? WAL_ARCHIVE_PARALLEL_DEFAULT;
    checkIntegerRange(OWNER, 'parallel', parallel, 1, WAL_ARCHIVE_PARALLEL_MAX);
    const readAhead = options.readAhead ?? WAL_READ_AHEAD_DEFAULT;
    checkIntegerRange(OWNER, 'readAhead', readAhead, 0, WAL_READ_AHEAD_MAX);
    const scanIntervalMs = options.scanIntervalMs ?? WAL_READY_SCAN_INTERVAL_MS_DEFAULT;
    checkIntegerRange(OWNER, 'scanIntervalMs', scanIntervalMs, SCAN_INTERVAL_MS_MIN, SCAN_INTERVAL_MS_MAX);
    if (options.archivedDir !== undefined) checkAbsolutePath(OWNER, 'archivedDir', options.archivedDir);
    this.store = options.store;
    this.cluster = options.cluster;
    this.walDir = join(options.pgdata, 'pg_wal');
    this.statusDir = join(options.pgdata, 'pg_wal', 'archive_status');
    this.compression = compression;
    this.gzipLevel = gzipLevel;
    this.readAhead = readAhead;
    this.limiter = new Limiter(parallel);
    this.log = (options.logger ?? silentLogger).child({ component: 'wal-archive' });
    this.nowMs = options.nowMs ?? Date.now;
    // Every marker of an earlier run is gone before anything else happens.
    this.spool = options.archivedDir === undefined ? undefined : new ArchivedSpool(options.archivedDir, options.archivedDirOwner);
    this.watch = readAhead === 0 ? undefined : new ReadyWatch(this.statusDir, () => this.startReadAhead(), scanIntervalMs, this.log);
  }

  /**
   * archive_command for `name` (%f). Resolves once the file is in the store
   * (or already was); rejects with WalNameError, WalConflictError or
   * WalArchiveError (the message names the file and the cause).
   */
  async archive(name: string): Promise<ArchiveOutcome> {
    if (!isWalFileName(name)) {
      const error = new WalNameError(name);
      this.countFailure(error);
      this.log.warn({ name: name.slice(0, 100), err: error.message }, 'wal.archive_refused');
      throw error;
    }
    try {
      const early = await this.takeFinished(name);
      if (early !== undefined) {
        this.startReadAhead();
        return early;
      }
      const job = this.inFlight.get(name) ?? this.startJob(name, true);
      job.requested = true;
      job.slot.expedite();
      this.startReadAhead();
      const result = await job.result;
      if (!result.ok) throw result.error;
      return result.outcome;
    } finally {
      // This answer is the name's one confirmation: a marker left for it (the shell found it stale, or came first) must not confirm a later .ready.
      await this.removeMarker(name);
    }
  }

  /** Files PostgreSQL has marked ready and not yet had archived: the archive lag in files. 0 when pg_wal/archive_status does not exist. */
  async readyCount(): Promise<number> {
    return (await this.readyNames()).length;
  }

  stats(): WalArchiverStats {
    return Object.freeze({ ...this.counters, inFlight: this.inFlight.size });
  }

  /** Stops the watch and read-ahead and waits for the uploads in flight to finish. */
  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    await Promise.all([...this.inFlight.values()].map((job) => job.result));
  }

  /** A background result for `name`, if one is kept and pg_wal still holds that very file. */
  private async takeFinished(name: string): Promise<ArchiveOutcome | undefined> {
    const kept = this.finished.get(name);
    if (kept === undefined) return undefined;
    const now = await stat(join(this.walDir, name), { bigint: true }).then(fileIdentityOf, () => undefined);
    // Kept until here, then answered in the same step: a scan meanwhile must not read the name ahead again.
    this.finished.delete(name);
    if (now === undefined || !sameFile(now, kept.file)) {
      this.log.info({ name }, 'wal.read_ahead_stale');
      return undefined;
    }
    this.noteAnswered(name);
    this.log.debug({ name }, 'wal.read_ahead_hit');
    return kept.outcome;
  }

  private startJob(name: string, requested: boolean): Job {
    const job = new Job(name, this.limiter.acquire(requested), requested);
    job.result = this.runJob(job).then(
      async (done): Promise<JobResult> => {
        // Still in flight while the marker is written: a request arriving meanwhile waits for this job and removes the marker itself.
        const marked = !job.requested && (await this.writeMarker(name, done.file));
        this.inFlight.delete(name);
        this.backoff.delete(name);
        // In the same step as leaving inFlight, so that no scan finds the name in neither and reads it ahead again.
        if (job.requested) this.noteAnswered(name);
        else this.keepFinished(name, { ...done, marked });
        return { ok: true, ...done };
      },
      (cause: unknown): JobResult => {
        this.inFlight.delete(name);
        const error = cause instanceof WalConflictError || cause instanceof WalArchiveError ? cause : new WalArchiveError(name, { cause });
        this.reportFailure(job, error);
        return { ok: false, error };
      },
    );
    this.inFlight.set(name, job);
    return job;
  }

  private async runJob(job: Job): Promise<JobDone> {
    await job.slot.granted;
    try {
      const startedMs = performance.now();
      const key = walKey(this.cluster, job.name);
      const existing = await this.store.head(key);
      if (existing !== undefined) {
        // Only the digest is needed to compare: no compression.
        const local = await this.readLocal(job.name, false);
        await this.checkSame(job.name, key, existing, local.meta.sha256);
        this.counters.alreadyArchivedFiles += 1;
        this.log.debug({ name: job.name, key }, 'wal.already_archived');
        return { outcome: { kind: 'already_archived', name: job.name, sizeBytes: local.meta.size, storedBytes: 0 }, file: local.file };
      }
      const local = await this.readLocal(job.name, true);
      await this.store.put(key, local.body, { metadata: toStoreMetadata(local.meta), contentLength: local.body.length });
      this.countArchived(job.name, local);
      const readAhead = !job.requested;
      this.log.debug({ name: job.name, bytes: local.meta.size, storedBytes: local.body.length, ms: Math.round(performance.now() - startedMs), readAhead }, 'wal.archived');
      return { outcome: { kind: 'uploaded', name: job.name, sizeBytes: local.meta.size, storedBytes: local.body.length }, file: local.file };
    } finally {
      job.slot.release();
    }
  }

  /** The fast path's marker for a background result now in the store; false (and the slow path) when it cannot be written. */
  private async writeMarker(name: string, file: FileIdentity): Promise<boolean> {
    if (this.spool === undefined) return false;
    try {
      await this.spool.write(name, file);
      this.counters.markersWritten += 1;
      return true;
    } catch (error) {
      this.log.warn({ name, dir: this.spool.dir, err: (error as Error).message }, 'wal.archived_marker_failed');
      return false;
    }
  }

  /** Remove the marker for `name` if there is one; true when there was. */
  private async removeMarker(name: string): Promise<boolean> {
    if (this.spool === undefined) return false;
    try {
      return await this.spool.remove(name);
    } catch (error) {
      // The marker still describes bytes in the store (and only that very file): left, it is merely not single-use.
      this.log.warn({ name, dir: this.spool.dir, err: (error as Error).message }, 'wal.archived_marker_remove_failed');
      return false;
    }
  }

  /**
   * One pass over pg_wal/<name>: its digest and size, and — when `encode` —
   * its bytes as they are to be stored (compressed or not); otherwise an
   * empty body.
   */
  private async readLocal(name: string, encode: boolean): Promise<LocalFile> {
    const path = join(this.walDir, name);
    const handle = await open(path, 'r');
    try {
      // The identity of the bytes about to be read: what a marker and a kept result vouch for.
      const file = fileIdentityOf(await handle.stat({ bigint: true }));
      const tap = new DigestTap();
      const source = handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES, autoClose: false });
      const chunks: Buffer[] = [];
      const sink = async (stored: AsyncIterable<Buffer>): Promise<void> => {
        for await (const chunk of stored) if (encode) chunks.push(chunk);
      };
      if (encode && this.compression === 'gzip') await pipeline(source, tap, createGzip({ level: this.gzipLevel, memLevel: ZLIB_MEM_LEVEL, chunkSize: ZLIB_CHUNK_BYTES }), sink);
      else await pipeline(source, tap, sink);
      // PostgreSQL never writes a file it marked ready; should anything else, these bytes are not what `file` names.
      const after = fileIdentityOf(await handle.stat({ bigint: true }));
      if (!sameFile(file, after) || BigInt(tap.bytes) !== file.size) throw new Error(`${path} changed while it was read (${identityText(file)} before, ${identityText(after)} after, ${tap.bytes} bytes read)`);
      const meta: WalObjectMeta = { encoding: this.compression === 'gzip' ? 'gzip' : 'identity', sha256: tap.sha256(), size: tap.bytes };
      return { body: Buffer.concat(chunks), meta, file };
    } finally {
      await handle.close();
    }
  }

  /** Throws WalConflictError unless the stored object holds the same uncompressed bytes. */
  private async checkSame(name: string, key: string, existing: ObjectInfo, localSha256: string): Promise<void> {
    const stored = fromStoreMetadata(key, existing.metadata);
    let storedSha256 = stored.sha256;
    if (storedSha256 === undefined) {
      // Written by another tool: look at the content itself.
      const bytes = await this.store.getBuffer(key);
      storedSha256 = sha256Hex(await decodeBuffer(bytes, stored.encoding ?? sniffEncoding(bytes)));
    }
    if (storedSha256 !== localSha256) throw new WalConflictError(name, key, localSha256, storedSha256);
  }

  private noteAnswered(name: string): void {
    this.answered.delete(name);
    this.answered.add(name);
    if (this.answered.size > ANSWERED_MAX) this.answered.delete(this.answered.values().next().value as string);
  }

  private keepFinished(name: string, done: Finished): void {
    this.finished.set(name, done);
    while (this.finished.size > FINISHED_MAX) {
      const oldest = this.finished.keys().next().value as string;
      const evicted = this.finished.get(oldest)!;
      this.finished.delete(oldest);
      // Forgotten here, so it must not confirm anything later either.
      if (evicted.marked) void this.removeMarker(oldest);
    }
  }

  /**
   * A wake-up (the watch, its timer, a request): scan archive_status and
   * start background uploads. One scan at a time; a wake-up during a scan
   * makes one more run after it, so no change goes unseen.
   */
  private startReadAhead(): void {
    if (this.readAhead === 0 || this.closed) return;
    if (this.scanning) {
      this.scanAgain = true;
      return;
    }
    this.scanning = true;
    this.scanAgain = false;
    this.scan()
      .catch((error: unknown) => this.log.debug({ err: (error as Error).message }, 'wal.read_ahead_scan_failed'))
      .finally(() => {
        this.scanning = false;
        if (this.scanAgain) this.startReadAhead();
      });
  }

  /** Forget what PostgreSQL is done with, then upload the first `readAhead` + 1 ready names not yet uploaded, in flight, answered or backing off. */
  private async scan(): Promise<void> {
    const names = await this.readyNames();
    await this.forgetGone(new Set(names));
    const nowMs = performance.now();
    for (const name of names.slice(0, this.readAhead + 1)) {
      if (this.closed) return;
      if (this.inFlight.has(name) || this.finished.has(name) || this.answered.has(name)) continue;
      if ((this.backoff.get(name)?.atMs ?? 0) > nowMs) continue;
      this.startJob(name, false);
    }
  }

  /**
   * Background results whose .ready is gone: PostgreSQL is done with the
   * name without asking the agent. Its marker gone too: the fast path took
   * it (counted). Still there: unused (the .ready went away otherwise) and
   * removed. `ready` was listed after every kept name was seen ready.
   */
  private async forgetGone(ready: ReadonlySet<string>): Promise<void> {
    for (const name of [...this.backoff.keys()]) if (!ready.has(name)) this.backoff.delete(name);
    const gone: string[] = [];
    for (const [name, kept] of this.finished) {
      if (ready.has(name)) continue;
      this.finished.delete(name);
      if (kept.marked) gone.push(name);
    }
    for (const name of gone) {
      if (await this.removeMarker(name)) {
        this.log.debug({ name }, 'wal.archived_marker_unused');
      } else {
        this.counters.markersConsumed += 1;
        this.log.debug({ name }, 'wal.archived_marker_consumed');
      }
    }
  }

  /** Names with a .ready marker, in the order PostgreSQL archives them. */
  private async readyNames(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.statusDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const names: string[] = [];
    for (const entry of entries) {
      if (!entry.endsWith('.ready')) continue;
      const name = entry.slice(0, -'.ready'.length);
      if (isWalFileName(name)) names.push(name);
    }
    return names.sort(compareArchiveOrder);
  }

  private countArchived(name: string, local: LocalFile): void {
    this.counters.archivedFiles += 1;
    this.counters.archivedBytes += local.meta.size;
    this.counters.storedBytes += local.body.length;
    // The newest name, not the last upload to finish: read-ahead uploads in parallel and finishes out of
    // order. WAL file names sort by timeline, then position, as strings (fixed-width upper-case hex).
    const newest = this.counters.lastArchivedName;
    if (newest === null || name > newest) this.counters.lastArchivedName = name;
    this.counters.lastArchivedAtMs = this.nowMs();
  }

  private reportFailure(job: Job, error: PgherdError): void {
    if (!job.requested) {
      const failures = (this.backoff.get(job.name)?.failures ?? 0) + 1;
      const retryMs = Math.min(BACKGROUND_RETRY_MS_MIN * 2 ** (failures - 1), BACKGROUND_RETRY_MS_MAX);
      this.backoff.set(job.name, { failures, atMs: performance.now() + retryMs });
      this.log.debug({ name: job.name, err: error.message, retryMs }, 'wal.read_ahead_failed');
      return;
    }
    this.countFailure(error);
    if (error instanceof WalConflictError) {
      this.counters.conflicts += 1;
      this.log.error({ name: job.name, key: error.key, storedSha256: error.storedSha256, localSha256: error.localSha256 }, 'wal.archive_conflict');
    } else {
      this.log.warn({ name: job.name, err: error.message }, 'wal.archive_failed');
    }
  }

  private countFailure(error: PgherdError): void {
    this.counters.failures += 1;
    this.counters.lastError = error.message;
    this.counters.lastErrorAtMs = this.nowMs();
  }
}

import { randomBytes } from 'node:crypto';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import { formatLsn, type LsnValue } from '../lib/lsn.js';
import type { PgBinaries } from '../postgres/binaries.js';
import type { PgOsUser } from '../postgres/os-user.js';
import { backupManifestKey, backupObjectKey, encodeManifest, formatBackupId, MANIFEST_FORMAT, MANIFEST_VERSION, type BackupManifest } from './backup-manifest.js';
import { BackupError } from './backup-errors.js';
import type { BackupLabel, VerboseStderr } from './basebackup-text.js';
import { MANIFEST_FILE_CHECKSUMS, uploadBaseBackup, type BackupConnection, type UploadResult } from './base-upload.js';
import { readServerFacts, type ServerFacts } from './server-facts.js';
import type { ObjectStore } from './store.js';
import { segmentBeforeLsn, segmentOfLsn, walFilesForRanges, walKey, type WalRange } from './wal-names.js';

export { MANIFEST_FILE_CHECKSUMS, uploadBaseBackup, type BackupConnection, type UploadOptions, type UploadResult } from './base-upload.js';

/*
 * A base backup streamed straight into the object store (DESIGN §7):
 *
 *   pg_basebackup -D - -Ft -X none --checkpoint=fast -v --manifest-checksums=CRC32C
 *     stdout: one tar (single tablespace only; pg_basebackup refuses more
 *     when writing to stdout) with backup_label first and backup_manifest
 *     injected last
 *   → TarPeek (reads backup_label and the manifest's WAL ranges in flight)
 *   → byte counter (dataBytes) → gzip → SHA-256 + byte counter → store.put
 *
 * Nothing is staged on local disk. -X none: the WAL comes from the archive,
 * so before the manifest is written (the commit point) every WAL file from
 * the start segment through the stop segment must be available there.
 *
 * File checksums inside and the streaming: base-upload.ts.
 */

/** How long the WAL a backup needs may take to reach the archive. */
export const WAL_WAIT_TIMEOUT_MS_DEFAULT = 300_000;
export const WAL_POLL_MS_DEFAULT = 1000;
export const COMPRESSION_LEVEL_DEFAULT = 1;
const LABEL_LENGTH_MAX = 200;

export interface TakeBaseBackupOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly store: ObjectStore;
  readonly cluster: string;
  readonly connection: BackupConnection;
  /** The member taking it (recorded as takenOn). */
  readonly takenOn: string;
  /**
   * Whether an archived WAL file (segment or history file name) is in the
   * archive; walInArchive(store, cluster) by default (the WAL archiver's
   * key in the same store). Tests inject their own.
   */
  readonly walAvailable?: (walFileName: string) => Promise<boolean>;
  /** gzip level 0-9; default 1 (fast: the stream must keep up with the disk). */
  readonly compressionLevel?: number;
  /** Free text recorded in the manifest and in backup_label (printable ASCII). */
  readonly label?: string;
  readonly timeoutMs?: number;
  readonly walWaitTimeoutMs?: number;
  readonly walPollMs?: number;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** 6 lower-case hex digits for the id; random by default. */
  readonly idSuffix?: () => string;
  /** How the server's facts are read; readServerFacts (a replication connection) by default. */
  readonly readFacts?: (connection: BackupConnection) => Promise<ServerFacts>;
  /** Aborting stops pg_basebackup and the upload; nothing is committed (BackupError FAILED). */
  readonly signal?: AbortSignal;
}

/** Take a base backup into the store; resolves with its manifest once committed. */
export async function takeBaseBackup(options: TakeBaseBackupOptions): Promise<BackupManifest> {
  const now = options.now ?? ((): Date => new Date());
  const compressionLevel = options.compressionLevel ?? COMPRESSION_LEVEL_DEFAULT;
  const label = options.label ?? '';
  assert(Number.isInteger(compressionLevel) && compressionLevel >= 0 && compressionLevel <= 9, `compressionLevel must be an integer 0-9, got ${compressionLevel}`);
  assert(label.length <= LABEL_LENGTH_MAX && /^[\x20-\x7e]*$/.test(label), `backup label must be at most ${LABEL_LENGTH_MAX} printable ASCII characters`);
  const startedAt = now();
  const started = performance.now();
  const id = formatBackupId(startedAt, (options.idSuffix ?? (() => randomBytes(3).toString('hex')))());
  const objectKey = backupObjectKey(options.cluster, id);
  const manifestKey = backupManifestKey(options.cluster, id);
  const log = (options.log ?? silentLogger).child({ component: 'backup', backupId: id });
  if ((await options.store.head(manifestKey)) !== undefined || (await options.store.head(objectKey)) !== undefined) {
    throw new BackupError('FAILED', `backup ${id} already exists in ${options.store.description}`, { backupId: id, key: objectKey });
  }
  log.info({ cluster: options.cluster, host: options.connection.host, port: options.connection.port, compressionLevel }, 'backup.base_started');
  try {
    const facts = await (options.readFacts ?? readServerFacts)(options.connection).catch((cause: unknown) => {
      throw new BackupError('FAILED', `backup ${id}: cannot read the server's facts from ${options.connection.host}:${options.connection.port}: ${(cause as Error).message}`, { backupId: id, cause });
    });
    const upload = await uploadBaseBackup({ ...options, key: objectKey, backupId: id, compressionLevel, pgLabel: `pgherd ${id}${label === '' ? '' : ` ${label}`}`, log });
    const points = (() => {
      try {
        return reconcileBackupPoints(upload.backupLabel, upload.walRanges, upload.stderr, facts.walSegmentBytes);
      } catch (cause) {
        throw new BackupError('FAILED', `backup ${id}: PostgreSQL's accounts of the backup disagree: ${(cause as Error).message}`, { backupId: id, key: objectKey, cause });
      }
    })();
    log.info({ dataBytes: upload.dataBytes, storedBytes: upload.storedBytes, startLsn: formatLsn(points.startLsn), stopLsn: formatLsn(points.stopLsn), timeline: points.timeline }, 'backup.base_uploaded');
    const walFiles = walFilesForRanges(upload.walRanges, facts.walSegmentBytes);
    const walAvailable = options.walAvailable ?? walInArchive(options.store, options.cluster);
    const missing = await waitForWalFiles(walFiles, walAvailable, options.walWaitTimeoutMs ?? WAL_WAIT_TIMEOUT_MS_DEFAULT, options.walPollMs ?? WAL_POLL_MS_DEFAULT, log, options.signal);
    if (options.signal?.aborted) throw new BackupError('FAILED', `backup ${id}: aborted while waiting for its WAL in the archive: ${String((options.signal.reason as Error | undefined)?.message ?? options.signal.reason)}`, { backupId: id });
    if (missing !== undefined) {
      throw new BackupError('WAL_MISSING', `backup ${id}: WAL file ${missing.walFile} was not archived within ${missing.waitedMs} ms (needs ${walFiles[0]} through ${walFiles.at(-1)})`, { backupId: id, walFile: missing.walFile, key: objectKey, cause: missing.cause });
    }
    const finishedAt = now();
    const manifest = buildManifest({ id, cluster: options.cluster, facts, points, upload, compressionLevel, startedAt, finishedAt, durationMs: Math.round(performance.now() - started), takenOn: options.takenOn, label });
    await options.store.put(manifestKey, Buffer.from(encodeManifest(manifest)), { metadata: { 'backup-id': id } }).catch((cause: unknown) => {
      throw new BackupError('FAILED', `backup ${id}: writing ${manifestKey} to ${options.store.description} failed: ${(cause as Error).message}`, { backupId: id, key: manifestKey, cause });
    });
    log.info({ durationMs: manifest.durationMs, dataBytes: manifest.dataBytes, storedBytes: manifest.storedBytes, walFiles: walFiles.length }, 'backup.base_done');
    return manifest;
  } catch (error) {
    await options.store.delete([manifestKey, objectKey]).catch((cause: unknown) => log.warn({ err: (cause as Error).message, objectKey }, 'backup.base_cleanup_failed'));
    log.error({ code: (error as { code?: string }).code, err: (error as Error).message }, 'backup.base_failed');
    throw error;
  }
}

export interface BackupPoints {
  readonly timeline: number;
  readonly stopTimeline: number;
  readonly startLsn: LsnValue;
  readonly stopLsn: LsnValue;
}

/**
 * The start and stop of a backup from backup_label and the manifest's WAL
 * ranges, checked against each other, against pg_basebackup's -v lines
 * (when present) and against the segment size (backup_label names its start
 * file). Throws describing the first disagreement. Pure.
 */
export function reconcileBackupPoints(label: BackupLabel, ranges: readonly WalRange[], stderr: VerboseStderr, walSegmentBytes: number): BackupPoints {
  const first = ranges[0];
  const last = ranges.at(-1);
  assert(first !== undefined && last !== undefined, 'a backup has at least one WAL range');
  const disagree = (what: string, a: string, b: string): never => {
    throw new Error(`${what}: ${a} vs ${b}`);
  };
  if (first.timeline !== label.startTimeline) disagree('start timeline (backup_label vs backup_manifest)', String(label.startTimeline), String(first.timeline));
  if (first.startLsn !== label.startLsn) disagree('start LSN (backup_label vs backup_manifest)', formatLsn(label.startLsn), formatLsn(first.startLsn));
  const startFile = segmentOfLsn(label.startLsn, label.startTimeline, walSegmentBytes);
  if (startFile !== label.startWalFile) disagree(`start WAL file (backup_label vs computed with wal_segment_size ${walSegmentBytes})`, label.startWalFile, startFile);
  if (stderr.startLsn !== undefined && stderr.startLsn !== label.startLsn) disagree('start LSN (pg_basebackup -v vs backup_label)', formatLsn(stderr.startLsn), formatLsn(label.startLsn));
  if (stderr.startTimeline !== undefined && stderr.startTimeline !== label.startTimeline) disagree('start timeline (pg_basebackup -v vs backup_label)', String(stderr.startTimeline), String(label.startTimeline));
  if (stderr.endLsn !== undefined && stderr.endLsn !== last.endLsn) disagree('end LSN (pg_basebackup -v vs backup_manifest)', formatLsn(stderr.endLsn), formatLsn(last.endLsn));
  if (last.endLsn <= label.startLsn) disagree('end LSN is not after start LSN', formatLsn(last.endLsn), formatLsn(label.startLsn));
  return { timeline: label.startTimeline, stopTimeline: last.timeline, startLsn: label.startLsn, stopLsn: last.endLsn };
}

function buildManifest(p: {
  id: string;
  cluster: string;
  facts: ServerFacts;
  points: BackupPoints;
  upload: UploadResult;
  compressionLevel: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  takenOn: string;
  label: string;
}): BackupManifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    id: p.id,
    cluster: p.cluster,
    systemIdentifier: p.facts.systemIdentifier,
    pgVersion: p.facts.pgVersion,
    timeline: p.points.timeline,
    stopTimeline: p.points.stopTimeline,
    startLsn: formatLsn(p.points.startLsn),
    stopLsn: formatLsn(p.points.stopLsn),
    startWalFile: segmentOfLsn(p.points.startLsn, p.points.timeline, p.facts.walSegmentBytes),
    stopWalFile: segmentBeforeLsn(p.points.stopLsn, p.points.stopTimeline, p.facts.walSegmentBytes),
    walSegmentBytes: p.facts.walSegmentBytes,
    dataBytes: p.upload.dataBytes,
    storedBytes: p.upload.storedBytes,
    sha256: p.upload.sha256,
    compression: { algorithm: 'gzip', level: p.compressionLevel },
    fileChecksums: MANIFEST_FILE_CHECKSUMS,
    startedAt: p.startedAt.toISOString(),
    finishedAt: p.finishedAt.toISOString(),
    durationMs: p.durationMs,
    takenOn: p.takenOn,
    label: p.label,
  };
}

/**
 * The production `walAvailable`: whether the WAL archive in `store` holds
 * `walFileName`, by a head() of walKey(cluster, walFileName), the key the WAL
 * archiver writes it under whatever its encoding. A store failure rejects
 * (waitForWalFiles retries it until its deadline).
 */
export function walInArchive(store: ObjectStore, cluster: string): (walFileName: string) => Promise<boolean> {
  return async (walFileName) => (await store.head(walKey(cluster, walFileName))) !== undefined;
}

/**
 * Poll `walAvailable` for each file in order until it answers true; the
 * first file still missing at the deadline is returned (with the last error
 * of the check, if it threw). undefined when all are there.
 */
export async function waitForWalFiles(
  files: readonly string[],
  walAvailable: (walFileName: string) => Promise<boolean>,
  timeoutMs: number,
  pollMs: number,
  log: Logger = silentLogger,
  signal?: AbortSignal,
): Promise<{ walFile: string; waitedMs: number; cause?: unknown } | undefined> {
  assert(timeoutMs >= 0 && pollMs > 0, 'WAL wait timeout must not be negative and the poll interval positive');
  const started = performance.now();
  for (const walFile of files) {
    let lastError: unknown;
    for (let polls = 0; ; polls++) {
      if (signal?.aborted) return undefined;
      try {
        if (await walAvailable(walFile)) break;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      const waitedMs = Math.round(performance.now() - started);
      if (waitedMs >= timeoutMs) return { walFile, waitedMs, ...(lastError === undefined ? {} : { cause: lastError }) };
      if (polls === 0) log.info({ walFile, error: lastError === undefined ? undefined : (lastError as Error).message }, 'backup.base_wal_waiting');
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, timeoutMs - waitedMs)));
    }
  }
  return undefined;
}

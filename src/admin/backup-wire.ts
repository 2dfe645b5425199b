import type { BackupManifest } from '../backup/backup-manifest.js';
import type { BackupRun } from '../cluster/state.js';
import { formatTime } from './time.js';

/*
 * CreateBackup and ListBackups on the wire (proto/admin.proto, Backups) and
 * as the client sees them. Pure.
 */

/** How long CreateBackup waits for the backup when the request does not say, and at most. */
export const BACKUP_WAIT_MS_DEFAULT = 6 * 3_600_000;
export const BACKUP_WAIT_MS_MAX = 24 * 3_600_000;

export interface WireCreateBackupRequest {
  label: string;
  member: string;
  timeout_ms: number;
  no_wait: boolean;
  requested_by: string;
}

export interface WireBackupRun {
  id: string;
  trigger: string;
  by: string;
  label: string;
  member: string;
  status: string;
  taken_by: string;
  requested_at: string;
  started_at: string;
  heartbeat_at: string;
  finished_at: string;
  backup_id: string;
  detail: string;
}

export interface WireBackupRunResponse {
  run: WireBackupRun | null;
  message: string;
}

export type WireListBackupsRequest = Record<string, never>;

export interface WireStoredBackup {
  id: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  timeline: number;
  start_lsn: string;
  stop_lsn: string;
  start_wal_file: string;
  data_bytes: number;
  stored_bytes: number;
  pg_version: number;
  taken_on: string;
  label: string;
}

export interface WireUnusableBackup {
  id: string;
  reason: string;
}

export interface WireListBackupsResponse {
  backups: WireStoredBackup[];
  unusable: WireUnusableBackup[];
  current: WireBackupRun | null;
  last: WireBackupRun | null;
  schedule: string;
  next_scheduled_at: string;
  taker: string;
  keep_count: number;
  keep_days: number;
  store: string;
}

/** A run as the client sees it: times as RFC 3339 text, null for none. */
export interface BackupRunView {
  readonly id: string;
  readonly trigger: string;
  readonly by: string;
  readonly label: string;
  readonly member: string | null;
  readonly status: string;
  readonly takenBy: string | null;
  readonly requestedAt: string;
  readonly startedAt: string | null;
  readonly heartbeatAt: string | null;
  readonly finishedAt: string | null;
  readonly backupId: string | null;
  readonly detail: string | null;
}

export interface BackupRunResult {
  readonly run: BackupRunView | null;
  readonly message: string;
}

export interface StoredBackupView {
  readonly id: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly timeline: number;
  readonly startLsn: string;
  readonly stopLsn: string;
  readonly startWalFile: string;
  readonly dataBytes: number;
  readonly storedBytes: number;
  readonly pgVersion: number;
  readonly takenOn: string;
  readonly label: string;
}

export interface BackupListResult {
  readonly backups: readonly StoredBackupView[];
  readonly unusable: readonly { readonly id: string; readonly reason: string }[];
  readonly current: BackupRunView | null;
  readonly last: BackupRunView | null;
  readonly schedule: string;
  readonly nextScheduledAt: string | null;
  readonly taker: string | null;
  readonly keepCount: number;
  readonly keepDays: number;
  readonly store: string;
}

export function backupRunWire(run: BackupRun): WireBackupRun {
  return {
    id: run.id,
    trigger: run.trigger,
    by: run.by,
    label: run.label,
    member: run.member ?? '',
    status: run.status,
    taken_by: run.takenBy ?? '',
    requested_at: formatTime(run.requestedAtMs),
    started_at: formatTime(run.startedAtMs),
    heartbeat_at: formatTime(run.heartbeatAtMs),
    finished_at: formatTime(run.finishedAtMs),
    backup_id: run.backupId ?? '',
    detail: run.detail,
  };
}

export function storedBackupWire(m: BackupManifest): WireStoredBackup {
  return {
    id: m.id,
    started_at: m.startedAt,
    finished_at: m.finishedAt,
    duration_ms: m.durationMs,
    timeline: m.timeline,
    start_lsn: m.startLsn,
    stop_lsn: m.stopLsn,
    start_wal_file: m.startWalFile,
    data_bytes: m.dataBytes,
    stored_bytes: m.storedBytes,
    pg_version: m.pgVersion,
    taken_on: m.takenOn,
    label: m.label,
  };
}

const text = (value: string): string | null => (value === '' ? null : value);

export function decodeBackupRun(w: WireBackupRun | null): BackupRunView | null {
  if (w === null) return null;
  return {
    id: w.id,
    trigger: w.trigger,
    by: w.by,
    label: w.label,
    member: text(w.member),
    status: w.status,
    takenBy: text(w.taken_by),
    requestedAt: w.requested_at,
    startedAt: text(w.started_at),
    heartbeatAt: text(w.heartbeat_at),
    finishedAt: text(w.finished_at),
    backupId: text(w.backup_id),
    detail: text(w.detail),
  };
}

export function decodeBackupList(w: WireListBackupsResponse): BackupListResult {
  return {
    backups: w.backups.map((b) => ({
      id: b.id,
      startedAt: b.started_at,
      finishedAt: b.finished_at,
      durationMs: b.duration_ms,
      timeline: b.timeline,
      startLsn: b.start_lsn,
      stopLsn: b.stop_lsn,
      startWalFile: b.start_wal_file,
      dataBytes: b.data_bytes,
      storedBytes: b.stored_bytes,
      pgVersion: b.pg_version,
      takenOn: b.taken_on,
      label: b.label,
    })),
    unusable: w.unusable.map((u) => ({ id: u.id, reason: u.reason })),
    current: decodeBackupRun(w.current),
    last: decodeBackupRun(w.last),
    schedule: w.schedule,
    nextScheduledAt: text(w.next_scheduled_at),
    taker: text(w.taker),
    keepCount: w.keep_count,
    keepDays: w.keep_days,
    store: w.store,
  };
}

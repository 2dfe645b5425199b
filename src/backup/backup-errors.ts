import { PgherdError } from '../lib/errors.js';

/*
 * Errors of base backups (take, list, restore). Codes are API
 * (PGHERD_BACKUP_*); callers branch on `code` or `reason`, never on the
 * message. Store failures stay StoreError (store.ts) unless they happen
 * inside a step whose failure has its own meaning here.
 */

export type BackupErrorReason =
  /** A manifest is bad, the stored object does not match it, or pg_verifybackup refused the restored files. */
  | 'INVALID'
  /** Taking the backup failed (pg_basebackup, the server's facts, the upload). Nothing usable was left behind. */
  | 'FAILED'
  /** The WAL a backup needs was not archived within the deadline. */
  | 'WAL_MISSING'
  /** No complete backup with this id (no manifest). */
  | 'NOT_FOUND'
  /** Restoring failed for a reason other than the backup itself (tar, disk). The target directory was emptied. */
  | 'RESTORE_FAILED'
  /**
   * Restoring a cluster (bootstrap.method restore) found nothing it may restore: no backup for the
   * name, backups of two database systems, a recovery target before every backup or past the
   * archive's end. Retrying the same thing cannot help; the data directory is left empty.
   */
  | 'RESTORE_REFUSED';

export interface BackupErrorDetails {
  readonly backupId?: string;
  /** The store key concerned (object or manifest). */
  readonly key?: string;
  /** WAL_MISSING: the first WAL file that never became available. */
  readonly walFile?: string;
  /** INVALID (digest mismatch): the manifest's and the stored object's SHA-256. */
  readonly expectedSha256?: string;
  readonly actualSha256?: string;
  /** FAILED / INVALID from a tool: the tool's last output. */
  readonly stderrTail?: string;
  readonly cause?: unknown;
}

export class BackupError extends PgherdError {
  readonly reason: BackupErrorReason;
  readonly backupId: string | undefined;
  readonly key: string | undefined;
  readonly walFile: string | undefined;
  readonly expectedSha256: string | undefined;
  readonly actualSha256: string | undefined;
  readonly stderrTail: string | undefined;

  constructor(reason: BackupErrorReason, message: string, details: BackupErrorDetails = {}) {
    super(`PGHERD_BACKUP_${reason}`, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.backupId = details.backupId;
    this.key = details.key;
    this.walFile = details.walFile;
    this.expectedSha256 = details.expectedSha256;
    this.actualSha256 = details.actualSha256;
    this.stderrTail = details.stderrTail;
  }
}

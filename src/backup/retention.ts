import { assert } from '../lib/assert.js';
import { parseLsn } from '../lib/lsn.js';
import type { BackupManifest } from './backup-manifest.js';
import { parseSegmentName, segmentOfWalFile } from './wal-names.js';

/*
 * Retention of base backups and of the WAL behind them. Pure.
 *
 * The rule ("retention full" by count and by age, as pgBackRest's
 * repo-retention-full with a time window and wal-g's `delete retain FULL n`
 * combined with `--after`):
 *
 *   keep a complete backup when ANY of these holds, delete it otherwise:
 *   1. it is one of the newest `keepCount` (keepCount >= 1, so the newest
 *      complete backup is never deleted);
 *   2. keepDays > 0 and it finished within the last keepDays;
 *   3. keepDays > 0 and it is the newest backup that finished BEFORE that
 *      window: the base that point-in-time recovery to the very start of the
 *      window needs (a backup can recover only to points after it finished).
 *
 * So "keepCount 2, keepDays 7" means: any point in time of the last 7 days
 * stays restorable, and at least the 2 newest backups stay however old
 * they are. keepDays 0 is count-only.
 *
 * WAL: archived WAL older than the oldest kept backup's start segment is
 * useless (no kept backup can replay it) and may be pruned; see isWalPrunable
 * (with that backup's walSegmentBytes: the segment number in a name depends
 * on it).
 */

export const DAY_MS = 86_400_000;

export type RetentionReason = 'newest' | 'within_window' | 'window_anchor' | 'expired';

export interface RetentionPlan {
  /** Newest first. */
  readonly keep: readonly BackupManifest[];
  /** Newest first. */
  readonly delete: readonly BackupManifest[];
  /** Why each backup (by id) is kept or deleted. */
  readonly reasons: Readonly<Record<string, RetentionReason>>;
}

/** Complete backups in replay order: by start LSN, then id (a time). */
export function sortBackups(backups: readonly BackupManifest[]): BackupManifest[] {
  return [...backups].sort((a, b) => {
    const x = parseLsn(a.startLsn);
    const y = parseLsn(b.startLsn);
    return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

export function planRetention(input: { backups: readonly BackupManifest[]; keepCount: number; keepDays: number; now: Date }): RetentionPlan {
  assert(Number.isInteger(input.keepCount) && input.keepCount >= 1, `keepCount must be an integer >= 1 (the newest backup is never deleted), got ${input.keepCount}`);
  assert(Number.isFinite(input.keepDays) && input.keepDays >= 0, `keepDays must be >= 0, got ${input.keepDays}`);
  const newestFirst = sortBackups(input.backups).reverse();
  const windowStartMs = input.now.getTime() - input.keepDays * DAY_MS;
  const reasons: Record<string, RetentionReason> = {};
  let anchored = false;
  for (const [index, backup] of newestFirst.entries()) {
    const finishedMs = Date.parse(backup.finishedAt);
    let reason: RetentionReason = 'expired';
    if (index < input.keepCount) reason = 'newest';
    else if (input.keepDays > 0 && finishedMs >= windowStartMs) reason = 'within_window';
    else if (input.keepDays > 0 && !anchored) reason = 'window_anchor';
    // The anchor is the newest backup that finished before the window, whatever kept it.
    if (input.keepDays > 0 && finishedMs < windowStartMs) anchored = true;
    reasons[backup.id] = reason;
  }
  return {
    keep: newestFirst.filter((b) => reasons[b.id] !== 'expired'),
    delete: newestFirst.filter((b) => reasons[b.id] === 'expired'),
    reasons,
  };
}

/** The WAL file name below which archived WAL is prunable: the oldest kept backup's start segment. */
export function walPruneBefore(oldestKept: BackupManifest): string {
  return oldestKept.startWalFile;
}

/**
 * Whether the archived WAL file `name` (the name under the archive's prefix,
 * wal-names.ts) may be deleted given `pruneBefore` (from walPruneBefore) and
 * the cluster's segment size. Throws RangeError unless `pruneBefore` is a
 * segment name of that size. The rule:
 * - timeline history files: never (recovery needs every one to follow timelines);
 * - segments (also .partial and .backup files) of the same or an older
 *   timeline whose segment number is below the boundary's: yes;
 * - segments of a newer timeline: no, whatever their number (they can only
 *   predate the boundary through a branch this rule cannot judge; a later
 *   backup on that timeline moves the boundary past them);
 * - anything that is not a WAL file name with this segment size: no.
 */
export function isWalPrunable(name: string, pruneBefore: string, walSegmentBytes: number): boolean {
  const boundary = parseSegmentName(pruneBefore, walSegmentBytes);
  const file = segmentOfWalFile(name, walSegmentBytes);
  if (file === undefined) return false;
  return file.timeline <= boundary.timeline && file.segment < boundary.segment;
}

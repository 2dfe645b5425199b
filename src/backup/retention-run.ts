import type { Logger } from '../lib/logger.js';
import { archivedWalNames, deleteBackup, listBackups } from './backup-catalog.js';
import { isWalPrunable, planRetention, walPruneBefore } from './retention.js';
import type { ObjectStore } from './store.js';
import { walKey } from './wal-names.js';

/** Keys deleted per store call (S3's DeleteObjects takes at most 1000). */
const DELETE_BATCH = 1000;

export interface RetentionOutcome {
  /** Backup ids deleted, oldest first. */
  readonly deletedBackups: readonly string[];
  readonly keptBackups: number;
  /** Archived WAL files deleted (behind the oldest kept backup). */
  readonly prunedWalFiles: number;
  /** The oldest WAL file name kept (the oldest kept backup's start segment); null when there is no backup. */
  readonly walKeptFrom: string | null;
}

/**
 * Apply the retention rule (retention.ts) to the store: delete the expired
 * backups (each manifest first, so a half-deleted backup is never used),
 * then the archived WAL behind the oldest kept backup's start. Timeline
 * history files are never deleted. With no complete backup nothing is
 * deleted at all: the archive is all there is.
 */
export async function applyRetention(options: { store: ObjectStore; cluster: string; keepCount: number; keepDays: number; now: Date; log: Logger }): Promise<RetentionOutcome> {
  const { store, cluster, log } = options;
  const catalog = await listBackups(store, cluster);
  const plan = planRetention({ backups: catalog.backups, keepCount: options.keepCount, keepDays: options.keepDays, now: options.now });
  const deleted = [...plan.delete].reverse();
  for (const backup of deleted) {
    await deleteBackup(store, cluster, backup.id);
    log.info({ backupId: backup.id, finishedAt: backup.finishedAt, keepCount: options.keepCount, keepDays: options.keepDays }, 'backup.retention_deleted');
  }
  const oldestKept = plan.keep.at(-1);
  if (oldestKept === undefined) return { deletedBackups: [], keptBackups: 0, prunedWalFiles: 0, walKeptFrom: null };
  const before = walPruneBefore(oldestKept);
  // Listed in full before deleting: a store's listing is not asked to survive deletes under it.
  const prunable = (await archivedWalNames(store, cluster)).filter((name) => isWalPrunable(name, before, oldestKept.walSegmentBytes)).map((name) => walKey(cluster, name));
  for (let start = 0; start < prunable.length; start += DELETE_BATCH) await store.delete(prunable.slice(start, start + DELETE_BATCH));
  const pruned = prunable.length;
  if (pruned > 0) log.info({ prunedWalFiles: pruned, keptFrom: before, oldestKeptBackup: oldestKept.id }, 'backup.wal_pruned');
  return { deletedBackups: deleted.map((b) => b.id), keptBackups: plan.keep.length, prunedWalFiles: pruned, walKeptFrom: before };
}

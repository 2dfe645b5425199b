/**
 * `--store local`: the nodes archive WAL into one local store (a directory
 * every host sees, under the run's cluster directory), a base backup is
 * taken before the first fault, and after the final heal the archive must
 * hold every WAL file a restore of that backup to the final primary's end
 * needs, along the final timeline's history (check (e), archiveHoles).
 * Failovers are where an archive gets its holes: segments the old primary
 * completed but had not archived when it died.
 */
import { join } from 'node:path';
import { archivedWalNames } from '../src/backup/backup-catalog.js';
import { parseShowBytes } from '../src/backup/server-facts.js';
import { LocalStore } from '../src/backup/store-local.js';
import { parseTimelineHistory, timelineRanges } from '../src/backup/timeline-history.js';
import { timelineHistoryName, walFilesForRanges } from '../src/backup/wal-names.js';
import { parseLsn } from '../src/lib/lsn.js';
import type { AgentCluster } from '../scripts/lib/agent-cluster.js';
import { archiveHoles } from './checkers.js';
import type { ArchiveCheck } from './history.js';

export type StoreKind = 'none' | 'local';
export const STORE_KINDS: readonly StoreKind[] = ['none', 'local'];

/** The agents' cluster_name (scripts/lib/agent-cluster.ts): the store's key prefix. */
const CLUSTER_NAME = 'demo';
/** How long the final primary's last segment may take to reach the store after its switch. */
const ARCHIVE_SETTLE_MS = 60_000;
const BACKUP_TIMEOUT_MS = 120_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Where the run's store lives: inside the cluster directory, which every backend shares with its hosts. */
export function storeDir(clusterDir: string): string {
  return join(clusterDir, 'store');
}

/** The agent configuration that archives into the run's store (merged into every node's, replacements included). */
export function storeConfig(clusterDir: string): Record<string, unknown> {
  return { backup: { store: { kind: 'local', path: storeDir(clusterDir) } } };
}

export interface FirstBackup {
  readonly id: string;
  readonly startLsn: string;
}

/** A base backup through the admin API, as `pgherdctl backup create` takes one; it is where the archive check starts. */
export async function takeFirstBackup(cluster: AgentCluster, via: string): Promise<FirstBackup> {
  const admin = await cluster.admin(via);
  try {
    const taken = await admin.createBackup({ timeoutMs: BACKUP_TIMEOUT_MS, by: 'chaos' });
    if (taken.run?.status !== 'done' || taken.run.backupId === null) throw new Error(`the first base backup failed: ${taken.message}`);
    const manifest = (await admin.listBackups()).backups.find((b) => b.id === taken.run!.backupId);
    if (manifest === undefined) throw new Error(`backup ${taken.run.backupId} is not listed`);
    return { id: manifest.id, startLsn: manifest.startLsn };
  } finally {
    admin.close();
  }
}

export type Query = (sql: string) => Promise<Record<string, unknown>[]>;

/**
 * (e) Switch the final primary's WAL, then wait (up to ARCHIVE_SETTLE_MS)
 * until the store holds every file from the first backup's start to the
 * switch along the final timeline's history; what is still missing then
 * is the finding.
 */
export async function checkArchive(clusterDir: string, backup: FirstBackup, onPrimary: Query): Promise<ArchiveCheck> {
  const [ended] = await onPrimary('SELECT pg_switch_wal()::text AS end_lsn');
  const [current] = await onPrimary('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS timeline');
  const [segment] = await onPrimary('SHOW wal_segment_size');
  const endLsn = String(ended!['end_lsn']);
  const segmentBytes = parseShowBytes(String(segment!['wal_segment_size']));
  const timeline = parseInt(String(current!['timeline']), 16);
  const history = timeline === 1 ? '' : String((await onPrimary(`SELECT pg_read_file('pg_wal/${timelineHistoryName(timeline)}') AS text`))[0]!['text']);
  const needed = walFilesForRanges(timelineRanges(parseTimelineHistory(history), timeline, parseLsn(backup.startLsn), parseLsn(endLsn)), segmentBytes);

  const store = new LocalStore(storeDir(clusterDir));
  try {
    const deadline = performance.now() + ARCHIVE_SETTLE_MS;
    for (;;) {
      const missing = archiveHoles(needed, new Set(await archivedWalNames(store, CLUSTER_NAME)));
      if (missing.length === 0 || performance.now() >= deadline) {
        return { backupId: backup.id, fromLsn: backup.startLsn, toLsn: endLsn, timeline, needed: needed.length, missing };
      }
      await sleep(1_000);
    }
  } finally {
    await store.close();
  }
}

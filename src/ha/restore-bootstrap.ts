import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listBackups } from '../backup/backup-catalog.js';
import { BackupError } from '../backup/backup-errors.js';
import { formatRecoveryTargetTime, restoreBaseBackup } from '../backup/restore-backup.js';
import { chooseRestoreBackup, type RestoreRequest } from '../backup/restore-choice.js';
import type { ObjectStore } from '../backup/store.js';
import type { Logger } from '../lib/logger.js';
import { buildServerArgs, scrubAutoConf, type ServerSettings } from '../postgres/conf.js';
import { inspectDataDir, readControlData, wasPrimary } from '../postgres/controldata.js';
import { PgStartFailedError } from '../postgres/errors.js';
import { writeHba, type HbaSpec } from '../postgres/initdb.js';
import type { PgBinaries, PgOsUser, PostgresController } from '../postgres/index.js';
import { setSuperuserPasswordOffline } from '../postgres/single-user.js';
import { withConnection, type LocalConnection } from '../postgres/sql.js';

/*
 * A new cluster from the store (bootstrap.method restore, issue 5): the
 * member that won the initialization claim restores a base backup of this
 * cluster_name instead of running initdb, replays the archived WAL (to its
 * end, or to recovery_target_time) and promotes on a new timeline. Then it
 * is what initdb would have left: this cluster's passwords (the restored
 * roles carry the source's), pgherd's pg_hba.conf for this cluster's
 * members (the restored one is the source's), no synchronous_standby_names
 * of the source's standbys. The executor records the system identifier,
 * the credentials and where the data came from (initializeDone); the other
 * members clone from it as usual, slot first.
 *
 * Nothing of anyone else is overwritten:
 *  - the backup is chosen (restore-choice.ts) and recorded in a marker file
 *    in the agent's data_dir (restore-pending.json) before the data
 *    directory, empty until then, is touched; from then on what is in it is
 *    this restore's, and a failure (or an agent that died half-way) empties
 *    it and starts over;
 *  - refusals (no backup for the name, two database systems under it, a
 *    target before every backup or past the archive's end, data whose
 *    system identifier is not the manifest's) are BackupError
 *    RESTORE_REFUSED, with the data directory left empty;
 *  - the restored primary archives only under new names: PostgreSQL picks a
 *    timeline one past the newest history file in the archive, so its
 *    history file and segments are new; the segments it replayed came from
 *    the archive and are marked done, not ready (archive_mode on); the
 *    backup holds no WAL (pg_basebackup -X none), so no segment of an older
 *    timeline waits to be archived with other contents than the stored one.
 */

/** The marker in the agent's data_dir (beside initialize-credentials.json). */
export const RESTORE_PENDING_FILE = 'restore-pending.json';
/**
 * Archive recovery ends by itself (restore_command answers "missing" at the
 * end of the archive, or the target is reached); this only bounds a hung
 * restore_command or a huge archive.
 */
export const RECOVERY_TIMEOUT_MS_DEFAULT = 6 * 3_600_000;
const POLL_MS = 250;
/** The source's standbys: a restored primary would wait for them on every commit. */
const SOURCE_ONLY_SETTINGS = ['synchronous_standby_names'];
const TARGET_NOT_REACHED = /recovery ended before configured recovery target was reached/;

/** What the claimant chose before it touched the data directory. */
export interface PendingRestore {
  readonly backupId: string;
  readonly systemIdentifier: string;
  /** The backup's stop timeline: the restored database must come up on a later one. */
  readonly backupTimeline: number;
  /** recovery_target_time (wall-clock ms), or null: to the end of the archive. */
  readonly targetTimeMs: number | null;
  readonly startedAtMs: number;
}

export interface RestoredCluster {
  readonly backupId: string;
  readonly systemIdentifier: string;
  /** The new timeline the restored primary runs on. */
  readonly timeline: number;
  readonly targetTimeMs: number | null;
}

export interface ClusterRestoreDeps {
  /** This node's store; undefined when none is configured (the configuration refuses that with method restore). */
  readonly store: ObjectStore | undefined;
  readonly cluster: string;
  /** The agent-served restore_command. */
  readonly restoreCommand: string | undefined;
  readonly request: RestoreRequest;
  /** Backups that failed verification on this node (id → why): not chosen again. */
  readonly skip: ReadonlyMap<string, string>;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly dataDir: string;
  /** <data_dir>/restore-pending.json */
  readonly pendingFile: string;
  /** Connects as the superuser with this cluster's (new) password. */
  readonly controller: () => PostgresController;
  /** This node's settings as a primary. */
  readonly serverSettings: () => ServerSettings;
  /** pg_hba.conf as initdb writes it for this cluster. */
  readonly hba: HbaSpec;
  readonly superuserPassword: string;
  readonly connection: () => Promise<LocalConnection>;
  readonly wallNow: () => number;
  readonly log: Logger;
  readonly recoveryTimeoutMs?: number;
}

export async function restoreClusterFromBackup(deps: ClusterRestoreDeps): Promise<RestoredCluster> {
  if (deps.store === undefined || deps.restoreCommand === undefined) {
    throw new BackupError('RESTORE_REFUSED', 'bootstrap.method is restore but this node has no backup store (backup.store.kind none): nothing to restore from');
  }
  let pending = await readPendingRestore(deps.pendingFile);
  try {
    if (pending === null || !(await isPromotedRestore(deps, pending))) pending = await restoreAndRecover(deps, deps.store, deps.restoreCommand, pending);
    return await takeOver(deps, pending);
  } catch (error) {
    // Once the marker exists, the data directory holds this restore's files only: empty it for the next attempt.
    if (pending !== null || (await readPendingRestore(deps.pendingFile)) !== null) await abandon(deps, error);
    throw error;
  }
}

/** The marker, or null when no restore was started (or it was abandoned). */
export async function readPendingRestore(file: string): Promise<PendingRestore | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as PendingRestore;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function removePendingRestore(file: string): Promise<void> {
  await rm(file, { force: true });
}

async function writePendingRestore(file: string, pending: PendingRestore): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(pending), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Choose the backup (or refuse), write the marker, restore it (verified) and run archive recovery
 * until it promotes. An earlier attempt that did not get as far as a promotion (the agent died, or
 * the server did) is emptied first and chosen again, with the configuration as it is now.
 */
async function restoreAndRecover(deps: ClusterRestoreDeps, store: ObjectStore, restoreCommand: string, resumed: PendingRestore | null): Promise<PendingRestore> {
  if (resumed !== null) {
    deps.log.warn({ backupId: resumed.backupId, startedAt: new Date(resumed.startedAtMs).toISOString() }, 'ha.restore_resumed');
    await emptyDataDir(deps);
  }
  const inspected = await inspectDataDir(deps.binaries, deps.osUser, deps.dataDir);
  if (inspected.kind !== 'missing' && inspected.kind !== 'empty') {
    throw new BackupError('RESTORE_REFUSED', `the data directory ${deps.dataDir} is not empty (${inspected.kind}) and holds no restore of this node's: it is never overwritten; move it away`);
  }
  const pending = await choose(deps, store);
  await writePendingRestore(deps.pendingFile, pending);
  const targetTime = pending.targetTimeMs === null ? undefined : new Date(pending.targetTimeMs);
  const restored = await restoreBaseBackup({
    store,
    cluster: deps.cluster,
    backupId: pending.backupId,
    targetDir: deps.dataDir,
    binaries: deps.binaries,
    osUser: deps.osUser,
    restoreCommand,
    mode: 'recovery',
    ...(targetTime === undefined ? {} : { targetTime }),
    log: deps.log,
  });
  const control = await readControlData(deps.binaries, deps.osUser, deps.dataDir);
  if (control.systemIdentifier !== pending.systemIdentifier || restored.manifest.systemIdentifier !== pending.systemIdentifier) {
    throw new BackupError(
      'RESTORE_REFUSED',
      `backup ${pending.backupId}: the restored data belongs to database system ${control.systemIdentifier}, its manifest says ${restored.manifest.systemIdentifier} (chosen as ${pending.systemIdentifier}): not this cluster's backup`,
      { backupId: pending.backupId },
    );
  }
  await scrubAutoConf(deps.dataDir, SOURCE_ONLY_SETTINGS);
  await writeHba(deps.dataDir, deps.osUser, deps.hba);
  await recover(deps, pending, { ...restored.recoveryParameters, recovery_target_timeline: 'latest' });
  return pending;
}

async function choose(deps: ClusterRestoreDeps, store: ObjectStore): Promise<PendingRestore> {
  const catalog = await listBackups(store, deps.cluster);
  const usable = { ...catalog, backups: catalog.backups.filter((b) => !deps.skip.has(b.id)), invalid: [...catalog.invalid, ...[...deps.skip].map(([id, reason]) => ({ id, key: id, reason }))] };
  const choice = chooseRestoreBackup(usable, deps.request, { cluster: deps.cluster, store: store.description, nowMs: deps.wallNow() });
  if (!choice.ok) throw new BackupError('RESTORE_REFUSED', choice.detail);
  const backup = choice.backup;
  const targetTimeMs = deps.request.targetTime?.getTime() ?? null;
  deps.log.info(
    { backupId: backup.id, reason: choice.reason, recoveryTargetTime: deps.request.targetTime?.toISOString() ?? null, timeline: backup.stopTimeline, systemIdentifier: backup.systemIdentifier, dataBytes: backup.dataBytes },
    'ha.restore_backup_chosen',
  );
  return { backupId: backup.id, systemIdentifier: backup.systemIdentifier, backupTimeline: backup.stopTimeline, targetTimeMs, startedAtMs: deps.wallNow() };
}

/**
 * Start the restored data in archive recovery and wait until it has promoted, or say why it stopped.
 * Promoted: recovery.signal gone and pg_control "in production" (it says "in archive recovery" from
 * the start of recovery on). Not the pid file's status: "ready" is written as soon as a hot standby
 * accepts read-only connections.
 */
async function recover(deps: ClusterRestoreDeps, pending: PendingRestore, recovery: Readonly<Record<string, string>>): Promise<void> {
  const controller = deps.controller();
  const timeoutMs = deps.recoveryTimeoutMs ?? RECOVERY_TIMEOUT_MS_DEFAULT;
  const logOffset = (await stat(controller.logFile).catch(() => undefined))?.size ?? 0;
  const started = performance.now();
  deps.log.info({ backupId: pending.backupId, recoveryTargetTime: recovery.recovery_target_time ?? null }, 'ha.restore_recovery_started');
  try {
    // Returns once the server is consistent (it then serves read-only queries) or has promoted already.
    await controller.start({ ...deps.serverSettings(), recovery }, 'recovery', timeoutMs);
  } catch (error) {
    if (error instanceof PgStartFailedError) throw recoveryStopped(deps, pending, error.logTail);
    throw error;
  }
  for (;;) {
    const status = await controller.status();
    if (!status.running) throw recoveryStopped(deps, pending, await controller.readLogTail(logOffset));
    if (await promoted(deps)) break;
    if (performance.now() - started > timeoutMs) {
      throw new BackupError('RESTORE_FAILED', `archive recovery of backup ${pending.backupId} did not end within ${timeoutMs} ms (see the PostgreSQL log)`, { backupId: pending.backupId });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  deps.log.info({ backupId: pending.backupId, durationMs: Math.round(performance.now() - started) }, 'ha.restore_recovery_done');
}

/** Archive recovery has ended in a promotion (see recover). */
async function promoted(deps: ClusterRestoreDeps): Promise<boolean> {
  const entries = await readdir(deps.dataDir);
  if (entries.includes('recovery.signal')) return false;
  return (await readControlData(deps.binaries, deps.osUser, deps.dataDir)).clusterState === 'in production';
}

function recoveryStopped(deps: ClusterRestoreDeps, pending: PendingRestore, logTail: string): BackupError {
  const fatal = /(FATAL|PANIC):.*$/m.exec(logTail)?.[0] ?? 'no FATAL line in the server log';
  if (TARGET_NOT_REACHED.test(logTail) && pending.targetTimeMs !== null) {
    return new BackupError(
      'RESTORE_REFUSED',
      `the archived WAL of cluster ${deps.cluster} ends before recovery_target_time ${formatRecoveryTargetTime(new Date(pending.targetTimeMs))} (replayed from backup ${pending.backupId}): choose an earlier time, or restore the latest`,
      { backupId: pending.backupId, stderrTail: logTail },
    );
  }
  return new BackupError('RESTORE_FAILED', `archive recovery of backup ${pending.backupId} stopped before it promoted: ${fatal}`, { backupId: pending.backupId, stderrTail: logTail });
}

/** The data directory holds this restore, promoted: pg_control of its database system, out of recovery, on a timeline after the backup's. */
async function isPromotedRestore(deps: ClusterRestoreDeps, pending: PendingRestore): Promise<boolean> {
  const inspected = await inspectDataDir(deps.binaries, deps.osUser, deps.dataDir);
  if (inspected.kind !== 'pgdata') return false;
  // A restored but not yet recovered copy says "in production" too (the source's pg_control): its signal and label files tell.
  const entries = new Set(await readdir(deps.dataDir));
  if (entries.has('recovery.signal') || entries.has('standby.signal') || entries.has('backup_label')) return false;
  const control = inspected.control;
  return control.systemIdentifier === pending.systemIdentifier && wasPrimary(control) && control.checkpointTimeline > pending.backupTimeline;
}

/**
 * The promoted restore becomes this cluster's: stopped, the superuser gets this cluster's password
 * (single-user mode: the source's is unknown here), pg_hba.conf is pgherd's, started as the primary;
 * then checked: the manifest's system identifier, out of recovery, on a timeline after the backup's.
 */
async function takeOver(deps: ClusterRestoreDeps, pending: PendingRestore): Promise<RestoredCluster> {
  const controller = deps.controller();
  const settings = deps.serverSettings();
  if ((await controller.status()).running) await controller.stop({ mode: 'fast' });
  const entries = await readdir(deps.dataDir);
  let control = await readControlData(deps.binaries, deps.osUser, deps.dataDir);
  if (control.clusterState === 'in production' && !entries.includes('recovery.signal') && !entries.includes('standby.signal')) {
    // A promoted restore whose server died (the agent resumes): crash recovery, then a clean stop.
    await controller.start(settings, 'primary');
    await controller.stop({ mode: 'fast' });
    control = await readControlData(deps.binaries, deps.osUser, deps.dataDir);
  }
  // Single-user mode must not find recovery to do: it would replay without the recovery target.
  if (control.clusterState !== 'shut down' || entries.includes('recovery.signal') || entries.includes('standby.signal')) {
    throw new BackupError('RESTORE_FAILED', `the restore of backup ${pending.backupId} did not end as a cleanly stopped primary (pg_control: ${control.clusterState})`, { backupId: pending.backupId });
  }
  await setSuperuserPasswordOffline({ binaries: deps.binaries, osUser: deps.osUser, dataDir: deps.dataDir, serverArgs: buildServerArgs(settings), superuser: deps.hba.superuser, password: deps.superuserPassword, log: deps.log });
  await writeHba(deps.dataDir, deps.osUser, deps.hba);
  await controller.start(settings, 'primary');
  const facts = await withConnection(await deps.connection(), 'read the restored primary', async (client) => {
    await client.query('CHECKPOINT');
    const row = (await client.query<{ id: string; timeline: number; recovery: boolean }>(
      'SELECT s.system_identifier::text AS id, c.timeline_id AS timeline, pg_is_in_recovery() AS recovery FROM pg_control_system() s, pg_control_checkpoint() c',
    )).rows[0]!;
    return row;
  });
  if (facts.id !== pending.systemIdentifier) {
    throw new BackupError('RESTORE_REFUSED', `the restored primary is database system ${facts.id}, backup ${pending.backupId} is ${pending.systemIdentifier}`, { backupId: pending.backupId });
  }
  if (facts.recovery || facts.timeline <= pending.backupTimeline) {
    throw new BackupError('RESTORE_FAILED', `the restored primary is ${facts.recovery ? 'still in recovery' : 'not on a new timeline'} (timeline ${facts.timeline}, the backup's ${pending.backupTimeline})`, { backupId: pending.backupId });
  }
  return { backupId: pending.backupId, systemIdentifier: facts.id, timeline: facts.timeline, targetTimeMs: pending.targetTimeMs };
}

/** Stop whatever runs on the data directory, empty it and forget the marker: the next attempt chooses again. */
async function abandon(deps: ClusterRestoreDeps, error: unknown): Promise<void> {
  try {
    await emptyDataDir(deps);
    await removePendingRestore(deps.pendingFile);
    deps.log.warn({ err: (error as Error).message, code: (error as { code?: string }).code }, 'ha.restore_abandoned');
  } catch (cleanupError) {
    // The marker stays: the next attempt resumes, which empties the directory again.
    deps.log.error({ err: (cleanupError as Error).message }, 'ha.restore_cleanup_failed');
  }
}

async function emptyDataDir(deps: ClusterRestoreDeps): Promise<void> {
  const controller = deps.controller();
  if ((await controller.status()).running) await controller.stop({ mode: 'immediate', timeoutMs: 10_000 });
  const entries = await readdir(deps.dataDir).catch(() => [] as string[]);
  for (const entry of entries) await rm(join(deps.dataDir, entry), { recursive: true, force: true });
}

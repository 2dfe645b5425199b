import type { BackupCatalog } from './backup-catalog.js';
import type { BackupManifest } from './backup-manifest.js';

/*
 * Which base backup a new cluster restores (bootstrap.method restore).
 * Pure: the store's catalog, the operator's request and the time in; one
 * complete backup, or a refusal in operator words, out.
 *
 *   backup: latest                      the newest complete backup
 *   backup: latest + recovery_target_time
 *                                       the newest that finished at or before it
 *   backup: <id>                        that one (finished at or before the target, if any)
 *
 * "Finished" is the manifest's finishedAt: the backup is consistent at its
 * stop LSN, which is earlier, so a target between the two is refused
 * although PostgreSQL could reach it — never the other way round.
 *
 * Refused, with nothing touched: no complete backup for this cluster name
 * (a typo in cluster_name or backup.store, or the wrong bucket); backups of
 * more than one database system under one name (two clusters wrote there,
 * so their archived WAL may be mixed too); a target in the future (recovery
 * would end before reaching it); a target before every backup; an id that
 * is not a complete backup.
 */

export interface RestoreRequest {
  /** "latest" or a backup id (bootstrap.restore.backup). */
  readonly backup: string;
  /** bootstrap.restore.recovery_target_time; null: replay every archived WAL file. */
  readonly targetTime: Date | null;
}

export interface RestoreChoiceContext {
  readonly cluster: string;
  /** The store, as operators know it (ObjectStore.description). */
  readonly store: string;
  /** Wall clock, ms. */
  readonly nowMs: number;
}

export type RestoreChoice =
  | { readonly ok: true; readonly backup: BackupManifest; readonly reason: string }
  | { readonly ok: false; readonly detail: string };

/** Ids listed in a refusal; the rest are counted. */
const IDS_LISTED_MAX = 3;

export function chooseRestoreBackup(catalog: Pick<BackupCatalog, 'backups' | 'invalid' | 'incomplete'>, request: RestoreRequest, context: RestoreChoiceContext): RestoreChoice {
  const { backups } = catalog;
  const where = `cluster ${context.cluster} in ${context.store}`;
  if (backups.length === 0) {
    return refuse(`no complete base backup of ${where}${unusableNote(catalog)}: nothing to restore (check cluster_name and backup.store, or set bootstrap.method: initdb)`);
  }
  const systems = [...new Set(backups.map((b) => b.systemIdentifier))];
  if (systems.length > 1) {
    const bySystem = systems.map((system) => `${system}: ${listIds(backups.filter((b) => b.systemIdentifier === system).map((b) => b.id))}`).join('; ');
    return refuse(`the backups of ${where} belong to ${systems.length} database systems (${bySystem}): two clusters wrote under one name and their archived WAL may be mixed; nothing is restored until one cluster's objects are moved away`);
  }
  const target = request.targetTime;
  if (target !== null && target.getTime() > context.nowMs) {
    return refuse(`recovery_target_time ${target.toISOString()} is in the future (now ${new Date(context.nowMs).toISOString()}): recovery would end before reaching it`);
  }
  const finishedBy = (b: BackupManifest): boolean => target === null || Date.parse(b.finishedAt) <= target.getTime();
  if (request.backup !== 'latest') {
    const chosen = backups.find((b) => b.id === request.backup);
    if (chosen === undefined) {
      const invalid = catalog.invalid.find((b) => b.id === request.backup);
      const why = invalid !== undefined ? `is invalid: ${invalid.reason}` : catalog.incomplete.includes(request.backup) ? 'is incomplete (it has no manifest)' : 'is not in the store';
      return refuse(`backup ${request.backup} of ${where} ${why}; the complete ones are ${listIds(backups.map((b) => b.id))}`);
    }
    if (!finishedBy(chosen)) {
      return refuse(`backup ${chosen.id} finished at ${chosen.finishedAt}, after recovery_target_time ${target!.toISOString()}: a backup can only be replayed forward; choose an older one or backup: latest`);
    }
    return { ok: true, backup: chosen, reason: `backup ${chosen.id} as configured` };
  }
  const candidates = backups.filter(finishedBy);
  const chosen = candidates.at(-1);
  if (chosen === undefined) {
    const oldest = [...backups].sort((a, b) => Date.parse(a.finishedAt) - Date.parse(b.finishedAt))[0]!;
    return refuse(`recovery_target_time ${target!.toISOString()} is before every backup of ${where}: the oldest, ${oldest.id}, finished at ${oldest.finishedAt}`);
  }
  const reason = target === null ? `the latest backup ${chosen.id}` : `backup ${chosen.id}, the latest that finished (${chosen.finishedAt}) by recovery_target_time ${target.toISOString()}`;
  return { ok: true, backup: chosen, reason };
}

function refuse(detail: string): RestoreChoice {
  return { ok: false, detail };
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(-IDS_LISTED_MAX).join(', ');
  return ids.length > IDS_LISTED_MAX ? `${shown} and ${ids.length - IDS_LISTED_MAX} older` : shown;
}

function unusableNote(catalog: Pick<BackupCatalog, 'invalid' | 'incomplete'>): string {
  const parts = [
    ...(catalog.invalid.length > 0 ? [`${catalog.invalid.length} invalid (${catalog.invalid[0]!.id}: ${catalog.invalid[0]!.reason})`] : []),
    ...(catalog.incomplete.length > 0 ? [`${catalog.incomplete.length} incomplete`] : []),
  ];
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

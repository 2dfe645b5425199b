import { assert } from '../lib/assert.js';
import {
  BASE_OBJECT_NAME,
  backupManifestKey,
  basebackupsPrefix,
  isBackupId,
  MANIFEST_BYTES_MAX,
  MANIFEST_OBJECT_NAME,
  parseManifest,
  type BackupManifest,
} from './backup-manifest.js';
import { BackupError } from './backup-errors.js';
import { sortBackups } from './retention.js';
import { StoreError, type ObjectInfo, type ObjectStore } from './store.js';
import { walPrefix } from './wal-names.js';

export { planRetention, walPruneBefore, isWalPrunable, sortBackups, type RetentionPlan, type RetentionReason } from './retention.js';

/** The names of the WAL files the store holds for `cluster` (segments, partial segments, history files), in listing order. */
export async function archivedWalNames(store: ObjectStore, cluster: string): Promise<string[]> {
  const prefix = walPrefix(cluster);
  const names: string[] = [];
  for await (const info of store.list(prefix)) names.push(info.key.slice(prefix.length));
  return names;
}

/** A backup whose manifest exists but cannot be used; never restored. */
export interface InvalidBackup {
  readonly id: string;
  readonly key: string;
  readonly reason: string;
}

export interface BackupCatalog {
  /** Complete, valid backups in replay order (start LSN, then id): the last is the latest. */
  readonly backups: readonly BackupManifest[];
  readonly invalid: readonly InvalidBackup[];
  /** Ids with objects but no manifest: unfinished or abandoned uploads (deleteBackup removes them). */
  readonly incomplete: readonly string[];
}

/** Group a cluster's basebackups/ keys by backup id (`<cluster>/basebackups/<id>/<name>`). */
async function objectsById(store: ObjectStore, cluster: string): Promise<Map<string, Map<string, ObjectInfo>>> {
  const prefix = basebackupsPrefix(cluster);
  const byId = new Map<string, Map<string, ObjectInfo>>();
  for await (const info of store.list(prefix)) {
    const rest = info.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    const id = slash < 0 ? rest : rest.slice(0, slash);
    const name = slash < 0 ? '' : rest.slice(slash + 1);
    let objects = byId.get(id);
    if (objects === undefined) byId.set(id, (objects = new Map()));
    objects.set(name, info);
  }
  return byId;
}

/**
 * Every backup of `cluster` in the store: complete ones (a manifest that
 * parses, validates, belongs to its key, and whose base object exists with
 * the recorded size), invalid ones with the reason, and incomplete ids.
 */
export async function listBackups(store: ObjectStore, cluster: string): Promise<BackupCatalog> {
  const backups: BackupManifest[] = [];
  const invalid: InvalidBackup[] = [];
  const incomplete: string[] = [];
  for (const [id, objects] of await objectsById(store, cluster)) {
    const manifestInfo = objects.get(MANIFEST_OBJECT_NAME);
    if (!isBackupId(id)) {
      invalid.push({ id, key: `${basebackupsPrefix(cluster)}${id}`, reason: 'not a backup id' });
      continue;
    }
    if (manifestInfo === undefined) {
      incomplete.push(id);
      continue;
    }
    const checked = await checkManifest(store, cluster, id, manifestInfo, objects.get(BASE_OBJECT_NAME));
    if (checked === undefined) continue;
    if (checked.ok) backups.push(checked.manifest);
    else invalid.push({ id, key: manifestInfo.key, reason: checked.reason });
  }
  return { backups: sortBackups(backups), invalid, incomplete };
}

async function checkManifest(
  store: ObjectStore,
  cluster: string,
  id: string,
  manifestInfo: ObjectInfo,
  baseInfo: ObjectInfo | undefined,
): Promise<{ ok: true; manifest: BackupManifest } | { ok: false; reason: string } | undefined> {
  if (manifestInfo.size > MANIFEST_BYTES_MAX) return { ok: false, reason: `manifest is ${manifestInfo.size} bytes, more than ${MANIFEST_BYTES_MAX}` };
  let text: string;
  try {
    text = (await store.getBuffer(manifestInfo.key)).toString('utf8');
  } catch (error) {
    // Deleted between list and get: it is simply gone.
    if (error instanceof StoreError && error.reason === 'NOT_FOUND') return undefined;
    throw error;
  }
  const parsed = parseManifest(text, { id, cluster });
  if (!parsed.ok) return parsed;
  if (baseInfo === undefined) return { ok: false, reason: `${BASE_OBJECT_NAME} is missing` };
  if (baseInfo.size !== parsed.manifest.storedBytes) return { ok: false, reason: `${BASE_OBJECT_NAME} is ${baseInfo.size} bytes, the manifest says ${parsed.manifest.storedBytes}` };
  return parsed;
}

/** The newest complete backup, or undefined when there is none. */
export async function latestBackup(store: ObjectStore, cluster: string): Promise<BackupManifest | undefined> {
  return (await listBackups(store, cluster)).backups.at(-1);
}

/** One backup's manifest, validated. Throws BackupError NOT_FOUND (no manifest) or INVALID. */
export async function readBackupManifest(store: ObjectStore, cluster: string, id: string): Promise<BackupManifest> {
  if (!isBackupId(id)) throw new BackupError('NOT_FOUND', `${JSON.stringify(id)} is not a backup id`, { backupId: id });
  const key = backupManifestKey(cluster, id);
  let text: string;
  try {
    const info = await store.head(key);
    if (info !== undefined && info.size > MANIFEST_BYTES_MAX) throw new BackupError('INVALID', `backup ${id}: ${key} is ${info.size} bytes, more than ${MANIFEST_BYTES_MAX}`, { backupId: id, key });
    text = (await store.getBuffer(key)).toString('utf8');
  } catch (error) {
    if (error instanceof StoreError && error.reason === 'NOT_FOUND') throw new BackupError('NOT_FOUND', `backup ${id} of cluster ${cluster} has no manifest in ${store.description} (incomplete or absent)`, { backupId: id, key, cause: error });
    throw error;
  }
  const parsed = parseManifest(text, { id, cluster });
  if (!parsed.ok) throw new BackupError('INVALID', `backup ${id}: ${key} is invalid: ${parsed.reason}`, { backupId: id, key });
  return parsed.manifest;
}

/**
 * Delete a backup: its manifest first (from then on it is incomplete and
 * never used, even if the rest of the deletion fails), then every other
 * object under its id. Deleting an absent backup is not an error.
 */
export async function deleteBackup(store: ObjectStore, cluster: string, id: string): Promise<void> {
  assert(isBackupId(id), `not a backup id: ${JSON.stringify(id)}`);
  await store.delete([backupManifestKey(cluster, id)]);
  const rest: string[] = [];
  for await (const info of store.list(`${basebackupsPrefix(cluster)}${id}/`)) rest.push(info.key);
  if (rest.length > 0) await store.delete(rest);
}

import test, { type ExecutionContext } from 'ava';
import { deleteBackup, latestBackup, listBackups, readBackupManifest } from '../../../src/backup/backup-catalog.js';
import { backupManifestKey, backupObjectKey, encodeManifest, type BackupManifest } from '../../../src/backup/backup-manifest.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import type { ObjectStore } from '../../../src/backup/store.js';
import { validManifest } from '../../helpers/backup-manifests.js';
import { tempDir } from '../../helpers/wal-fixture.js';

async function tempStore(t: ExecutionContext): Promise<LocalStore> {
  return new LocalStore(await tempDir(t, 'catalog'));
}

/** Store a complete backup: an object of storedBytes bytes, then its manifest. */
async function storeBackup(store: ObjectStore, manifest: BackupManifest, options: { manifestText?: string; objectBytes?: number } = {}): Promise<void> {
  await store.put(backupObjectKey(manifest.cluster, manifest.id), Buffer.alloc(options.objectBytes ?? manifest.storedBytes, 1));
  await store.put(backupManifestKey(manifest.cluster, manifest.id), Buffer.from(options.manifestText ?? encodeManifest(manifest)));
}

const small = (overrides: Parameters<typeof validManifest>[0]): BackupManifest => validManifest({ storedBytes: 100, ...overrides });

test('complete backups are listed in replay order; invalid ones with their reason; ones without a manifest as incomplete', async (t) => {
  const store = await tempStore(t);
  const older = small({ suffix: '000001', startedAt: '2026-11-20T00:00:00.000Z', startLsn: '0/2000028', stopLsn: '0/3000100' });
  const newer = small({ suffix: '000002', startedAt: '2026-11-25T00:00:00.000Z', startLsn: '0/9000028', stopLsn: '0/9000100' });
  await storeBackup(store, newer);
  await storeBackup(store, older);
  const badJson = small({ suffix: '000003', startedAt: '2026-11-21T00:00:00.000Z' });
  await storeBackup(store, badJson, { manifestText: '{"format": "pgherd-base-backup", "version": 1,' });
  const wrongVersion = small({ suffix: '000004', startedAt: '2026-11-22T00:00:00.000Z' });
  await storeBackup(store, wrongVersion, { manifestText: JSON.stringify({ ...wrongVersion, version: 2 }) });
  const truncatedObject = small({ suffix: '000005', startedAt: '2026-11-23T00:00:00.000Z' });
  await storeBackup(store, truncatedObject, { objectBytes: 99 });
  const copiedElsewhere = small({ suffix: '000006', startedAt: '2026-11-24T00:00:00.000Z' });
  await store.put(backupObjectKey('main', copiedElsewhere.id), Buffer.alloc(100));
  await store.put(backupManifestKey('main', copiedElsewhere.id), Buffer.from(encodeManifest(newer)));
  const unfinished = small({ suffix: '000007', startedAt: '2026-11-26T00:00:00.000Z' });
  await store.put(backupObjectKey('main', unfinished.id), Buffer.alloc(100));
  await store.put('main/basebackups/not-an-id/base.tar.gz', Buffer.alloc(1));
  await storeBackup(store, small({ cluster: 'other', suffix: '000008' }));

  const catalog = await listBackups(store, 'main');
  t.deepEqual(catalog.backups.map((b) => b.id), [older.id, newer.id]);
  t.deepEqual(catalog.incomplete, [unfinished.id]);
  const reasons = Object.fromEntries(catalog.invalid.map((i) => [i.id, i.reason]));
  t.regex(reasons[badJson.id]!, /^not JSON/);
  t.regex(reasons[wrongVersion.id]!, /unsupported manifest version 2/);
  t.regex(reasons[truncatedObject.id]!, /base\.tar\.gz is 99 bytes, the manifest says 100/);
  t.regex(reasons[copiedElsewhere.id]!, /does not match its key's id/);
  t.is(reasons['not-an-id'], 'not a backup id');
  t.is(catalog.invalid.length, 5);
  t.is((await latestBackup(store, 'main'))?.id, newer.id);
  t.is(await latestBackup(store, 'empty'), undefined);
  t.deepEqual((await listBackups(store, 'other')).backups.length, 1);
});

test('a manifest without its base object is invalid, not complete', async (t) => {
  const store = await tempStore(t);
  const manifest = small({});
  await store.put(backupManifestKey('main', manifest.id), Buffer.from(encodeManifest(manifest)));
  const catalog = await listBackups(store, 'main');
  t.deepEqual(catalog.backups, []);
  t.deepEqual(catalog.invalid, [{ id: manifest.id, key: backupManifestKey('main', manifest.id), reason: 'base.tar.gz is missing' }]);
});

test('readBackupManifest: NOT_FOUND without a manifest, INVALID with a bad one', async (t) => {
  const store = await tempStore(t);
  const good = small({ suffix: '00000a' });
  await storeBackup(store, good);
  t.deepEqual(await readBackupManifest(store, 'main', good.id), good);
  const missing = small({ suffix: '00000b' });
  await store.put(backupObjectKey('main', missing.id), Buffer.alloc(100));
  await t.throwsAsync(readBackupManifest(store, 'main', missing.id), { code: 'PGHERD_BACKUP_NOT_FOUND', message: new RegExp(missing.id) });
  await t.throwsAsync(readBackupManifest(store, 'main', '../etc'), { code: 'PGHERD_BACKUP_NOT_FOUND' });
  const bad = small({ suffix: '00000c' });
  await storeBackup(store, bad, { manifestText: JSON.stringify({ ...bad, sha256: undefined }) });
  await t.throwsAsync(readBackupManifest(store, 'main', bad.id), { code: 'PGHERD_BACKUP_INVALID', message: /sha256/ });
});

test('deleteBackup removes the manifest first, then everything under the id; absent is fine', async (t) => {
  const store = await tempStore(t);
  const keep = small({ suffix: '0000aa' });
  const drop = small({ suffix: '0000bb' });
  await storeBackup(store, keep);
  await storeBackup(store, drop);
  await store.put(`main/basebackups/${drop.id}/extra.bin`, Buffer.alloc(3));
  const deleted: string[][] = [];
  const spying = Object.assign(Object.create(store) as LocalStore, {
    delete: async (keys: readonly string[]) => {
      deleted.push([...keys]);
      await store.delete(keys);
    },
  });
  await deleteBackup(spying, 'main', drop.id);
  t.deepEqual(deleted[0], [backupManifestKey('main', drop.id)], 'the manifest goes first');
  t.deepEqual(deleted[1]?.sort(), [backupObjectKey('main', drop.id), `main/basebackups/${drop.id}/extra.bin`].sort());
  const catalog = await listBackups(store, 'main');
  t.deepEqual(catalog.backups.map((b) => b.id), [keep.id]);
  t.deepEqual(catalog.incomplete, []);
  await t.notThrowsAsync(deleteBackup(store, 'main', drop.id));
});

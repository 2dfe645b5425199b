import { execFile } from 'node:child_process';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { backupManifestKey, backupObjectKey, encodeManifest, type BackupManifest } from '../../../src/backup/backup-manifest.js';
import { uploadBaseBackup } from '../../../src/backup/base-backup.js';
import { BackupError } from '../../../src/backup/backup-errors.js';
import { formatRecoveryTargetTime, quoteConfValue, recoverySettings, restoreBaseBackup, type RestoreBaseBackupOptions } from '../../../src/backup/restore-backup.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { PgTargetNotEmptyError } from '../../../src/postgres/errors.js';
import { validManifest } from '../../helpers/backup-manifests.js';
import { currentUser, fakeBasebackupScript, fakeBinaries, makeFakeTar } from '../../helpers/fake-pg-tools.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { tempDir } from '../../helpers/wal-fixture.js';

const execFileAsync = promisify(execFile);
const ID = '20261126T181500Z-3fa9c2';
const VERIFY_OK = '[ "$1" = "-n" ] && [ "$2" = "-m" ] && [ -f "$3" ] && [ "$3" = "$4/backup_manifest" ] || { echo "unexpected arguments: $*" >&2; exit 2; }\necho "backup successfully verified"';
const VERIFY_BAD = 'echo \'pg_verifybackup: error: "base/1/1000" has size 5 on disk but size 262144 in the manifest\' >&2\nexit 1';

interface Fixture {
  readonly dir: string;
  readonly source: string;
  readonly store: LocalStoreAt;
  readonly manifest: BackupManifest;
  options(overrides?: Partial<RestoreBaseBackupOptions>): Promise<RestoreBaseBackupOptions>;
}

/** A backup of a fake data directory in a LocalStore, uploaded by the real streaming code. */
async function fixture(t: ExecutionContext, verifyScript = VERIFY_OK, tarOptions: Parameters<typeof makeFakeTar>[1] = {}): Promise<Fixture> {
  const dir = await tempDir(t, 'restore-unit');
  const { source, tarPath } = await makeFakeTar(dir, { dataBytes: 1024 * 1024, ...tarOptions });
  const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath), pg_verifybackup: verifyScript });
  const store = new LocalStoreAt(await tempDir(t, 'restore-store'));
  const upload = await uploadBaseBackup({ binaries, osUser: currentUser, store, connection: { host: '/x', port: 1, user: 'u', password: 'p' }, key: backupObjectKey('main', ID), backupId: ID, compressionLevel: 1, pgLabel: 'x', log: silentLogger });
  const manifest = validManifest({ id: ID, dataBytes: upload.dataBytes, storedBytes: upload.storedBytes, sha256: upload.sha256 });
  await store.put(backupManifestKey('main', ID), Buffer.from(encodeManifest(manifest)));
  let n = 0;
  return {
    dir,
    source,
    store,
    manifest,
    options: async (overrides = {}) => ({ store, cluster: 'main', backupId: ID, targetDir: join(dir, `target${n++}`), binaries, osUser: currentUser, restoreCommand: 'cp /archive/%f %p', mode: 'standby', ...overrides }),
  };
}

async function sameTree(a: string, b: string, skip: readonly string[]): Promise<boolean> {
  const { stdout } = await execFileAsync('diff', ['-r', ...skip.flatMap((s) => ['-x', s]), a, b]).catch((error: { stdout: string }) => ({ stdout: error.stdout || 'differs' }));
  return stdout === '';
}

test('restore: extract, verify, scrub, signal; the data matches the source', async (t) => {
  const f = await fixture(t);
  const options = await f.options();
  const result = await restoreBaseBackup(options);
  t.deepEqual(result.manifest, f.manifest);
  t.deepEqual(result.scrubbed, ['primary_conninfo']);
  t.deepEqual(result.recoveryParameters, { restore_command: 'cp /archive/%f %p' });
  t.true(await sameTree(f.source, options.targetDir, ['postgresql.auto.conf', 'standby.signal']));
  t.is(await readFile(join(options.targetDir, 'standby.signal'), 'utf8'), '');
  const autoConf = await readFile(join(options.targetDir, 'postgresql.auto.conf'), 'utf8');
  t.false(autoConf.includes('primary_conninfo'));
  t.false(autoConf.includes('restore_command'), 'not written unless asked');
  t.true(autoConf.includes("work_mem = '8MB'"));
});

test('recovery mode with a target time: recovery.signal, and the settings written when asked', async (t) => {
  const f = await fixture(t);
  const options = await f.options({ mode: 'recovery', targetTime: new Date('2026-11-26T19:30:00.123Z'), writeRestoreCommand: true, restoreCommand: "cp '/arch ive'/%f %p" });
  const result = await restoreBaseBackup(options);
  t.deepEqual(result.recoveryParameters, { restore_command: "cp '/arch ive'/%f %p", recovery_target_time: '2026-11-26 19:30:00.123+00', recovery_target_action: 'promote' });
  const entries = await readdir(options.targetDir);
  t.true(entries.includes('recovery.signal'));
  t.false(entries.includes('standby.signal'));
  const autoConf = await readFile(join(options.targetDir, 'postgresql.auto.conf'), 'utf8');
  t.regex(autoConf, /^restore_command = 'cp ''\/arch ive''\/%f %p'$/m);
  t.regex(autoConf, /^recovery_target_time = '2026-11-26 19:30:00\.123\+00'$/m);
  t.regex(autoConf, /^recovery_target_action = 'promote'$/m);
  await t.throwsAsync(restoreBaseBackup(await f.options({ mode: 'standby', targetTime: new Date() })), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('a corrupted object: PGHERD_BACKUP_INVALID naming both digests, and the target is left empty', async (t) => {
  const f = await fixture(t);
  const path = f.store.objectPath(backupObjectKey('main', ID));
  const handle = await open(path, 'r+');
  try {
    const at = Math.floor(f.manifest.storedBytes / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
  const options = await f.options();
  const error = await t.throwsAsync(restoreBaseBackup(options), { instanceOf: BackupError });
  t.is(error?.code, 'PGHERD_BACKUP_INVALID');
  t.is(error?.expectedSha256, f.manifest.sha256);
  t.regex(error!.actualSha256!, /^[0-9a-f]{64}$/);
  t.not(error?.actualSha256, f.manifest.sha256);
  t.true(error!.message.includes(f.manifest.sha256) && error!.message.includes(error!.actualSha256!), error!.message);
  t.true(error!.message.includes(ID) && error!.message.includes(backupObjectKey('main', ID)));
  t.deepEqual(await readdir(options.targetDir), []);
});

test('an object replaced by another valid one (digest differs, gzip fine): INVALID, target empty', async (t) => {
  const f = await fixture(t);
  const other = await fixture(t);
  await writeFile(f.store.objectPath(backupObjectKey('main', ID)), await readFile(other.store.objectPath(backupObjectKey('main', ID))));
  const options = await f.options();
  await t.throwsAsync(restoreBaseBackup(options), { code: 'PGHERD_BACKUP_INVALID', message: /does not match its manifest/ });
  t.deepEqual(await readdir(options.targetDir), []);
});

test('pg_verifybackup refusing the files: INVALID with its output, target empty', async (t) => {
  const f = await fixture(t, VERIFY_BAD);
  const options = await f.options();
  await t.throwsAsync(restoreBaseBackup(options), { code: 'PGHERD_BACKUP_INVALID', message: /pg_verifybackup refused .*has size 5 on disk/ });
  t.deepEqual(await readdir(options.targetDir), []);
});

test('a non-empty target is refused and left alone; an unknown backup is NOT_FOUND', async (t) => {
  const f = await fixture(t);
  const options = await f.options();
  await mkdir(options.targetDir, { recursive: true });
  await writeFile(join(options.targetDir, 'precious'), 'keep me');
  await t.throwsAsync(restoreBaseBackup(options), { instanceOf: PgTargetNotEmptyError });
  t.deepEqual(await readdir(options.targetDir), ['precious']);
  await t.throwsAsync(restoreBaseBackup(await f.options({ backupId: '20261126T181501Z-000000' })), { code: 'PGHERD_BACKUP_NOT_FOUND' });
});

test('tar refusing a member (here one named ../escape) while the object matches: RESTORE_FAILED, nothing escapes, target empty', async (t) => {
  const f = await fixture(t, VERIFY_OK, { escapeMember: true });
  const options = await f.options();
  const error = await t.throwsAsync(restoreBaseBackup(options), { code: 'PGHERD_BACKUP_RESTORE_FAILED' });
  t.regex(error!.message, /tar exited with code 2: .*Member name contains '\.\.'/s);
  t.deepEqual(await readdir(options.targetDir), []);
  t.false((await readdir(f.dir)).includes('escape'));
});

test('a manifest whose object is gone: INVALID naming the key, target empty', async (t) => {
  const f = await fixture(t);
  await f.store.delete([backupObjectKey('main', ID)]);
  const options = await f.options();
  await t.throwsAsync(restoreBaseBackup(options), { code: 'PGHERD_BACKUP_INVALID', message: /base\.tar\.gz is missing/ });
  t.deepEqual(await readdir(options.targetDir), []);
});

test('tar stopping at the end-of-archive blocks before the stream ends: the rest is still read for the digest', async (t) => {
  const f = await fixture(t, VERIFY_OK, { trailingZeros: 4 * 1024 * 1024 });
  const options = await f.options();
  const result = await restoreBaseBackup(options);
  t.is(result.manifest.sha256, f.manifest.sha256);
  t.true(await sameTree(f.source, options.targetDir, ['postgresql.auto.conf', 'standby.signal']));
});

test('quoteConfValue and recoverySettings', (t) => {
  t.is(quoteConfValue("cp '%p' x"), "'cp ''%p'' x'");
  t.throws(() => quoteConfValue('a\nb'), { code: 'PGHERD_ASSERTION_FAILED' });
  t.deepEqual(recoverySettings({ restoreCommand: 'x' }), { restore_command: 'x' });
  t.is(formatRecoveryTargetTime(new Date('2026-01-02T03:04:05.006+02:00')), '2026-01-02 01:04:05.006+00');
});

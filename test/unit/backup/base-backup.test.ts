import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { listBackups } from '../../../src/backup/backup-catalog.js';
import { backupManifestKey, backupObjectKey } from '../../../src/backup/backup-manifest.js';
import { takeBaseBackup, uploadBaseBackup, waitForWalFiles, walInArchive, type TakeBaseBackupOptions } from '../../../src/backup/base-backup.js';
import { BackupError } from '../../../src/backup/backup-errors.js';
import type { ServerFacts } from '../../../src/backup/server-facts.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { sha256Hex } from '../../../src/backup/wal-object.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { parseLsn } from '../../../src/lib/lsn.js';
import { currentUser, fakeBasebackupScript, fakeBinaries, makeFakeTar, manifestText } from '../../helpers/fake-pg-tools.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { tempDir } from '../../helpers/wal-fixture.js';

const ID = '20261126T181500Z-3fa9c2';
const KEY = backupObjectKey('main', ID);
const connection = { host: '/nonexistent', port: 1, user: 'postgres', password: 'pw' };
const facts: ServerFacts = { systemIdentifier: '7441234567890123456', timeline: 1, pgVersion: 150018, walSegmentBytes: 16 * 1024 * 1024 };

/** A LocalStore in a directory of its own, removed when the test ends. */
async function newStore(t: ExecutionContext): Promise<LocalStoreAt> {
  return new LocalStoreAt(await tempDir(t, 'bb-store'));
}

test('uploadBaseBackup streams the tar, gzipped, into the store and reads backup_label and the WAL ranges on the way', async (t) => {
  const dir = await tempDir(t, 'bb-unit');
  const { tarPath } = await makeFakeTar(dir, { dataBytes: 2 * 1024 * 1024 });
  const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath) });
  const store = await newStore(t);
  const result = await uploadBaseBackup({ binaries, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 1, pgLabel: `pgherd ${ID}`, log: silentLogger });
  const tar = await readFile(tarPath);
  const stored = await readFile(store.objectPath(KEY));
  t.is(result.dataBytes, tar.length);
  t.is(result.storedBytes, stored.length);
  t.is(result.sha256, sha256Hex(stored));
  t.true(gunzipSync(stored).equals(tar), 'the stored object is the tar, gzipped');
  t.is(result.backupLabel.startTimeline, 1);
  t.is(result.backupLabel.startLsn, parseLsn('0/2000028'));
  t.deepEqual(result.walRanges, [{ timeline: 1, startLsn: parseLsn('0/2000028'), endLsn: parseLsn('0/3000100') }]);
  t.deepEqual(result.stderr, { startLsn: parseLsn('0/2000028'), startTimeline: 1, endLsn: parseLsn('0/3000100') });
});

test('a large backup_manifest is read from its kept tail', async (t) => {
  const dir = await tempDir(t, 'bb-unit');
  const { tarPath } = await makeFakeTar(dir, { manifest: manifestText(undefined, 20_000) });
  const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath) });
  const store = await newStore(t);
  const result = await uploadBaseBackup({ binaries, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 6, pgLabel: 'x', log: silentLogger });
  t.true((await stat(join(dir, 'src', 'backup_manifest'))).size > 1024 * 1024);
  t.is(result.walRanges.at(-1)?.endLsn, parseLsn('0/3000100'));
});

test('pg_basebackup failing mid-stream: PGHERD_BACKUP_FAILED with its stderr, and nothing in the store', async (t) => {
  const dir = await tempDir(t, 'bb-unit');
  const { tarPath } = await makeFakeTar(dir, { dataBytes: 1024 * 1024 });
  const stderr = 'pg_basebackup: error: could not read COPY data: server closed the connection unexpectedly\n';
  const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath, { bytes: 300_000, stderr, code: 1 }) });
  const store = await newStore(t);
  const error = await t.throwsAsync(uploadBaseBackup({ binaries, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 1, pgLabel: 'x', log: silentLogger }), { instanceOf: BackupError });
  t.is(error?.code, 'PGHERD_BACKUP_FAILED');
  t.regex(error!.message, /pg_basebackup exited with code 1: pg_basebackup: error: could not read COPY data/);
  t.deepEqual(await store.files(), [], 'the store discarded the upload');
});

test('a tar without backup_manifest or without backup_label is refused, and nothing is stored', async (t) => {
  for (const missing of ['manifest', 'label'] as const) {
    const dir = await tempDir(t, 'bb-unit');
    const { tarPath } = await makeFakeTar(dir, missing === 'manifest' ? { manifest: null } : { label: null });
    const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath) });
    const store = await newStore(t);
    await t.throwsAsync(uploadBaseBackup({ binaries, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 1, pgLabel: 'x', log: silentLogger }), {
      code: 'PGHERD_BACKUP_FAILED',
      message: missing === 'manifest' ? /has no backup_manifest/ : /has no backup_label/,
    });
    t.deepEqual(await store.files(), []);
  }
});

test('a missing binary is a failure', async (t) => {
  const dir = await tempDir(t, 'bb-unit');
  const store = await newStore(t);
  const none = await fakeBinaries(dir, {});
  await t.throwsAsync(uploadBaseBackup({ binaries: none, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 1, pgLabel: 'x', log: silentLogger }), {
    code: 'PGHERD_BACKUP_FAILED',
    message: /cannot run pg_basebackup: .*ENOENT/,
  });
  t.deepEqual(await store.files(), []);
});

test('a timeout is a failure', async (t) => {
  const dir = await tempDir(t, 'bb-unit');
  const store = await newStore(t);
  const slow = await fakeBinaries(join(dir, 'slow'), { pg_basebackup: 'head -c 1000 /dev/zero; exec sleep 30' });
  await t.throwsAsync(uploadBaseBackup({ binaries: slow, osUser: currentUser, store, connection, key: KEY, backupId: ID, compressionLevel: 1, pgLabel: 'x', timeoutMs: 300, log: silentLogger }), {
    code: 'PGHERD_BACKUP_FAILED',
    message: /killed by SIGKILL/,
  });
  t.deepEqual(await store.files(), []);
});

async function takeOptions(t: ExecutionContext, overrides: Partial<TakeBaseBackupOptions> = {}): Promise<TakeBaseBackupOptions & { store: LocalStoreAt }> {
  const dir = await tempDir(t, 'bb-unit');
  const { tarPath } = await makeFakeTar(dir);
  const binaries = await fakeBinaries(dir, { pg_basebackup: fakeBasebackupScript(tarPath) });
  let clock = Date.parse('2026-11-26T18:15:00.250Z');
  return {
    binaries,
    osUser: currentUser,
    store: await newStore(t),
    cluster: 'main',
    connection,
    takenOn: 'n1',
    walAvailable: async () => true,
    label: 'nightly',
    now: () => new Date((clock += 1000) - 1000),
    idSuffix: () => '3fa9c2',
    readFacts: async () => facts,
    walPollMs: 10,
    ...overrides,
  } as TakeBaseBackupOptions & { store: LocalStoreAt };
}

test('takeBaseBackup: waits for the WAL from start to stop segment, then commits the manifest last', async (t) => {
  const asked: string[] = [];
  const ready = new Set<string>();
  const options = await takeOptions(t, {
    walAvailable: async (name) => {
      asked.push(name);
      // Each file "arrives" on its second poll; the manifest must not exist meanwhile.
      if ((await options.store.head(backupManifestKey('main', ID))) !== undefined) throw new Error('manifest written before the WAL was there');
      const seen = ready.has(name);
      ready.add(name);
      return seen;
    },
  });
  const manifest = await takeBaseBackup(options);
  t.deepEqual([...new Set(asked)], ['000000010000000000000002', '000000010000000000000003']);
  t.like(manifest, {
    id: ID,
    cluster: 'main',
    systemIdentifier: facts.systemIdentifier,
    pgVersion: 150018,
    timeline: 1,
    stopTimeline: 1,
    startLsn: '0/2000028',
    stopLsn: '0/3000100',
    startWalFile: '000000010000000000000002',
    stopWalFile: '000000010000000000000003',
    walSegmentBytes: 16 * 1024 * 1024,
    compression: { algorithm: 'gzip', level: 1 },
    fileChecksums: 'CRC32C',
    takenOn: 'n1',
    label: 'nightly',
    startedAt: '2026-11-26T18:15:00.250Z',
    finishedAt: '2026-11-26T18:15:01.250Z',
  });
  const stored = await readFile(options.store.objectPath(backupObjectKey('main', ID)));
  t.is(manifest.storedBytes, stored.length);
  t.is(manifest.sha256, sha256Hex(stored));
  t.deepEqual((await listBackups(options.store, 'main')).backups, [manifest]);
});

test('takeBaseBackup: WAL never archived → PGHERD_BACKUP_WAL_MISSING naming the first missing file; the object is deleted', async (t) => {
  const lines: LogLine[] = [];
  const options = await takeOptions(t, { walAvailable: async (name) => name === '000000010000000000000002', walWaitTimeoutMs: 200, log: recordingLogger(lines) });
  const error = await t.throwsAsync(takeBaseBackup(options), { code: 'PGHERD_BACKUP_WAL_MISSING' });
  t.is((error as BackupError).walFile, '000000010000000000000003');
  t.regex(error!.message, /WAL file 000000010000000000000003 was not archived within \d+ ms/);
  t.deepEqual(await options.store.files(), []);
  t.true(lines.some((l) => l.event === 'backup.base_wal_waiting' && l.fields.walFile === '000000010000000000000003'));
  t.true(lines.some((l) => l.event === 'backup.base_failed' && l.fields.code === 'PGHERD_BACKUP_WAL_MISSING'));
});

test('takeBaseBackup: a check that throws is retried until the deadline and becomes the cause', async (t) => {
  const options = await takeOptions(t, { walAvailable: async () => Promise.reject(new Error('store unavailable')), walWaitTimeoutMs: 100 });
  const error = await t.throwsAsync(takeBaseBackup(options), { code: 'PGHERD_BACKUP_WAL_MISSING' });
  t.is((error?.cause as Error).message, 'store unavailable');
});

test('takeBaseBackup: the server facts failing, or disagreeing with the backup, leave nothing behind', async (t) => {
  const unreachable = await takeOptions(t, { readFacts: async () => Promise.reject(new Error('connection refused')) });
  await t.throwsAsync(takeBaseBackup(unreachable), { code: 'PGHERD_BACKUP_FAILED', message: /cannot read the server's facts .*connection refused/ });
  t.deepEqual(await unreachable.store.files(), []);
  const wrongSegments = await takeOptions(t, { readFacts: async () => ({ ...facts, walSegmentBytes: 64 * 1024 * 1024 }) });
  await t.throwsAsync(takeBaseBackup(wrongSegments), { code: 'PGHERD_BACKUP_FAILED', message: /disagree: start WAL file/ });
  t.deepEqual(await wrongSegments.store.files(), []);
});

test('takeBaseBackup refuses an existing id and a bad compression level or label', async (t) => {
  const options = await takeOptions(t, { now: () => new Date('2026-11-26T18:15:00Z') });
  await takeBaseBackup(options);
  await t.throwsAsync(takeBaseBackup(options), { code: 'PGHERD_BACKUP_FAILED', message: /already exists/ });
  t.is((await listBackups(options.store, 'main')).backups.length, 1, 'the existing backup is untouched');
  await t.throwsAsync(takeBaseBackup({ ...options, compressionLevel: 10 }), { code: 'PGHERD_ASSERTION_FAILED' });
  await t.throwsAsync(takeBaseBackup({ ...options, label: 'new\nline' }), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('waitForWalFiles returns at once when everything is there', async (t) => {
  t.is(await waitForWalFiles(['a', 'b'], async () => true, 0, 10), undefined);
  t.like(await waitForWalFiles(['a', 'b'], async (n) => n === 'a', 0, 10), { walFile: 'b' });
});

test('walInArchive answers from the WAL archiver\'s key in the same store, and takeBaseBackup waits on it by default', async (t) => {
  const { walAvailable: _injected, ...options } = await takeOptions(t, { walWaitTimeoutMs: 100 });
  const inArchive = walInArchive(options.store, 'main');
  t.false(await inArchive('000000010000000000000002'));
  await options.store.put(walKey('main', '000000010000000000000002'), Buffer.from('segment 2'));
  t.true(await inArchive('000000010000000000000002'));
  t.false(await walInArchive(options.store, 'other')('000000010000000000000002'), 'another cluster\'s archive');
  const error = await t.throwsAsync(takeBaseBackup(options), { code: 'PGHERD_BACKUP_WAL_MISSING' });
  t.is((error as BackupError).walFile, '000000010000000000000003');
  await options.store.put(walKey('main', '000000010000000000000003'), Buffer.from('segment 3'));
  const manifest = await takeBaseBackup(options);
  t.is(manifest.stopWalFile, '000000010000000000000003');
});

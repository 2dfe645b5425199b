import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { WalArchiver, type WalArchiverOptions } from '../../../src/backup/wal-archiver.js';
import { WalArchiveError, WalConflictError, WalNameError } from '../../../src/backup/wal-errors.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { sha256Hex } from '../../../src/backup/wal-object.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { InstrumentedStore } from '../../helpers/instrumented-store.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { until } from '../../helpers/wait.js';
import { FakePgdata, SEGMENT_BYTES, tempDir, walLikeSegment } from '../../helpers/wal-fixture.js';

const CLUSTER = 'c1';
const SEG = (n: number): string => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;

interface Setup {
  readonly pgdata: FakePgdata;
  readonly dirStore: LocalStoreAt;
  readonly store: InstrumentedStore;
  readonly archiver: WalArchiver;
  readonly lines: LogLine[];
}

/**
 * `before` runs before the archiver exists: the archiver watches
 * archive_status from its construction, so whatever a test must arrange
 * before the first background upload (ready files, a failing store) goes there.
 */
async function setup(t: ExecutionContext, options: Partial<WalArchiverOptions> = {}, before?: (pgdata: FakePgdata, store: InstrumentedStore) => Promise<void>): Promise<Setup> {
  const pgdata = await FakePgdata.create(t);
  const dirStore = new LocalStoreAt(await tempDir(t, 'store'));
  const store = new InstrumentedStore(dirStore);
  await before?.(pgdata, store);
  const lines: LogLine[] = [];
  const archiver = new WalArchiver({ store, cluster: CLUSTER, pgdata: pgdata.root, logger: recordingLogger(lines), nowMs: () => 1_700_000_000_000, ...options });
  t.teardown(() => archiver.close());
  return { pgdata, dirStore, store, archiver, lines };
}

const stored = (s: Setup, name: string): Promise<Buffer> => s.dirStore.getBuffer(walKey(CLUSTER, name));

test('archive: the segment is stored gzip-compressed with its digest and size, and decompresses to the same bytes', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  const bytes = walLikeSegment('a');
  await s.pgdata.add(SEG(1), bytes);
  const outcome = await s.archiver.archive(SEG(1));
  t.deepEqual(outcome.kind, 'uploaded');
  const info = await s.dirStore.head(walKey(CLUSTER, SEG(1)));
  t.deepEqual(info?.metadata, { encoding: 'gzip', sha256: sha256Hex(bytes), size: String(SEGMENT_BYTES) });
  const body = await stored(s, SEG(1));
  t.true(body.length < SEGMENT_BYTES / 4, `stored ${body.length} bytes`);
  t.true(gunzipSync(body).equals(bytes));
  const stats = s.archiver.stats();
  t.like(stats, { archivedFiles: 1, archivedBytes: SEGMENT_BYTES, storedBytes: body.length, failures: 0, conflicts: 0, lastArchivedName: SEG(1), lastArchivedAtMs: 1_700_000_000_000, lastError: null, inFlight: 0 });
  t.true(s.lines.some((l) => l.level === 'debug' && l.event === 'wal.archived' && l.fields.name === SEG(1)));
});

test('compression none: stored as is, encoding identity', async (t) => {
  const s = await setup(t, { compression: 'none', readAhead: 0 });
  const bytes = walLikeSegment('b');
  await s.pgdata.add(SEG(2), bytes);
  await s.archiver.archive(SEG(2));
  t.is((await s.dirStore.head(walKey(CLUSTER, SEG(2))))?.metadata.encoding, 'identity');
  t.true((await stored(s, SEG(2))).equals(bytes));
});

test('archiving the same file again succeeds without a second upload, also after an agent restart', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  await s.pgdata.add(SEG(3), walLikeSegment('c'));
  t.is((await s.archiver.archive(SEG(3))).kind, 'uploaded');
  t.is((await s.archiver.archive(SEG(3))).kind, 'already_archived');
  const restarted = new WalArchiver({ store: s.store, cluster: CLUSTER, pgdata: s.pgdata.root, readAhead: 0 });
  t.is((await restarted.archive(SEG(3))).kind, 'already_archived');
  t.is(s.store.count('put', walKey(CLUSTER, SEG(3))), 1);
  t.like(s.archiver.stats(), { archivedFiles: 1, alreadyArchivedFiles: 1, failures: 0 });
});

test('a different file under an archived name fails loudly and leaves the stored object alone', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  const original = walLikeSegment('d');
  await s.pgdata.add(SEG(4), original);
  await s.archiver.archive(SEG(4));
  const before = await stored(s, SEG(4));
  const other = walLikeSegment('d-diverged');
  await s.pgdata.add(SEG(4), other);
  const error = await t.throwsAsync(s.archiver.archive(SEG(4)), { instanceOf: WalConflictError });
  t.is(error?.code, 'PGHERD_WAL_CONFLICT');
  t.regex(error!.message, new RegExp(`${SEG(4)}.*stored sha256 ${sha256Hex(original)}, local sha256 ${sha256Hex(other)}.*refusing to overwrite`));
  t.true((await stored(s, SEG(4))).equals(before));
  t.is(s.store.count('put', walKey(CLUSTER, SEG(4))), 1);
  t.like(s.archiver.stats(), { conflicts: 1, failures: 1, lastError: error!.message, lastErrorAtMs: 1_700_000_000_000 });
  const line = s.lines.find((l) => l.event === 'wal.archive_conflict');
  t.like(line, { level: 'error', fields: { name: SEG(4), storedSha256: sha256Hex(original), localSha256: sha256Hex(other) } });
});

test('an object another tool wrote without metadata is compared by content (identity or gzip)', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  const same = walLikeSegment('e');
  await s.dirStore.put(walKey(CLUSTER, SEG(5)), same);
  await s.pgdata.add(SEG(5), same);
  t.is((await s.archiver.archive(SEG(5))).kind, 'already_archived');
  t.is(s.store.count('getBuffer', walKey(CLUSTER, SEG(5))), 1);

  await s.dirStore.put(walKey(CLUSTER, SEG(6)), gzipSync(walLikeSegment('f-theirs')));
  await s.pgdata.add(SEG(6), walLikeSegment('f-ours'));
  await t.throwsAsync(s.archiver.archive(SEG(6)), { instanceOf: WalConflictError });
  t.is(s.store.count('put', walKey(CLUSTER, SEG(6))), 0);
});

test('timeline history, backup history and partial files are archived', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  const history = Buffer.from('1\t0/3000000\tno recovery target specified\n');
  const files: Array<[string, Buffer]> = [
    ['00000002.history', history],
    ['000000010000000000000002.00000028.backup', Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n')],
    ['000000010000000000000003.partial', walLikeSegment('partial')],
  ];
  for (const [name, bytes] of files) {
    await s.pgdata.add(name, bytes);
    t.is((await s.archiver.archive(name)).kind, 'uploaded', name);
    t.true(gunzipSync(await stored(s, name)).equals(bytes), name);
  }
});

test('lastArchivedName is the newest name stored, whatever upload finished last (store-failure.test caught read-ahead finishing out of order)', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  for (const n of [3, 4]) await s.pgdata.add(SEG(n), walLikeSegment(`seg${n}`));
  await s.archiver.archive(SEG(4));
  await s.archiver.archive(SEG(3));
  t.is(s.archiver.stats().lastArchivedName, SEG(4));
});

test('names that are not WAL file names are refused before anything is read or stored', async (t) => {
  const s = await setup(t);
  for (const name of ['x', '../x', '../../etc/passwd', 'pg_wal/000000010000000000000001', '000000010000000000000001/..', '', 'global/pg_control']) {
    const error = await t.throwsAsync(s.archiver.archive(name), { instanceOf: WalNameError }, JSON.stringify(name));
    t.is(error?.code, 'PGHERD_WAL_INVALID_NAME');
  }
  t.deepEqual(s.store.calls, { put: [], get: [], getBuffer: [], head: [] });
  t.is(s.archiver.stats().failures, 7);
});

test('a store that fails: the command fails naming the file and the cause, and succeeds once the store works again', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  await s.pgdata.add(SEG(7), walLikeSegment('g'));
  s.store.failPut = () => 'no space left on device';
  const error = await t.throwsAsync(s.archiver.archive(SEG(7)), { instanceOf: WalArchiveError });
  t.is(error?.code, 'PGHERD_WAL_ARCHIVE_FAILED');
  t.regex(error!.message, new RegExp(`^archive ${SEG(7)}: .*no space left on device`));
  t.like(s.archiver.stats(), { failures: 1, archivedFiles: 0, lastError: error!.message });
  t.true(s.lines.some((l) => l.level === 'warn' && l.event === 'wal.archive_failed' && l.fields.name === SEG(7)));
  t.is(await s.dirStore.head(walKey(CLUSTER, SEG(7))), undefined);
  s.store.failPut = undefined;
  t.is((await s.archiver.archive(SEG(7))).kind, 'uploaded');
  t.like(s.archiver.stats(), { failures: 1, archivedFiles: 1 });
});

test('a file missing from pg_wal fails naming it', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  const error = await t.throwsAsync(s.archiver.archive(SEG(8)), { instanceOf: WalArchiveError });
  t.is(error?.code, 'PGHERD_WAL_ARCHIVE_FAILED');
  t.regex(error!.message, /ENOENT.*pg_wal\/000000010000000000000008/);
});

test('read-ahead: the next ready segments upload in the background, and their requests then return without a second upload', async (t) => {
  const s = await setup(t, { parallel: 2, readAhead: 3 }, async (pgdata) => {
    for (let n = 1; n <= 6; n += 1) await pgdata.add(SEG(n), walLikeSegment(`ra-${n}`));
  });
  t.is(await s.archiver.readyCount(), 6);
  await s.archiver.archive(SEG(1));
  // The three after SEG(1) arrive without being asked for; SEG(5) and SEG(6) are beyond the window.
  await until('read-ahead uploads', () => [2, 3, 4].every((n) => s.store.count('put', walKey(CLUSTER, SEG(n))) === 1) && s.archiver.stats().inFlight === 0);
  for (const n of [2, 3, 4]) t.true(gunzipSync(await stored(s, SEG(n))).equals(walLikeSegment(`ra-${n}`)));
  t.is(await s.dirStore.head(walKey(CLUSTER, SEG(5))), undefined);
  t.is(s.archiver.stats().archivedFiles, 4);
  // PostgreSQL moves on: SEG(1) done — the window moves to SEG(5) at once, no request needed — and SEG(2) asked for: answered from the read-ahead.
  await s.pgdata.markDone(SEG(1));
  await until('SEG(5) read ahead', () => s.store.count('put', walKey(CLUSTER, SEG(5))) === 1 && s.archiver.stats().inFlight === 0);
  t.deepEqual(await s.archiver.archive(SEG(2)), { kind: 'uploaded', name: SEG(2), sizeBytes: SEGMENT_BYTES, storedBytes: (await stored(s, SEG(2))).length });
  t.true(s.lines.some((l) => l.event === 'wal.read_ahead_hit' && l.fields.name === SEG(2)));
  t.is(s.store.count('put', walKey(CLUSTER, SEG(6))), 0);
  t.is(s.store.calls.head.filter((k) => k === walKey(CLUSTER, SEG(2))).length, 1, 'no second look at SEG(2) either');
  for (const n of [2, 3, 4, 5]) t.is(s.store.count('put', walKey(CLUSTER, SEG(n))), 1);
  t.is(await s.archiver.readyCount(), 5);
});

test('read-ahead takes timeline history files first, as PostgreSQL does', async (t) => {
  const s = await setup(t, { readAhead: 1 }, async (pgdata) => {
    await pgdata.add(SEG(0x10), walLikeSegment('h-10'));
    await pgdata.add(SEG(0x11), walLikeSegment('h-11'));
    await pgdata.add('00000002.history', Buffer.from('1\t0/10000A0\tno recovery target specified\n'));
  });
  await s.archiver.archive(SEG(0x10));
  await until('the history file read ahead', () => s.store.count('put', walKey(CLUSTER, '00000002.history')) === 1 && s.archiver.stats().inFlight === 0);
  t.is(s.store.count('put', walKey(CLUSTER, SEG(0x11))), 0);
});

test('a request for a segment whose read-ahead is still uploading waits for that upload', async (t) => {
  let open!: () => void;
  const s = await setup(t, { parallel: 1, readAhead: 2 }, async (pgdata, store) => {
    store.putGate = new Promise((resolve) => {
      open = resolve;
    });
    for (let n = 0x20; n <= 0x22; n += 1) await pgdata.add(SEG(n), walLikeSegment(`w-${n}`));
  });
  const first = s.archiver.archive(SEG(0x20));
  await until('first put started', () => s.store.calls.put.length === 1);
  const second = s.archiver.archive(SEG(0x21));
  t.is(s.archiver.stats().inFlight, 3);
  open();
  s.store.putGate = undefined;
  t.is((await first).kind, 'uploaded');
  t.is((await second).kind, 'uploaded');
  await until('all settled', () => s.archiver.stats().inFlight === 0);
  for (let n = 0x20; n <= 0x22; n += 1) t.is(s.store.count('put', walKey(CLUSTER, SEG(n))), 1);
});

test('a failed background upload is not remembered: the request tries again (and only requests count failures)', async (t) => {
  const failing = walKey(CLUSTER, SEG(0x31));
  const s = await setup(t, { readAhead: 2 }, async (pgdata, store) => {
    store.failPut = (key) => (key === failing ? 'connection reset' : undefined);
    for (let n = 0x30; n <= 0x32; n += 1) await pgdata.add(SEG(n), walLikeSegment(`f-${n}`));
  });
  await s.archiver.archive(SEG(0x30));
  await until('both read-aheads settled', () => s.archiver.stats().inFlight === 0 && s.store.count('put', walKey(CLUSTER, SEG(0x32))) === 1);
  // Not tried again by the scans that follow (a back-off of seconds), only by the request.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(s.store.count('put', failing), 1);
  t.like(s.archiver.stats(), { failures: 0, lastError: null });
  t.true(s.lines.some((l) => l.level === 'debug' && l.event === 'wal.read_ahead_failed' && l.fields.name === SEG(0x31)));
  s.store.failPut = undefined;
  await s.pgdata.markDone(SEG(0x30));
  t.is((await s.archiver.archive(SEG(0x31))).kind, 'uploaded');
  t.is(s.store.count('put', failing), 2);
  t.true(gunzipSync(await stored(s, SEG(0x31))).equals(walLikeSegment(`f-${0x31}`)));
  await s.pgdata.markDone(SEG(0x31));
  t.is((await s.archiver.archive(SEG(0x32))).kind, 'uploaded');
  t.is(s.store.count('put', walKey(CLUSTER, SEG(0x32))), 1);
});

test('a read-ahead result is not trusted once pg_wal holds another file under that name', async (t) => {
  const s = await setup(t, { readAhead: 1 });
  await s.pgdata.add(SEG(0x40), walLikeSegment('s-40'));
  await s.pgdata.add(SEG(0x41), walLikeSegment('s-41'));
  await s.archiver.archive(SEG(0x40));
  await until('read-ahead of 0x41', () => s.store.count('put', walKey(CLUSTER, SEG(0x41))) === 1 && s.archiver.stats().inFlight === 0);
  await s.pgdata.add(SEG(0x41), walLikeSegment('s-41-rewound'));
  await t.throwsAsync(s.archiver.archive(SEG(0x41)), { instanceOf: WalConflictError });
  t.true(s.lines.some((l) => l.event === 'wal.read_ahead_stale' && l.fields.name === SEG(0x41)));
});

test('readyCount counts .ready markers (0 without archive_status)', async (t) => {
  const s = await setup(t, { readAhead: 0 });
  t.is(await s.archiver.readyCount(), 0);
  await s.pgdata.add(SEG(0x50), Buffer.alloc(16));
  await s.pgdata.add(SEG(0x51), Buffer.alloc(16), false);
  await s.pgdata.add('00000003.history', Buffer.from('2\t0/5000000\treason\n'));
  t.is(await s.archiver.readyCount(), 2);
  const elsewhere = new WalArchiver({ store: s.store, cluster: CLUSTER, pgdata: join(s.pgdata.root, 'missing') });
  t.teardown(() => elsewhere.close());
  t.is(await elsewhere.readyCount(), 0);
});

test('options are checked, naming the option', (t) => {
  const store = new LocalStoreAt('/nonexistent');
  const base = { store, cluster: CLUSTER, pgdata: '/data' };
  const cases: Array<[Partial<WalArchiverOptions>, RegExp]> = [
    [{ pgdata: 'data' }, /WalArchiver\.pgdata/],
    [{ cluster: 'a/b' }, /WalArchiver\.cluster/],
    [{ cluster: '..' }, /WalArchiver\.cluster/],
    [{ parallel: 0 }, /WalArchiver\.parallel: expected an integer from 1 to 32, got 0/],
    [{ readAhead: 65 }, /WalArchiver\.readAhead/],
    [{ gzipLevel: 10 }, /WalArchiver\.gzipLevel/],
    [{ compression: 'zstd' as 'gzip' }, /WalArchiver\.compression/],
    [{ scanIntervalMs: 0 }, /WalArchiver\.scanIntervalMs/],
    [{ archivedDir: 'spool' }, /WalArchiver\.archivedDir/],
  ];
  for (const [options, message] of cases) t.throws(() => new WalArchiver({ ...base, ...options }), { instanceOf: ConfigError, message });
});

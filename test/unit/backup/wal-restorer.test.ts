import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { WalArchiver } from '../../../src/backup/wal-archiver.js';
import { WalCorruptError, WalNameError, WalRestoreError } from '../../../src/backup/wal-errors.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { sha256Hex } from '../../../src/backup/wal-object.js';
import { WalRestorer, type RestoreResult, type WalRestorerOptions } from '../../../src/backup/wal-restorer.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { InstrumentedStore } from '../../helpers/instrumented-store.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { until } from '../../helpers/wait.js';
import { FakePgdata, tempDir, walLikeSegment } from '../../helpers/wal-fixture.js';

const CLUSTER = 'c1';
const SEG = (n: number): string => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
const bytesOf = (n: number): Buffer => walLikeSegment(`r-${n}`, 256 * 1024, 256 * 1024);

interface Setup {
  readonly dirStore: LocalStoreAt;
  readonly store: InstrumentedStore;
  readonly restorer: WalRestorer;
  readonly spoolDir: string;
  readonly lines: LogLine[];
  /** Archive files into the store with the real archiver. */
  archive(files: Array<[string, Buffer]>, compression?: 'gzip' | 'none'): Promise<void>;
}

async function setup(t: ExecutionContext, options: Partial<WalRestorerOptions> = {}): Promise<Setup> {
  const dirStore = new LocalStoreAt(await tempDir(t, 'store'));
  const store = new InstrumentedStore(dirStore);
  const spoolDir = join(await tempDir(t, 'agent'), 'spool');
  const lines: LogLine[] = [];
  const restorer = await WalRestorer.open({ store, cluster: CLUSTER, spoolDir, logger: recordingLogger(lines), ...options });
  t.teardown(() => restorer.close());
  const pgdata = await FakePgdata.create(t);
  const archive = async (files: Array<[string, Buffer]>, compression: 'gzip' | 'none' = 'gzip'): Promise<void> => {
    const archiver = new WalArchiver({ store: dirStore, cluster: CLUSTER, pgdata: pgdata.root, compression, readAhead: 0 });
    for (const [name, bytes] of files) {
      await pgdata.add(name, bytes, false);
      await archiver.archive(name);
    }
  };
  return { dirStore, store, restorer, spoolDir, lines, archive };
}

async function found(t: ExecutionContext, result: RestoreResult): Promise<Buffer> {
  if (result.kind !== 'found') {
    t.fail(`expected found, got ${result.kind}`);
    return Buffer.alloc(0);
  }
  const bytes = await readFile(result.path);
  t.is(bytes.length, result.sizeBytes);
  return bytes;
}

test('round trip: archived segments come back byte for byte, gzip or not', async (t) => {
  const s = await setup(t, { prefetch: 0 });
  await s.archive([[SEG(1), bytesOf(1)], [SEG(2), bytesOf(2)]]);
  await s.archive([[SEG(3), bytesOf(3)]], 'none');
  for (const n of [1, 2, 3]) t.true((await found(t, await s.restorer.restore(SEG(n)))).equals(bytesOf(n)), SEG(n));
  t.like(s.restorer.stats(), { restoredFiles: 3, restoredBytes: 3 * bytesOf(1).length, missing: 0, failures: 0, lastRestoredName: SEG(3) });
});

test('a file the archive does not hold is missing (and counted as such)', async (t) => {
  const s = await setup(t);
  t.deepEqual(await s.restorer.restore(SEG(9)), { kind: 'missing' });
  t.deepEqual(await s.restorer.restore('00000005.history'), { kind: 'missing' });
  t.like(s.restorer.stats(), { missing: 2, failures: 0 });
  t.deepEqual(await readdir(s.spoolDir), []);
});

test('prefetch: serving a segment fetches the next ones; their requests are answered from the spool', async (t) => {
  const s = await setup(t, { prefetch: 3 });
  await s.archive([1, 2, 3, 4, 5, 6].map((n) => [SEG(n), bytesOf(n)]));
  t.true((await found(t, await s.restorer.restore(SEG(1)))).equals(bytesOf(1)));
  const getsOf = (n: number): number => s.store.count('get', walKey(CLUSTER, SEG(n)));
  await until('prefetch of 2..4', () => getsOf(2) === 1 && getsOf(3) === 1 && getsOf(4) === 1);
  t.is(getsOf(5), 0, 'beyond the window');
  t.true((await found(t, await s.restorer.restore(SEG(2)))).equals(bytesOf(2)));
  t.is(getsOf(2), 1, 'served from the prefetch');
  await until('window moved to 5', () => getsOf(5) === 1);
  t.true((await found(t, await s.restorer.restore(SEG(3)))).equals(bytesOf(3)));
  t.is(getsOf(3), 1);
  t.like(s.restorer.stats(), { restoredFiles: 3, prefetchHits: 2 });
  // Spool files before the last requested segment are removed; the current one and the window stay.
  await until('older spool files removed', () => !existsSync(join(s.spoolDir, SEG(1))) && !existsSync(join(s.spoolDir, SEG(2))));
  t.true(existsSync(join(s.spoolDir, SEG(3))));
  await until('window 4..6 spooled', () => [4, 5, 6].every((n) => existsSync(join(s.spoolDir, SEG(n)))));
});

test('a missing next segment stops the prefetch chain after one lookup', async (t) => {
  const s = await setup(t, { prefetch: 4 });
  await s.archive([[SEG(1), bytesOf(1)]]);
  await found(t, await s.restorer.restore(SEG(1)));
  await until('lookup of 2', () => s.store.count('head', walKey(CLUSTER, SEG(2))) === 1);
  await s.restorer.close();
  for (const n of [3, 4, 5]) t.is(s.store.count('head', walKey(CLUSTER, SEG(n))), 0, SEG(n));
  // A missing prefetch is not remembered: once archived, the request finds it.
  await s.archive([[SEG(2), bytesOf(2)]]);
  t.true((await found(t, await s.restorer.restore(SEG(2)))).equals(bytesOf(2)));
});

test('a corrupted object is an error naming the key and both digests, and is never served', async (t) => {
  const s = await setup(t, { prefetch: 0 });
  await s.archive([[SEG(1), bytesOf(1)]], 'none');
  const key = walKey(CLUSTER, SEG(1));
  const path = s.dirStore.objectPath(key);
  const damaged = Buffer.from(await readFile(path));
  damaged[1000] ^= 0xff;
  await writeFile(path, damaged);
  const error = await t.throwsAsync(s.restorer.restore(SEG(1)), { instanceOf: WalCorruptError });
  t.is(error?.code, 'PGHERD_WAL_CORRUPT');
  t.true(error!.message.includes(key));
  t.true(error!.message.includes(sha256Hex(bytesOf(1))));
  t.true(error!.message.includes(sha256Hex(damaged)));
  t.deepEqual(await readdir(s.spoolDir), [], 'no spool file, not even a temporary one');
  t.true(s.lines.some((l) => l.level === 'error' && l.event === 'wal.restore_corrupt'));
  t.like(s.restorer.stats(), { failures: 1, restoredFiles: 0 });
});

test('a damaged gzip object is an error too (gzip data or its CRC)', async (t) => {
  const s = await setup(t, { prefetch: 0 });
  await s.archive([[SEG(2), bytesOf(2)]]);
  const path = s.dirStore.objectPath(walKey(CLUSTER, SEG(2)));
  const damaged = Buffer.from(await readFile(path));
  for (let at = 100; at < damaged.length - 8; at += 997) damaged[at] ^= 0x55;
  await writeFile(path, damaged);
  await t.throwsAsync(s.restorer.restore(SEG(2)), { instanceOf: WalCorruptError, message: /c1\/wal\/000000010000000000000002 is corrupt/ });
  // The same object fetched by prefetch is not served either.
  const withPrefetch = await setup(t, { prefetch: 2 });
  await withPrefetch.archive([[SEG(1), bytesOf(1)], [SEG(2), bytesOf(2)]]);
  await writeFile(withPrefetch.dirStore.objectPath(walKey(CLUSTER, SEG(2))), damaged);
  await found(t, await withPrefetch.restorer.restore(SEG(1)));
  await until('prefetch attempt of 2', () => withPrefetch.lines.some((l) => l.event === 'wal.prefetch_failed'));
  await t.throwsAsync(withPrefetch.restorer.restore(SEG(2)), { instanceOf: WalCorruptError });
});

test('timeline history files are fetched directly, and released after serving', async (t) => {
  const s = await setup(t);
  const history = Buffer.from('1\t0/3000000\tno recovery target specified\n');
  await s.archive([['00000002.history', history]]);
  const result = await s.restorer.restore('00000002.history');
  t.true((await found(t, result)).equals(history));
  t.is(s.store.calls.head.length, 1, 'no prefetch after a history file');
  if (result.kind === 'found') await result.release();
  t.deepEqual(await readdir(s.spoolDir), []);
});

test('objects another tool wrote, without metadata, are restored (encoding read from the bytes)', async (t) => {
  const s = await setup(t, { prefetch: 0 });
  await s.dirStore.put(walKey(CLUSTER, SEG(7)), bytesOf(7));
  await s.dirStore.put(walKey(CLUSTER, SEG(8)), gzipSync(bytesOf(8)));
  t.true((await found(t, await s.restorer.restore(SEG(7)))).equals(bytesOf(7)));
  t.true((await found(t, await s.restorer.restore(SEG(8)))).equals(bytesOf(8)));
});

test('a store failure is an error naming the file and the cause; the next request succeeds', async (t) => {
  const s = await setup(t, { prefetch: 0 });
  await s.archive([[SEG(1), bytesOf(1)]]);
  s.store.failGets = 'connection reset by peer';
  const error = await t.throwsAsync(s.restorer.restore(SEG(1)), { instanceOf: WalRestoreError });
  t.regex(error!.message, new RegExp(`^restore ${SEG(1)}: .*connection reset by peer`));
  s.store.failGets = undefined;
  t.true((await found(t, await s.restorer.restore(SEG(1)))).equals(bytesOf(1)));
});

test('names that are not WAL file names are refused', async (t) => {
  const s = await setup(t);
  for (const name of ['../x', 'RECOVERYXLOG', 'pg_wal/000000010000000000000001']) await t.throwsAsync(s.restorer.restore(name), { instanceOf: WalNameError });
  t.deepEqual(s.store.calls.head, []);
});

test('open creates the spool directory 0700 and empties it', async (t) => {
  const dir = join(await tempDir(t, 'agent'), 'spool');
  const store = new LocalStoreAt(await tempDir(t, 'store'));
  const first = await WalRestorer.open({ store, cluster: CLUSTER, spoolDir: dir });
  await first.close();
  t.is((await stat(dir)).mode & 0o777, 0o700);
  await writeFile(join(dir, SEG(1)), 'left over');
  await WalRestorer.open({ store, cluster: CLUSTER, spoolDir: dir });
  t.deepEqual(await readdir(dir), []);
  await t.throwsAsync(WalRestorer.open({ store, cluster: CLUSTER, spoolDir: 'relative' }), { message: /WalRestorer\.spoolDir/ });
  await t.throwsAsync(WalRestorer.open({ store, cluster: CLUSTER, spoolDir: dir, segmentBytes: 3 }), { instanceOf: RangeError });
});

import { promises as fs } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { Level } from 'level';
import { crc32, crc32Portable } from '../../../src/lib/crc32.js';
import { PgherdError, StorageCorruptError } from '../../../src/lib/errors.js';
import type { Logger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/random.js';
import { emptySnapshot } from '../../../src/raft/core/memory-storage.js';
import { EMPTY_HARD_STATE, type Entry, type HardState, type Snapshot } from '../../../src/raft/core/types.js';
import { encodeHardState, encodeMeta, entryKey, parseEntryKey, META_MAGIC } from '../../../src/raft/driver/level-codec.js';
import { LevelLogStore, DELETES_PER_BATCH_MAX } from '../../../src/raft/driver/level-storage.js';
import { LogModel, execute, nextOperation } from '../../fixtures/level-crash-writer.js';

const ID = { nodeId: 'n1', clusterName: 'c1' };
const CONF = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };
const SRC_DIR = fileURLToPath(new URL('../../../src/', import.meta.url));

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const entry = (index: number, term: number, type: Entry['type'] = 'normal'): Entry => ({ index, term, type, data: bytes(`${index}@${term}`) });
const entries = (first: number, last: number, term: number): Entry[] => Array.from({ length: last - first + 1 }, (_, i) => entry(first + i, term));
const hs = (term: number, commit: number, vote = 'n1'): HardState => ({ term, vote, commit });
const snapshot = (index: number, term: number): Snapshot => ({ metadata: { index, term, confState: CONF }, data: bytes(`state@${index}`) });

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(join(os.tmpdir(), 'pgherd-level-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(t: ExecutionContext, path: string, identity = ID, logger?: Logger): Promise<LevelLogStore> {
  const store = await LevelLogStore.open(path, identity, logger);
  t.teardown(() => store.close());
  return store;
}

async function reopen(t: ExecutionContext, store: LevelLogStore): Promise<LevelLogStore> {
  await store.close();
  return openStore(t, store.path);
}

/** A plain LevelDB handle on the directory, for inspecting or damaging what the store wrote. */
async function withRaw<T>(path: string, use: (db: Level<string, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

const storedEntryIndexes = (path: string): Promise<number[]> =>
  withRaw(path, async (db) => (await db.keys({ gte: 'e', lt: 'f' }).all()).map((key) => parseEntryKey(key)!));

const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);

// ---- round trips ----

test('a missing directory becomes a fresh, empty store that reopens', async (t) => {
  const path = join(await tempDir(t), 'raft');
  const store = await openStore(t, path);
  t.deepEqual(await store.load(), { hardState: EMPTY_HARD_STATE, snapshot: emptySnapshot(), entries: [] });
  const again = await reopen(t, store);
  t.deepEqual(await again.load(), { hardState: EMPTY_HARD_STATE, snapshot: emptySnapshot(), entries: [] });
  await again.close();
  t.deepEqual(await withRaw(path, (db) => db.keys().all()), ['meta']);
});

test('hard state, entries and an incoming snapshot round-trip exactly through a reopen', async (t) => {
  const store = await openStore(t, await tempDir(t));
  const log = [entry(6, 2), entry(7, 3, 'conf'), { index: 8, term: 3, type: 'normal' as const, data: new Uint8Array(0) }];
  await store.save({ snapshot: snapshot(5, 2), entries: log, hardState: hs(3, 7, 'n2') });
  const expected = { hardState: hs(3, 7, 'n2'), snapshot: snapshot(5, 2), entries: log };
  t.deepEqual(await store.load(), expected);
  t.deepEqual(await (await reopen(t, store)).load(), expected);
});

test('large indexes and terms survive the codec', async (t) => {
  const store = await openStore(t, await tempDir(t));
  const base = 2 ** 40 + 3;
  await store.save({ snapshot: snapshot(base, 2 ** 33), entries: [entry(base + 1, 2 ** 33 + 1)], hardState: hs(2 ** 33 + 1, base + 1) });
  const loaded = await (await reopen(t, store)).load();
  t.deepEqual(loaded.entries, [entry(base + 1, 2 ** 33 + 1)]);
  t.is(loaded.snapshot.metadata.index, base);
  t.true(entryKey(9) < entryKey(10) && entryKey(255) < entryKey(256) && entryKey(base) < entryKey(base + 1), 'entry keys sort by index');
});

test('load() after writes returns the current state, not the one read at open', async (t) => {
  const store = await openStore(t, await tempDir(t));
  await store.save({ entries: entries(1, 3, 1), hardState: hs(1, 2) });
  t.deepEqual((await store.load()).entries.map((e) => e.index), [1, 2, 3]);
  await store.save({ entries: [entry(4, 1)] });
  t.deepEqual((await store.load()).entries.map((e) => e.index), [1, 2, 3, 4]);
});

test('entries that overwrite a conflicting suffix delete the stale tail', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ entries: entries(1, 10, 1), hardState: hs(1, 3) });
  await store.save({ entries: entries(5, 6, 2), hardState: hs(2, 3, 'n2') });
  const expected = [...entries(1, 4, 1), ...entries(5, 6, 2)];
  t.deepEqual((await store.load()).entries, expected);
  const again = await reopen(t, store);
  t.deepEqual((await again.load()).entries, expected);
  t.deepEqual(await withStoreClosed(again, () => storedEntryIndexes(dir)), range(1, 6));
});

test('an incoming snapshot replaces the whole log, including entries after its index', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ entries: entries(1, 10, 1), hardState: hs(1, 4) });
  await store.save({ snapshot: snapshot(7, 3), entries: entries(8, 9, 3), hardState: hs(3, 7) });
  const expected = { hardState: hs(3, 7), snapshot: snapshot(7, 3), entries: entries(8, 9, 3) };
  t.deepEqual(await store.load(), expected);
  const again = await reopen(t, store);
  t.deepEqual(await again.load(), expected);
  t.deepEqual(await withStoreClosed(again, () => storedEntryIndexes(dir)), [8, 9]);
});

test('an incoming snapshot beyond the last index leaves an empty log after it', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ entries: entries(1, 5, 1), hardState: hs(1, 2) });
  await store.save({ snapshot: snapshot(40, 2), entries: [], hardState: hs(2, 40) });
  const again = await reopen(t, store);
  t.deepEqual(await again.load(), { hardState: hs(2, 40), snapshot: snapshot(40, 2), entries: [] });
  t.deepEqual(await withStoreClosed(again, () => storedEntryIndexes(dir)), []);
});

test('a local snapshot keeps later entries; compact deletes only through its argument', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ entries: entries(1, 10, 1), hardState: hs(1, 8) });
  await store.saveLocalSnapshot(snapshot(6, 1));
  t.deepEqual((await store.load()).entries, entries(7, 10, 1), 'entries at or below the snapshot are no longer returned');
  t.deepEqual(await withStoreClosed(store, () => storedEntryIndexes(dir)), range(1, 10), 'but they stay until compact()');
  const reopened = await openStore(t, dir);
  t.deepEqual(await reopened.load(), { hardState: hs(1, 8), snapshot: snapshot(6, 1), entries: entries(7, 10, 1) });
  await reopened.compact(4);
  t.deepEqual(await withStoreClosed(reopened, () => storedEntryIndexes(dir)), range(5, 10));
  const third = await openStore(t, dir);
  await third.compact(6);
  await third.save({ entries: [entry(11, 1)], hardState: hs(1, 9) });
  t.deepEqual(await third.load(), { hardState: hs(1, 9), snapshot: snapshot(6, 1), entries: entries(7, 11, 1) });
  t.deepEqual(await withStoreClosed(third, () => storedEntryIndexes(dir)), range(7, 11));
});

test('deletions of many entries go in batches of at most DELETES_PER_BATCH_MAX', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  const db = (store as unknown as { db: Level<string, Uint8Array> }).db;
  await store.save({ entries: entries(1, 2500, 1), hardState: hs(1, 2400) });
  const batchSizes: number[] = [];
  db.on('write', (operations: unknown[]) => batchSizes.push(operations.length));
  await store.saveLocalSnapshot(snapshot(2400, 1));
  await store.compact(2400);
  t.deepEqual(batchSizes, [1, 1000, 1000, 400]);
  batchSizes.length = 0;
  await store.save({ snapshot: snapshot(5000, 2), entries: [], hardState: hs(2, 5000) });
  t.deepEqual(batchSizes, [2, 100], 'the snapshot and hard state in one synced batch, then the stale head (2401..2500, all below the snapshot)');
  t.deepEqual(await withStoreClosed(store, () => storedEntryIndexes(dir)), []);
  t.true(DELETES_PER_BATCH_MAX >= 100 && DELETES_PER_BATCH_MAX <= 10_000);
});

test('the stale head left by an interrupted compaction is skipped by load and removed by the next compact', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ entries: entries(1, 3000, 1), hardState: hs(1, 2900) });
  await store.saveLocalSnapshot(snapshot(2900, 1));
  await store.close();
  // A crash part-way through compact(2900): the oldest 1000 entries are gone, the rest of the head is not.
  await withRaw(dir, (db) => db.batch(range(1, 1000).map((i) => ({ type: 'del' as const, key: entryKey(i) }))));
  const reopened = await openStore(t, dir);
  t.deepEqual((await reopened.load()).entries, entries(2901, 3000, 1));
  await reopened.compact(2900);
  t.deepEqual(await withStoreClosed(reopened, () => storedEntryIndexes(dir)), range(2901, 3000));
});

test('seeded random operations: after each reopen load() equals the model', async (t) => {
  const dir = await tempDir(t);
  const rng = new SeededRng(7);
  const model = new LogModel();
  let store = await openStore(t, dir);
  for (let step = 1; step <= 400; step++) {
    const op = nextOperation(rng, model);
    await execute(store, op);
    model.apply(op);
    if (step % 50 === 0) {
      store = await reopen(t, store);
      t.deepEqual(await store.load(), model.view(), `after step ${step}`);
    }
  }
});

test('open logs one info line with path, first and last index and term', async (t) => {
  const lines: Array<{ fields: Record<string, unknown>; event: string; bindings: Record<string, unknown> }> = [];
  const capture = (bindings: Record<string, unknown>): Logger => ({
    debug() {},
    info: (fields, event) => lines.push({ fields, event, bindings }),
    warn() {},
    error() {},
    child: (more) => capture({ ...bindings, ...more }),
  });
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  await store.save({ snapshot: snapshot(4, 2), entries: entries(5, 9, 2), hardState: hs(2, 6) });
  await store.close();
  await openStore(t, dir, ID, capture({}));
  t.is(lines.length, 1);
  t.is(lines[0]!.event, 'raft.logOpened');
  t.like(lines[0]!.fields, { path: dir, created: false, firstIndex: 5, lastIndex: 9, snapshotIndex: 4, term: 2, commit: 6 });
  t.like(lines[0]!.bindings, { component: 'raft-log', node: 'n1' });
});

// ---- refusing what is not ours or not intact ----

async function rejectsCorrupt(t: ExecutionContext, path: string, mentions: RegExp, identity = ID): Promise<void> {
  const error = await t.throwsAsync(LevelLogStore.open(path, identity), { instanceOf: StorageCorruptError });
  t.is(error?.code, 'PGHERD_STORAGE_CORRUPT');
  t.is((error as StorageCorruptError | undefined)?.path, path);
  t.true(error?.message.startsWith(`${path}: `), error?.message);
  t.regex(error?.message ?? '', mentions);
}

async function storeWithLog(t: ExecutionContext): Promise<string> {
  const dir = await tempDir(t);
  const store = await LevelLogStore.open(dir, ID);
  await store.save({ snapshot: snapshot(2, 1), entries: entries(3, 6, 1), hardState: hs(1, 5) });
  await store.close();
  return dir;
}

test('a store of another node or another cluster is rejected', async (t) => {
  const dir = await storeWithLog(t);
  await rejectsCorrupt(t, dir, /belongs to node 'n1', not 'n2'/, { nodeId: 'n2', clusterName: 'c1' });
  await rejectsCorrupt(t, dir, /belongs to cluster 'c1', not 'other'/, { nodeId: 'n1', clusterName: 'other' });
  t.is((await (await openStore(t, dir)).load()).entries.length, 4, 'and left intact');
});

test('a foreign LevelDB is rejected and left untouched', async (t) => {
  const dir = await tempDir(t);
  await withRaw(dir, (db) => db.batch([{ type: 'put', key: 'users/1', value: bytes('alice') }, { type: 'put', key: 'users/2', value: bytes('bob') }]));
  await rejectsCorrupt(t, dir, /no 'meta' record .*users\/1.*foreign LevelDB/);
  t.deepEqual(await withRaw(dir, (db) => db.keys().all()), ['users/1', 'users/2']);
});

test('a LevelDB with a meta record of another format is rejected', async (t) => {
  const dir = await tempDir(t);
  const meta = (formatVersion: number, magic = META_MAGIC): Uint8Array => encodeMeta({ magic, formatVersion, ...ID });
  await withRaw(dir, (db) => db.put('meta', meta(2)));
  await rejectsCorrupt(t, dir, /format version 2 is not supported/);
  await withRaw(dir, (db) => db.put('meta', meta(1, 'someone-else')));
  await rejectsCorrupt(t, dir, /magic is 'someone-else'/);
});

test('an empty LevelDB (a crash before the meta record was written) opens as a fresh store', async (t) => {
  const dir = await tempDir(t);
  await withRaw(dir, async () => undefined);
  const store = await openStore(t, dir);
  t.deepEqual((await store.load()).entries, []);
});

test('a directory with garbage files is rejected without writing into it', async (t) => {
  const dir = await tempDir(t);
  await fs.writeFile(join(dir, 'notes.txt'), 'not a database');
  await fs.writeFile(join(dir, '000005.ldb'), 'looks like LevelDB but has no CURRENT');
  await rejectsCorrupt(t, dir, /holds 2 file\(s\) .*no LevelDB database \(no CURRENT file\)/);
  t.deepEqual((await fs.readdir(dir)).sort(), ['000005.ldb', 'notes.txt']);
});

test('a path that is a file is rejected', async (t) => {
  const file = join(await tempDir(t), 'raft');
  await fs.writeFile(file, 'x');
  await rejectsCorrupt(t, file, /is not a directory/);
});

test('a flipped byte in any stored value is detected by its checksum', async (t) => {
  const dir = await storeWithLog(t);
  for (const key of ['meta', 'hs', 'snap', entryKey(3), entryKey(6)]) {
    const original = await withRaw(dir, (db) => db.get(key));
    const damaged = new Uint8Array(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x10;
    await withRaw(dir, (db) => db.put(key, damaged));
    await rejectsCorrupt(t, dir, new RegExp(`record '${key}': checksum mismatch`));
    await withRaw(dir, (db) => db.put(key, original));
  }
  t.is((await (await openStore(t, dir)).load()).entries.length, 4, 'restored values open again');
});

test('a truncated value and a value under the wrong key are detected', async (t) => {
  const dir = await storeWithLog(t);
  const value = await withRaw(dir, (db) => db.get(entryKey(4)));
  await withRaw(dir, (db) => db.put(entryKey(4), value.subarray(0, 3)));
  await rejectsCorrupt(t, dir, /record 'e0000000000000004': value is 3 bytes/);
  await withRaw(dir, (db) => db.put(entryKey(4), value.subarray(0, value.length - 2)));
  await rejectsCorrupt(t, dir, /record 'e0000000000000004': checksum mismatch/);
  await withRaw(dir, (db) => db.put(entryKey(4), value));
  const other = await withRaw(dir, (db) => db.get(entryKey(5)));
  await withRaw(dir, (db) => db.put(entryKey(4), other));
  await rejectsCorrupt(t, dir, /record 'e0000000000000004': checksum mismatch/);
});

test('a gap in the log is detected', async (t) => {
  const dir = await storeWithLog(t);
  await withRaw(dir, (db) => db.del(entryKey(4)));
  await rejectsCorrupt(t, dir, /the log: is not contiguous: entry 5 follows entry 3/);
});

test('a hard state whose commit is beyond the last index is detected', async (t) => {
  const dir = await storeWithLog(t);
  await withRaw(dir, (db) => db.put('hs', encodeHardState(hs(1, 7))));
  await rejectsCorrupt(t, dir, /hard state commit 7 is beyond the last log index 6/);
});

test('an unknown key is detected', async (t) => {
  const dir = await storeWithLog(t);
  await withRaw(dir, (db) => db.put('zz', bytes('?')));
  await rejectsCorrupt(t, dir, /record 'zz': is not a key of the pgherd Raft log format/);
});

test('a second open of the same directory says it is in use by another process', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  const error = await t.throwsAsync(LevelLogStore.open(dir, ID), { instanceOf: PgherdError });
  t.is(error?.code, 'PGHERD_STORAGE_LOCKED');
  t.is(error?.message, `${dir}: in use by another process (the LevelDB lock is held); stop the other pgherd agent or use another data directory`);
  await store.save({ entries: [entry(1, 1)], hardState: hs(1, 1) });
  t.is((await store.load()).entries.length, 1, 'the first handle keeps working');
});

// ---- misuse is a bug ----

test('writes that would leave an inconsistent log are assertion failures and change nothing', async (t) => {
  const store = await openStore(t, await tempDir(t));
  await store.save({ snapshot: snapshot(2, 1), entries: entries(3, 5, 1), hardState: hs(1, 4) });
  const bug = { code: 'PGHERD_ASSERTION_FAILED' };
  await t.throwsAsync(store.save({ entries: [entry(7, 1)] }), { ...bug, message: /gap after the last index 5/ });
  await t.throwsAsync(store.save({ entries: [entry(2, 1)] }), { ...bug, message: /at or below the snapshot index 2/ });
  await t.throwsAsync(store.save({ entries: [entry(6, 1), entry(8, 1)] }), { ...bug, message: /not contiguous/ });
  await t.throwsAsync(store.save({ entries: [entry(6, 2)] }), { ...bug, message: /hard state term 1 is below the last log term 2/ });
  await t.throwsAsync(store.save({ entries: [], hardState: hs(1, 9) }), { ...bug, message: /commit 9 is beyond the last log index 5/ });
  await t.throwsAsync(store.save({ entries: [], snapshot: snapshot(1, 1) }), { ...bug, message: /older than the stored one at 2/ });
  await t.throwsAsync(store.saveLocalSnapshot(snapshot(5, 1)), { ...bug, message: /beyond the durable commit index 4/ });
  await t.throwsAsync(store.compact(3), { ...bug, message: /beyond the stored snapshot at 2/ });
  t.deepEqual(await store.load(), { hardState: hs(1, 4), snapshot: snapshot(2, 1), entries: entries(3, 5, 1) });
});

test('operations after close are rejected; close is idempotent', async (t) => {
  const store = await openStore(t, await tempDir(t));
  await store.close();
  await store.close();
  await t.throwsAsync(store.load(), { code: 'PGHERD_ASSERTION_FAILED', message: /is closed/ });
});

test('the Raft log never uses clear(): no source file clears a db, and files that use LevelDB call no clear() at all', async (t) => {
  const files = await sourceFiles(SRC_DIR);
  const levelUsers: string[] = [];
  for (const file of files) {
    const text = await fs.readFile(file, 'utf8');
    t.notRegex(text, /\bdb\??\.clear\s*\(/, `${file} clears a database`);
    if (!/from '(level|classic-level|abstract-level)'/.test(text)) continue;
    levelUsers.push(file.slice(SRC_DIR.length));
    t.notRegex(text, /\.clear\s*\(/, `${file} calls clear()`);
  }
  t.true(levelUsers.includes(join('raft', 'driver', 'level-storage.ts')), `found ${levelUsers.join(', ')}`);
});

test('crc32: the portable table matches zlib and the standard check value', (t) => {
  t.is(crc32Portable(bytes('123456789')), 0xcbf43926);
  t.is(crc32(bytes('123456789')), 0xcbf43926);
  const data = bytes('pgherd '.repeat(100));
  t.is(crc32Portable(data.subarray(300), crc32Portable(data.subarray(0, 300))), crc32(data));
});

async function withStoreClosed<T>(store: LevelLogStore, read: () => Promise<T>): Promise<T> {
  await store.close();
  return read();
}

async function sourceFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const dirent of await fs.readdir(dir, { withFileTypes: true })) {
    const path = join(dir, dirent.name);
    if (dirent.isDirectory()) found.push(...(await sourceFiles(path)));
    else if (path.endsWith('.ts')) found.push(path);
  }
  return found;
}

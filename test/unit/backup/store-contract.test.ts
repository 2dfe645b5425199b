/**
 * The ObjectStore contract (src/backup/store.ts), run against both
 * implementations: the local directory store and the S3 store on s3rver (a
 * real S3-protocol server; test/helpers/s3rver.ts). Every test title starts
 * with the implementation's name. What only one implementation can show
 * lives in store-local.test.ts and store-s3.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { openStore } from '../../../src/backup/open-store.js';
import { StoreError, type ObjectInfo, type ObjectStore, type StoreErrorReason } from '../../../src/backup/store.js';
import { AssertionFailedError } from '../../../src/lib/errors.js';
import { s3TestSettings, startS3rver, type S3rverHandle } from '../../helpers/s3rver.js';

const MIB = 1024 * 1024;

interface Subject {
  readonly name: 'local' | 's3';
  /** A new, empty store, closed (and its directory removed) at teardown. */
  open(t: ExecutionContext): Promise<ObjectStore>;
  /** A store whose bucket or directory does not exist, and the name its errors must mention. */
  openMissing(t: ExecutionContext): Promise<{ store: ObjectStore; missing: string }>;
}

let s3: S3rverHandle | undefined;
test.before(async () => {
  s3 = await startS3rver();
});
test.after.always(async () => {
  await s3?.close();
});

let storeCount = 0;
const subjects: Subject[] = [
  {
    name: 'local',
    async open(t) {
      const dir = await mkdtemp(join(tmpdir(), 'pgherd-store-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      return openStore({ kind: 'local', path: dir });
    },
    async openMissing(t) {
      const parent = await mkdtemp(join(tmpdir(), 'pgherd-store-'));
      t.teardown(() => rm(parent, { recursive: true, force: true }));
      const missing = join(parent, 'typo');
      return { store: openStore({ kind: 'local', path: missing }), missing };
    },
  },
  {
    name: 's3',
    async open(t) {
      // One server per file; each test gets its own prefix in the one bucket.
      const store = openStore(s3TestSettings(s3!.endpoint, s3!.bucket, `t${++storeCount}`));
      t.teardown(() => store.close());
      return store;
    },
    async openMissing(t) {
      const store = openStore(s3TestSettings(s3!.endpoint, 'no-such-bucket', 'p'));
      t.teardown(() => store.close());
      return { store, missing: 'no-such-bucket' };
    },
  },
];

/** Asserts that `promise` rejects with a StoreError of `reason` whose message contains every one of `mentions`. */
async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, reason: StoreErrorReason, mentions: string[] = []): Promise<StoreError> {
  const error = await t.throwsAsync(promise, { instanceOf: StoreError });
  t.is(error?.reason, reason, error?.message);
  t.is(error?.code, `PGHERD_STORE_${reason}`);
  for (const m of mentions) t.true(error?.message.includes(m), `"${error?.message}" should mention ${m}`);
  return error!;
}

async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `data` as a stream of 1 MiB chunks (smaller at the end). */
function streamOf(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += MIB) yield data.subarray(at, at + MIB);
    })(),
  );
}

/** `bytes` of data, then an error: a source file that became unreadable halfway. */
function failingStream(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytes; sent += MIB) yield randomBytes(Math.min(MIB, bytes - sent));
      throw new Error('source read failed (test)');
    })(),
  );
}

for (const subject of subjects) {
  const { name } = subject;

  test(`${name}: put then get and getBuffer return the same bytes, for Buffer, stream and empty bodies`, async (t) => {
    const store = await subject.open(t);
    const buffer = randomBytes(3000);
    const streamed = randomBytes(2 * MIB + 17);
    await store.put('c/wal/000000010000000000000001.gz', buffer);
    await store.put('c/wal/000000010000000000000002.gz', streamOf(streamed));
    await store.put('c/empty', Buffer.alloc(0));
    await store.put('c/empty-stream', Readable.from([]));
    t.deepEqual(await store.getBuffer('c/wal/000000010000000000000001.gz'), buffer);
    t.deepEqual(await readAll(await store.get('c/wal/000000010000000000000001.gz')), buffer);
    t.deepEqual(await store.getBuffer('c/wal/000000010000000000000002.gz'), streamed);
    t.deepEqual(await readAll(await store.get('c/wal/000000010000000000000002.gz')), streamed);
    t.is((await store.getBuffer('c/empty')).length, 0);
    t.is((await readAll(await store.get('c/empty-stream'))).length, 0);
    t.is((await store.head('c/empty'))?.size, 0);
  });

  test(`${name}: a 20 MiB stream round trips (multipart on S3)`, async (t) => {
    const store = await subject.open(t);
    const data = randomBytes(20 * MIB);
    await store.put('c/basebackups/b1/base.tar.gz', streamOf(data), { metadata: { sha256: 'abc' }, contentLength: data.length });
    t.is((await store.head('c/basebackups/b1/base.tar.gz'))?.size, data.length);
    t.deepEqual((await store.head('c/basebackups/b1/base.tar.gz'))?.metadata, { sha256: 'abc' });
    t.true((await store.getBuffer('c/basebackups/b1/base.tar.gz')).equals(data));
    t.true((await readAll(await store.get('c/basebackups/b1/base.tar.gz'))).equals(data));
  });

  test(`${name}: head gives size, modification time and metadata; absent keys give undefined`, async (t) => {
    const store = await subject.open(t);
    const before = Date.now();
    await store.put('c/wal/x.gz', Buffer.from('hello'), { metadata: { sha256: 'e3b0c442', 'uncompressed-bytes': '16777216' } });
    const info = await store.head('c/wal/x.gz');
    t.is(info?.key, 'c/wal/x.gz');
    t.is(info?.size, 5);
    t.deepEqual(info?.metadata, { sha256: 'e3b0c442', 'uncompressed-bytes': '16777216' });
    // S3 keeps whole seconds.
    t.true(info!.modified.getTime() >= Math.floor(before / 1000) * 1000 && info!.modified.getTime() <= Date.now() + 1000, info!.modified.toISOString());
    t.is(await store.head('c/wal/y.gz'), undefined);
    t.is(await store.head('c/wal'), undefined, 'a "directory" of objects is not an object');
    t.is(await store.head('c/wal/x.gz/deeper'), undefined);
    await store.put('c/wal/plain', Buffer.from('x'));
    t.deepEqual((await store.head('c/wal/plain'))?.metadata, {});
  });

  test(`${name}: get and getBuffer of an absent key fail with NOT_FOUND naming the store and the key`, async (t) => {
    const store = await subject.open(t);
    await store.put('c/wal/present', Buffer.from('x'));
    await rejectsWith(t, store.get('c/wal/absent.gz'), 'NOT_FOUND', ['c/wal/absent.gz', store.description]);
    await rejectsWith(t, store.getBuffer('c/wal/absent.gz'), 'NOT_FOUND', ['c/wal/absent.gz']);
    await rejectsWith(t, store.getBuffer('c/wal'), 'NOT_FOUND', ['c/wal']);
    await rejectsWith(t, store.get('c/wal/present/below'), 'NOT_FOUND', ['c/wal/present/below']);
  });

  test(`${name}: put replaces an existing object, its bytes and its metadata`, async (t) => {
    const store = await subject.open(t);
    await store.put('c/latest', Buffer.from('one'), { metadata: { generation: '1', extra: 'x' } });
    await store.put('c/latest', Buffer.from('second'), { metadata: { generation: '2' } });
    t.is((await store.getBuffer('c/latest')).toString(), 'second');
    t.deepEqual((await store.head('c/latest'))?.metadata, { generation: '2' });
    await store.put('c/latest', streamOf(Buffer.from('third, streamed')));
    t.is((await store.getBuffer('c/latest')).toString(), 'third, streamed');
    t.deepEqual((await store.head('c/latest'))?.metadata, {}, 'a put without metadata leaves none');
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/latest']);
  });

  test(`${name}: list yields exactly the keys starting with the prefix, in ascending order, with sizes and no metadata`, async (t) => {
    const store = await subject.open(t);
    const keys = ['a/b', 'a/b2/deep', 'a/bc', 'ab', 'b/x', 'c/wal/000000010000000000000001.gz', 'c/wal/000000020000000000000001.gz', 'c/wal/00000002000000000000000A.gz'];
    for (const [i, key] of [...keys].reverse().entries()) await store.put(key, Buffer.alloc(keys.length - i, 1), { metadata: { n: String(i) } });
    const list = async (prefix: string): Promise<string[]> => (await listAll(store, prefix)).map((o) => o.key);
    t.deepEqual(await list(''), keys);
    t.deepEqual(await list('a'), ['a/b', 'a/b2/deep', 'a/bc', 'ab']);
    t.deepEqual(await list('a/'), ['a/b', 'a/b2/deep', 'a/bc']);
    t.deepEqual(await list('a/b'), ['a/b', 'a/b2/deep', 'a/bc']);
    t.deepEqual(await list('a/b2'), ['a/b2/deep']);
    t.deepEqual(await list('a/b2/'), ['a/b2/deep']);
    t.deepEqual(await list('c/wal/0000'), ['c/wal/000000010000000000000001.gz', 'c/wal/000000020000000000000001.gz', 'c/wal/00000002000000000000000A.gz']);
    t.deepEqual(await list('c/wal/00000002'), ['c/wal/000000020000000000000001.gz', 'c/wal/00000002000000000000000A.gz']);
    t.deepEqual(await list('c/wal/1'), []);
    t.deepEqual(await list('nothing/here/'), []);
    t.deepEqual(await list('c/wal/000000010000000000000001.gz/'), []);
    const infos = await listAll(store, '');
    for (const info of infos) {
      t.is(info.size, keys.indexOf(info.key) + 1, info.key);
      t.deepEqual(info.metadata, {}, 'list() never returns metadata; head() does');
      t.true(info.modified instanceof Date && !Number.isNaN(info.modified.getTime()));
    }
  });

  // S3 lists in UTF-8 byte order, so "a-c" and "a.x" come before every "a/…" and "a0" after.
  // s3rver walks its directory tree instead (the "a/" subtree first): a known s3rver
  // deviation, so on s3 this test is expected to fail until s3rver sorts its listings.
  (name === 's3' ? test.failing : test)(`${name}: list orders keys by bytes across "directories" ("a-c" < "a.x" < "a/…" < "a0")${name === 's3' ? ' — fails on s3rver, which walks directories' : ''}`, async (t) => {
    const store = await subject.open(t);
    const keys = ['a-c', 'a.x', 'a/b-c', 'a/b/d', 'a/b0', 'a0'];
    for (const key of [...keys].reverse()) await store.put(key, Buffer.from(key));
    t.deepEqual((await listAll(store, '')).map((o) => o.key), keys);
    t.deepEqual((await listAll(store, 'a/b')).map((o) => o.key), ['a/b-c', 'a/b/d', 'a/b0']);
  });

  test(`${name}: list pages through and delete batches more than 1000 keys`, async (t) => {
    const store = await subject.open(t);
    const keys = Array.from({ length: 1001 }, (_, i) => `c/wal/${String(i).padStart(24, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < keys.length) {
          const key = keys[next++]!;
          await store.put(key, Buffer.from(key));
        }
      }),
    );
    await store.put('c/other', Buffer.from('stays'));
    const listed = await listAll(store, 'c/wal/');
    t.is(listed.length, keys.length);
    t.deepEqual(
      listed.map((o) => o.key),
      keys,
    );
    t.true(listed.every((o) => o.size === 30));
    await store.delete(keys);
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/other']);
  });

  test(`${name}: delete removes present keys and ignores absent and repeated ones`, async (t) => {
    const store = await subject.open(t);
    await store.put('c/wal/1', Buffer.from('1'), { metadata: { k: 'v' } });
    await store.put('c/wal/2', Buffer.from('2'));
    await store.put('c/keep', Buffer.from('k'));
    await store.delete(['c/wal/1', 'c/wal/absent', 'c/wal/1', 'never/existed/at/all']);
    await store.delete([]);
    t.is(await store.head('c/wal/1'), undefined);
    await rejectsWith(t, store.getBuffer('c/wal/1'), 'NOT_FOUND');
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/keep', 'c/wal/2']);
    await store.delete(['c/wal/2']);
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/keep']);
    // A deleted key can be written again, with fresh metadata.
    await store.put('c/wal/1', Buffer.from('again'));
    t.deepEqual((await store.head('c/wal/1'))?.metadata, {});
  });

  test(`${name}: invalid keys fail with INVALID_KEY on every method and nothing is written`, async (t) => {
    const store = await subject.open(t);
    await store.put('c/ok', Buffer.from('ok'));
    const invalid = ['../x', '/a', 'a//b', '', 'a/', 'a/..', 'a/./b', '.hidden', 'c/.tmp-0123456789abcdef', 'c/.meta-ok', 'a b', 'a\\b', 'ä', 'c/ok\n'];
    for (const key of invalid) {
      const what = JSON.stringify(key);
      await rejectsWith(t, store.put(key, Buffer.from('x')), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.put(key, Readable.from([Buffer.from('x')])), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.get(key), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.getBuffer(key), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.head(key), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.delete(['c/ok', key]), 'INVALID_KEY', [what]);
      await rejectsWith(t, store.check(key), 'INVALID_KEY', [what]);
    }
    for (const prefix of ['../x', '/a', 'a//b', 'a/../', '.', 'c/.', '.meta-', 'a b']) {
      await rejectsWith(t, listAll(store, prefix), 'INVALID_KEY', [JSON.stringify(prefix)]);
    }
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/ok'], 'nothing written, and the valid key of a refused delete batch survived');
  });

  test(`${name}: invalid metadata is a programming error, caught before anything is written`, async (t) => {
    const store = await subject.open(t);
    const invalid: Array<Record<string, string>> = [{ SHA: 'x' }, { 'a b': 'x' }, { sha: '' }, { sha: 'with space' }, { sha: 'é' }, { big: 'x'.repeat(1025) }];
    for (const metadata of invalid) {
      await t.throwsAsync(store.put('c/m', Buffer.from('x'), { metadata }), { instanceOf: AssertionFailedError }, JSON.stringify(metadata));
    }
    const many = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
    await t.throwsAsync(store.put('c/m', Buffer.from('x'), { metadata: many }), { instanceOf: AssertionFailedError, message: /2048/ });
    t.deepEqual(await listAll(store, ''), []);
  });

  test(`${name}: a body stream that fails halfway stores nothing, and leaves an older object as it was`, async (t) => {
    const store = await subject.open(t);
    await rejectsWith(t, store.put('c/wal/small', failingStream(3 * MIB)), 'UNAVAILABLE', ['c/wal/small', 'source read failed']);
    // Past the first S3 part: a multipart upload is started and must not complete.
    await rejectsWith(t, store.put('c/base/large', failingStream(20 * MIB)), 'UNAVAILABLE', ['c/base/large', 'source read failed']);
    t.is(await store.head('c/wal/small'), undefined);
    t.is(await store.head('c/base/large'), undefined);
    await store.put('c/wal/older', Buffer.from('older'), { metadata: { v: '1' } });
    await rejectsWith(t, store.put('c/wal/older', failingStream(MIB), { metadata: { v: '2' } }), 'UNAVAILABLE', ['c/wal/older']);
    t.is((await store.getBuffer('c/wal/older')).toString(), 'older');
    t.deepEqual((await store.head('c/wal/older'))?.metadata, { v: '1' });
    t.deepEqual((await listAll(store, '')).map((o) => o.key), ['c/wal/older']);
  });

  test(`${name}: a body longer or shorter than contentLength stores nothing`, async (t) => {
    const store = await subject.open(t);
    const data = randomBytes(MIB + 5);
    await rejectsWith(t, store.put('c/short', streamOf(data), { contentLength: data.length + 1 }), 'UNAVAILABLE', ['c/short', 'contentLength']);
    await rejectsWith(t, store.put('c/long', streamOf(data), { contentLength: data.length - 1 }), 'UNAVAILABLE', ['c/long', 'contentLength']);
    await rejectsWith(t, store.put('c/buffer', data, { contentLength: 7 }), 'UNAVAILABLE', ['c/buffer', 'contentLength']);
    t.deepEqual(await listAll(store, ''), []);
    await store.put('c/exact', streamOf(data), { contentLength: data.length });
    t.true((await store.getBuffer('c/exact')).equals(data));
  });

  test(`${name}: check() passes on a usable store and leaves no probe behind`, async (t) => {
    const store = await subject.open(t);
    await store.check('c/check-probe');
    await store.check('c/check-probe');
    t.deepEqual(await listAll(store, ''), []);
  });

  test(`${name}: a missing bucket or directory fails with NO_SUCH_BUCKET naming it (head says absent)`, async (t) => {
    const { store, missing } = await subject.openMissing(t);
    await rejectsWith(t, store.check('probe'), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, store.put('c/x', streamOf(randomBytes(10))), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, store.get('c/x'), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, store.getBuffer('c/x'), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, listAll(store, ''), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, listAll(store, 'c/'), 'NO_SUCH_BUCKET', [missing]);
    await rejectsWith(t, store.delete(['c/x']), 'NO_SUCH_BUCKET', [missing]);
    t.is(await store.head('c/x'), undefined);
  });
}

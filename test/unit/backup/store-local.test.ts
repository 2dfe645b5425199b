/**
 * What only the local directory store can show: its files on disk (no
 * leftovers, hidden sidecars, pruned directories), the root never being
 * created, file-system permissions, and the limits of a directory tree.
 * The shared contract is in store-contract.test.ts.
 */
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { LocalStore } from '../../../src/backup/store-local.js';
import { StoreError, type ObjectStore, type StoreErrorReason } from '../../../src/backup/store.js';
import { AssertionFailedError } from '../../../src/lib/errors.js';

const MIB = 1024 * 1024;

async function tempRoot(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-local-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every entry below `dir` (hidden ones included, symlinks not followed), as sorted relative paths. */
async function tree(dir: string, base = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = base === '' ? entry.name : `${base}/${entry.name}`;
    out.push(path);
    if (entry.isDirectory()) out.push(...(await tree(join(dir, entry.name), path)));
  }
  return out.sort();
}

async function keys(store: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, reason: StoreErrorReason, mentions: string[] = []): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: StoreError });
  t.is(error?.reason, reason, error?.message);
  for (const m of mentions) t.true(error?.message.includes(m), `"${error?.message}" should mention ${m}`);
}

function failingStream(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytes; sent += MIB) yield Buffer.alloc(Math.min(MIB, bytes - sent), 1);
      throw new Error('source read failed (test)');
    })(),
  );
}

test('an object is its file, byte for byte; metadata sits in a hidden sidecar; delete removes both and prunes emptied directories', async (t) => {
  const root = await tempRoot(t);
  const store = new LocalStore(root);
  await store.put('c/wal/000000010000000000000001.gz', Buffer.from('segment'), { metadata: { sha256: 'abc' } });
  await store.put('c/other', Buffer.from('other'));
  t.is(await readFile(join(root, 'c/wal/000000010000000000000001.gz'), 'utf8'), 'segment');
  t.deepEqual(await tree(root), ['c', 'c/other', 'c/wal', 'c/wal/.meta-000000010000000000000001.gz', 'c/wal/000000010000000000000001.gz']);
  t.deepEqual(await keys(store), ['c/other', 'c/wal/000000010000000000000001.gz']);
  await store.delete(['c/wal/000000010000000000000001.gz']);
  t.deepEqual(await tree(root), ['c', 'c/other']);
  await store.delete(['c/other']);
  t.deepEqual(await tree(root), [], 'the root stays, empty');
});

test('failed puts leave no temporary files, whatever failed', async (t) => {
  const root = await tempRoot(t);
  const store = new LocalStore(root);
  await store.put('c/keep', Buffer.from('keep'), { metadata: { v: '1' } });
  await t.throwsAsync(store.put('c/wal/a', failingStream(3 * MIB)), { instanceOf: StoreError });
  await t.throwsAsync(store.put('c/keep', failingStream(MIB), { metadata: { v: '2' } }), { instanceOf: StoreError });
  await t.throwsAsync(store.put('c/wal/b', Readable.from([Buffer.alloc(10)]), { contentLength: 11 }), { instanceOf: StoreError });
  // A rename that fails after the data and metadata were written: the target is a directory.
  await store.put('c/dir/inside', Buffer.from('x'));
  await rejectsWith(t, store.put('c/dir', Buffer.from('x'), { metadata: { v: '3' } }), 'INVALID_KEY', ['c/dir']);
  const files = await tree(root);
  t.deepEqual(files.filter((f) => f.includes('.tmp-')), [], files.join(', '));
  t.deepEqual(files, ['c', 'c/.meta-keep', 'c/dir', 'c/dir/inside', 'c/keep', 'c/wal']);
});

test('a missing root is reported and never created, not even by put', async (t) => {
  const parent = await tempRoot(t);
  const root = join(parent, 'backups');
  const store = new LocalStore(root);
  await rejectsWith(t, store.check('probe'), 'NO_SUCH_BUCKET', [root, 'does not exist', 'backup.store.path']);
  await rejectsWith(t, store.put('c/wal/x', Buffer.from('x')), 'NO_SUCH_BUCKET', [root]);
  await rejectsWith(t, store.put('x', Readable.from([Buffer.from('x')])), 'NO_SUCH_BUCKET', [root]);
  await t.throwsAsync(access(root), { code: 'ENOENT' });
  await mkdir(root);
  await store.check('probe');
  t.deepEqual(await tree(root), []);
});

test('a root that is a file is reported as not a directory', async (t) => {
  const parent = await tempRoot(t);
  const root = join(parent, 'file');
  await writeFile(root, 'x');
  const store = new LocalStore(root);
  await rejectsWith(t, store.check('probe'), 'NO_SUCH_BUCKET', [root, 'not a directory']);
  await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'NO_SUCH_BUCKET', [root]);
  await rejectsWith(t, store.getBuffer('c/x'), 'NO_SUCH_BUCKET', [root]);
});

test('an unwritable root fails check() and put() with ACCESS_DENIED', async (t) => {
  const root = await tempRoot(t);
  const store = new LocalStore(root);
  await store.put('c/old', Buffer.from('readable'));
  // Root ignores modes, so as root make the directory immutable instead: both are real refusals by the kernel.
  const asRoot = process.getuid?.() === 0;
  const lock = asRoot ? () => promisify(execFile)('chattr', ['+i', root]) : () => chmod(root, 0o555);
  const unlock = asRoot ? () => promisify(execFile)('chattr', ['-i', root]) : () => chmod(root, 0o700);
  await lock();
  t.teardown(unlock);
  try {
    await rejectsWith(t, store.check('probe'), 'ACCESS_DENIED', [root, 'probe']);
    await rejectsWith(t, store.put('new/x', Buffer.from('x')), 'ACCESS_DENIED', ['new/x']);
    await rejectsWith(t, store.put('probe', Readable.from([Buffer.from('x')])), 'ACCESS_DENIED', ['probe']);
    t.is((await store.getBuffer('c/old')).toString(), 'readable', 'reading still works');
  } finally {
    await unlock();
  }
});

test('a key cannot be both an object and a "directory" of objects; delete makes room again', async (t) => {
  const store = new LocalStore(await tempRoot(t));
  await store.put('a/b', Buffer.from('x'));
  await rejectsWith(t, store.put('a', Buffer.from('x')), 'INVALID_KEY', ['"a" and "a/…"']);
  await rejectsWith(t, store.put('a/b/c', Buffer.from('x')), 'INVALID_KEY', ['a/b/c']);
  await store.delete(['a/b']);
  await store.put('a', Buffer.from('now a file'));
  t.deepEqual(await keys(store), ['a']);
});

test('list skips what is not a key: hidden files, other names, symlinks', async (t) => {
  const root = await tempRoot(t);
  const outside = await tempRoot(t);
  await writeFile(join(outside, 'secret'), 'outside the root');
  const store = new LocalStore(root);
  await store.put('c/real', Buffer.from('x'));
  await writeFile(join(root, 'c', '.hidden'), 'x');
  await writeFile(join(root, 'c', 'with space'), 'x');
  await writeFile(join(root, '.tmp-0011223344556677'), 'x');
  await symlink(join(outside, 'secret'), join(root, 'c', 'link'));
  await symlink(outside, join(root, 'linked-dir'));
  t.deepEqual(await keys(store), ['c/real']);
  t.deepEqual(await keys(store, 'linked-dir/'), []);
  t.deepEqual(await keys(store, 'c/l'), []);
});

test('symlinks below the root are never followed: absent for reads and deletes, refused for writes', async (t) => {
  const root = await tempRoot(t);
  const outside = await tempRoot(t);
  await writeFile(join(outside, 'secret'), 'outside the root');
  const store = new LocalStore(root);
  await mkdir(join(root, 'c'));
  await symlink(join(outside, 'secret'), join(root, 'c', 'link'));
  await symlink(outside, join(root, 'linked-dir'));
  for (const key of ['c/link', 'linked-dir/secret']) {
    t.is(await store.head(key), undefined, key);
    await rejectsWith(t, store.getBuffer(key), 'NOT_FOUND', [key]);
    await rejectsWith(t, store.get(key), 'NOT_FOUND', [key]);
  }
  await rejectsWith(t, store.put('linked-dir/new', Buffer.from('x')), 'INVALID_KEY', ['symlink']);
  await rejectsWith(t, store.put('linked-dir/deeper/new', Buffer.from('x')), 'INVALID_KEY', ['symlink']);
  await store.delete(['c/link', 'linked-dir/secret']);
  t.deepEqual(await tree(outside), ['secret'], 'nothing written or deleted outside the root');
  t.deepEqual(await tree(root), ['c', 'c/link', 'linked-dir']);
  // The root itself may be a symlink (e.g. to a mounted disk).
  const viaLink = join(await tempRoot(t), 'root-link');
  await symlink(root, viaLink);
  await new LocalStore(viaLink).put('c/through-root-link', Buffer.from('ok'));
  t.is(await readFile(join(root, 'c', 'through-root-link'), 'utf8'), 'ok');
});

test('a damaged metadata sidecar is reported, naming the file', async (t) => {
  const root = await tempRoot(t);
  const store = new LocalStore(root);
  await store.put('c/x', Buffer.from('x'), { metadata: { v: '1' } });
  await writeFile(join(root, 'c', '.meta-x'), '{"v": 1');
  await rejectsWith(t, store.head('c/x'), 'UNAVAILABLE', [join(root, 'c', '.meta-x')]);
  t.is((await store.getBuffer('c/x')).toString(), 'x');
});

test('the root must be an absolute path', (t) => {
  t.throws(() => new LocalStore('backups'), { instanceOf: AssertionFailedError, message: /absolute/ });
  t.is(new LocalStore('/var/lib/pgherd/../backups').description, 'file:///var/lib/backups');
});

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { listBackups } from '../../../src/backup/backup-catalog.js';
import { backupManifestKey, backupObjectKey, basebackupsPrefix } from '../../../src/backup/backup-manifest.js';
import { takeBaseBackup, walInArchive } from '../../../src/backup/base-backup.js';
import { BackupError } from '../../../src/backup/backup-errors.js';
import { TEMP_PREFIX } from '../../../src/backup/local-files.js';
import { restoreBaseBackup } from '../../../src/backup/restore-backup.js';
import { parseLsn } from '../../../src/lib/lsn.js';
import { buildServerArgs } from '../../../src/postgres/conf.js';
import { createRoles, initdb, REPLICATION_ROLE } from '../../../src/postgres/initdb.js';
import { observe } from '../../../src/postgres/observe.js';
import { mkdirForPg, spawnIdentity } from '../../../src/postgres/os-user.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { freePort, testEnv, testNode, until, type Env, type TestNode } from '../postgres/helpers.js';

/*
 * Base backups against a real PostgreSQL 15, into a LocalStore. WAL is
 * archived by the server itself with `cp`, straight into that store's WAL
 * prefix (<root>/main/wal/<name>, where the agent's archiver would put it:
 * the agent's archiving is another component); the backup code waits for it
 * with its production check, walInArchive (a head() of the WAL key).
 */

const exec = (conn: LocalConnection, sql: string): Promise<unknown> => withConnection(conn, sql, (c) => c.query(sql));
const CHECKSUM_SQL = "SELECT count(*)::int AS n, md5(string_agg(id::text || ':' || v, ',' ORDER BY id)) AS sum FROM t";
const checksum = (conn: LocalConnection): Promise<{ n: number; sum: string }> => withConnection(conn, 'checksum', async (c) => (await c.query<{ n: number; sum: string }>(CHECKSUM_SQL)).rows[0]!);
/** Insert a marker row, switch WAL, and wait until the segment holding it is in the archive. Returns the commit's time. */
async function markAndArchive(conn: LocalConnection, inArchive: (name: string) => Promise<boolean>, marker: string): Promise<Date> {
  const row = await withConnection(conn, 'marker', async (c) => {
    await c.query('INSERT INTO t (v) VALUES ($1)', [marker]);
    const r = (await c.query<{ walfile: string; at: Date }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS walfile, clock_timestamp() AS at')).rows[0]!;
    await c.query('SELECT pg_switch_wal()');
    return r;
  });
  await until(`${row.walfile} archived`, 30_000, async () => ((await inArchive(row.walfile)) ? true : undefined));
  return row.at;
}

/**
 * Start a restored data directory with `postgres` directly (the controller's primary start would remove
 * recovery.signal), with archiving off: the copied postgresql.conf would archive its new timeline into a's
 * archive. archive_mode is agent-owned (buildServerArgs refuses it as a parameter), hence after its arguments.
 */
async function startRecovery(env: Env, node: TestNode): Promise<void> {
  const settings = node.settings();
  await mkdirForPg(env.osUser, settings.socketDir);
  const log = await open(join(env.baseDir, `${node.name}.log`), 'a');
  try {
    const child = spawn(env.binaries.path('postgres'), ['-D', node.dataDir, ...buildServerArgs(settings), '-c', 'archive_mode=off'], { ...spawnIdentity(env.osUser), cwd: '/', detached: true, stdio: ['ignore', log.fd, log.fd] });
    child.unref();
  } finally {
    await log.close();
  }
}

test('base backup under concurrent writes → restore as a standby and by point in time; corruption, a missing manifest and a failing pg_basebackup', async (t) => {
  t.timeout(300_000);
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const a = await testNode(env, 'a', su);
  const b = await testNode(env, 'b', su);
  const d = await testNode(env, 'd', su);
  nodes.push(a, b, d);
  const storeDir = join(env.baseDir, 'store');
  const archiveDir = join(storeDir, 'main', 'wal');
  await mkdirForPg(env.osUser, archiveDir);
  const store = new LocalStoreAt(storeDir);
  const walAvailable = walInArchive(store, 'main');
  const timings: Record<string, number> = {};

  // Primary a: archiving by cp (to a hidden temporary name, which is never a store key, then mv:
  // a reader never sees half a segment).
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: a.dataDir, memberCidrs: ['127.0.0.1/32'] })).superuserPassword;
  await appendFile(join(a.dataDir, 'postgresql.conf'), `\narchive_mode = on\narchive_command = 'cp %p ${archiveDir}/.cp-%f && mv ${archiveDir}/.cp-%f ${archiveDir}/%f'\n`);
  await a.controller.start(a.settings(), 'primary');
  const connA = await a.controller.connection({ statementTimeoutMs: 30_000 });
  const roles = await createRoles(connA);
  await exec(connA, 'CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)');
  await exec(connA, 'INSERT INTO t (v) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 8000) g');

  // A writer inserting in a loop while the backup runs.
  let writing = true;
  let inserted = 0;
  const writer = withConnection(connA, 'writer', async (c) => {
    while (writing) {
      await c.query("INSERT INTO t (v) SELECT repeat('w', 200) FROM generate_series(1, 20)");
      inserted += 20;
    }
  });
  await until('the writer is writing', 10_000, async () => (inserted > 0 ? true : undefined));
  const insertedBefore = inserted;
  const t0 = performance.now();
  const manifest = await takeBaseBackup({
    binaries: env.binaries,
    osUser: env.osUser,
    store,
    cluster: 'main',
    connection: { host: '127.0.0.1', port: a.port, user: REPLICATION_ROLE, password: roles.replicatorPassword },
    takenOn: 'a',
    label: 'integration',
    walWaitTimeoutMs: 60_000,
    walPollMs: 100,
  });
  timings.backup = Math.round(performance.now() - t0);
  const insertedDuring = inserted - insertedBefore;
  writing = false;
  await writer;
  t.true(insertedDuring > 0, 'rows were inserted while the backup ran');

  // The manifest's numbers.
  const obsA = await observe(connA);
  t.is(manifest.systemIdentifier, obsA.systemIdentifier.toString());
  t.true(manifest.pgVersion >= 150000 && manifest.pgVersion < 160000);
  t.is(manifest.timeline, 1);
  t.is(manifest.walSegmentBytes, 16 * 1024 * 1024);
  t.true(parseLsn(manifest.startLsn) <= parseLsn(manifest.stopLsn));
  const stored = await readFile(store.objectPath(backupObjectKey('main', manifest.id)));
  t.is(manifest.storedBytes, stored.length);
  t.is(manifest.sha256, createHash('sha256').update(stored).digest('hex'));
  t.true(manifest.dataBytes > 5 * 1024 * 1024, `dataBytes ${manifest.dataBytes}`);
  t.true(await walAvailable(manifest.startWalFile));
  t.true(await walAvailable(manifest.stopWalFile));
  t.deepEqual((await listBackups(store, 'main')).backups, [manifest]);

  // After the backup: a marker, archived.
  const marker1At = await markAndArchive(connA, walAvailable, 'marker-1');
  const source = await checksum(connA);

  // Restore as a standby replaying from the archive; it reaches the marker and the same table.
  const t1 = performance.now();
  const restored = await restoreBaseBackup({ store, cluster: 'main', backupId: manifest.id, targetDir: b.dataDir, binaries: env.binaries, osUser: env.osUser, restoreCommand: `cp ${archiveDir}/%f %p`, mode: 'standby', writeRestoreCommand: true });
  timings.restore = Math.round(performance.now() - t1);
  t.deepEqual(restored.manifest, manifest);
  await b.controller.start(b.settings(), 'standby');
  const connB = await b.controller.connection();
  const onB = await until('b replayed marker-1', 60_000, async () => {
    const c = await checksum(connB).catch(() => undefined);
    return c !== undefined && c.n === source.n ? c : undefined;
  });
  t.deepEqual(onB, source);
  t.is((await observe(connB)).role, 'replica');
  await b.controller.stop({ mode: 'fast', timeoutMs: 10_000 });

  // Point in time: restore with a target between marker-1 and marker-2; the server promotes there.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  await markAndArchive(connA, walAvailable, 'marker-2');
  await restoreBaseBackup({
    store,
    cluster: 'main',
    backupId: manifest.id,
    targetDir: d.dataDir,
    binaries: env.binaries,
    osUser: env.osUser,
    restoreCommand: `cp ${archiveDir}/%f %p`,
    mode: 'recovery',
    targetTime: new Date(marker1At.getTime() + 500),
    writeRestoreCommand: true,
  });
  t.true((await readdir(d.dataDir)).includes('recovery.signal'));
  await startRecovery(env, d);
  const promoted = await until('d promoted at the target', 60_000, async () => {
    const conn = await d.controller.connection().catch(() => undefined);
    if (conn === undefined) return undefined;
    const o = await observe(conn).catch(() => undefined);
    return o?.role === 'primary' ? { conn, o } : undefined;
  }).catch(async (error: unknown) => {
    t.log((await readFile(join(env.baseDir, 'd.log'), 'utf8').catch(() => '(no log)')).slice(-4000));
    throw error;
  });
  t.is(promoted.o.timeline, 2);
  t.deepEqual(await checksum(promoted.conn), source, 'marker-1 is there, marker-2 is not');
  await d.controller.stop({ mode: 'fast', timeoutMs: 10_000 });

  // A flipped byte in the stored object: INVALID naming both digests; the target stays empty.
  const objectPath = store.objectPath(backupObjectKey('main', manifest.id));
  const corrupt = Buffer.from(stored);
  corrupt[Math.floor(corrupt.length / 3)] ^= 0x01;
  const handle = await open(objectPath, 'r+');
  await handle.write(corrupt, 0, corrupt.length, 0);
  await handle.close();
  const cDir = join(env.baseDir, 'c', 'data');
  const invalid = await t.throwsAsync(
    restoreBaseBackup({ store, cluster: 'main', backupId: manifest.id, targetDir: cDir, binaries: env.binaries, osUser: env.osUser, restoreCommand: 'false', mode: 'standby' }),
    { instanceOf: BackupError },
  );
  t.is(invalid?.code, 'PGHERD_BACKUP_INVALID');
  t.true(invalid!.message.includes(manifest.sha256) && invalid!.message.includes(createHash('sha256').update(corrupt).digest('hex')), invalid!.message);
  t.deepEqual(await readdir(cDir), []);

  // Without its manifest the backup is not listed (it is incomplete).
  await store.delete([backupManifestKey('main', manifest.id)]);
  const catalog = await listBackups(store, 'main');
  t.deepEqual(catalog.backups, []);
  t.deepEqual(catalog.incomplete, [manifest.id]);

  // pg_basebackup failing (nothing listens on the port): FAILED with its stderr, nothing new in the store.
  const deadPort = await freePort();
  const keysBefore = await keys(store);
  const facts = { systemIdentifier: manifest.systemIdentifier, timeline: 1, pgVersion: manifest.pgVersion, walSegmentBytes: manifest.walSegmentBytes };
  const failed = await t.throwsAsync(
    takeBaseBackup({ binaries: env.binaries, osUser: env.osUser, store, cluster: 'main', connection: { host: '127.0.0.1', port: deadPort, user: REPLICATION_ROLE, password: 'x' }, takenOn: 'a', readFacts: async () => facts }),
    { code: 'PGHERD_BACKUP_FAILED' },
  );
  t.regex(failed!.message, /pg_basebackup exited with code 1: .*(Connection refused|could not connect)/s);
  t.deepEqual(await keys(store), keysBefore);
  // And with the real facts query first: it fails the same way, before pg_basebackup runs.
  await t.throwsAsync(
    takeBaseBackup({ binaries: env.binaries, osUser: env.osUser, store, cluster: 'main', connection: { host: '127.0.0.1', port: deadPort, user: REPLICATION_ROLE, password: 'x' }, takenOn: 'a' }),
    { code: 'PGHERD_BACKUP_FAILED', message: /cannot read the server's facts/ },
  );
  t.deepEqual(await keys(store), keysBefore);
  t.log({ ...timings, insertedDuring, dataBytes: manifest.dataBytes, storedBytes: manifest.storedBytes });
});

/** Every base backup key in the store (the WAL archive grows on its own); fails if an upload left a temporary file behind. */
async function keys(store: LocalStoreAt): Promise<string[]> {
  const list: string[] = [];
  for await (const info of store.list(basebackupsPrefix('main'))) list.push(info.key);
  const temporary = (await store.files()).filter((path) => path.split('/').at(-1)!.startsWith(TEMP_PREFIX));
  if (temporary.length > 0) throw new Error(`temporary upload files left behind: ${temporary.join(', ')}`);
  return list;
}

/**
 * archive_command's fast path: the archiver watches archive_status, uploads
 * ready files with no request, and leaves a marker per file it has stored
 * (wal-archived-spool.ts); the real archive_command text (wal-commands.ts)
 * run with /bin/sh -c after PostgreSQL's %-substitution, cwd = a fake
 * PGDATA, confirms from a matching marker without starting the client and
 * starts the client otherwise — a stub script that records its arguments,
 * or wal-client.pl against a real WalService. Only temporary
 * directories and unix sockets.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ArchivedSpool, fileIdentityOf, identityText } from '../../../src/backup/wal-archived-spool.js';
import { WalArchiver, type WalArchiverOptions } from '../../../src/backup/wal-archiver.js';
import { ARCHIVE_COMMAND_BYTES_MAX, clientScriptPath, expandArchiveCommand, findPerl, walCommands } from '../../../src/backup/wal-commands.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { WAL_CLIENT_TIMEOUT_ENV } from '../../../src/backup/wal-protocol.js';
import { WalRestorer } from '../../../src/backup/wal-restorer.js';
import { WalService } from '../../../src/backup/wal-service.js';
import { StorageIoError } from '../../../src/lib/errors.js';
import { commandLineSettings, parsePostmasterOpts } from '../../../src/postgres/pending.js';
import { InstrumentedStore } from '../../helpers/instrumented-store.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { until } from '../../helpers/wait.js';
import { FakePgdata, tempDir, walLikeSegment } from '../../helpers/wal-fixture.js';

const CLUSTER = 'c1';
const SEG = (n: number): string => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
/** The stub client exits with this: the command's status is the client's. */
const STUB_EXIT = 3;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { PATH: process.env.PATH, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What PostgreSQL runs for `name`: sh -c in PGDATA. */
const archiveCommand = (command: string, name: string, cwd: string, env?: NodeJS.ProcessEnv, user?: { uid: number; gid: number }): Promise<Run> =>
  run('/bin/sh', ['-c', expandArchiveCommand(command, name)], { cwd, ...(env === undefined ? {} : { env }), ...(user ?? {}) });

/** `stat -c %i.%s.%Y`, as the shell sees the file. */
async function shellIdentity(path: string): Promise<string> {
  const result = await run('stat', ['-c', '%i.%s.%Y', path], { cwd: '/' });
  return result.stdout.trim();
}

/** A stub client: records its arguments and the timeout variable, exits STUB_EXIT. */
async function stubClient(t: ExecutionContext): Promise<{ script: string; log: string; calls: () => Promise<string[]> }> {
  const dir = await tempDir(t, 'stub');
  const script = join(dir, 'client.sh');
  const log = join(dir, 'calls');
  await writeFile(script, `echo "$* timeout=\${${WAL_CLIENT_TIMEOUT_ENV}:-}" >> '${log}'\nexit ${STUB_EXIT}\n`);
  const calls = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '') : []);
  return { script, log, calls };
}

test('identityText is what `stat -c %i.%s.%Y` prints, mtime seconds included at the edge of a second', async (t) => {
  const dir = await tempDir(t, 'identity');
  const path = join(dir, 'f');
  await writeFile(path, 'x'.repeat(1234));
  for (const when of ['2023-01-01 00:00:00.999999999', '2001-09-09 01:46:40.000000001', '2030-06-15 12:00:00']) {
    const touched = await run('touch', ['-d', when, path], { cwd: dir });
    t.is(touched.code, 0, touched.stderr);
    t.is(identityText(fileIdentityOf(await stat(path, { bigint: true }))), await shellIdentity(path), when);
  }
});

test('archive_command through sh -c: a matching marker succeeds at once and is consumed; otherwise the client runs, its status is the command\'s', async (t) => {
  const stub = await stubClient(t);
  const pgdata = await FakePgdata.create(t);
  // The fixed paths hold a space, a quote and a percent sign: quoted for sh, % doubled for PostgreSQL.
  const runDir = join(await tempDir(t, 'run'), "it's 100% odd");
  await mkdir(runDir);
  const spool = new ArchivedSpool(join(runDir, '.pgherd-archived'));
  const socketPath = join(runDir, 'wal.sock');
  const command = walCommands({ perlPath: '/bin/sh', clientPath: stub.script, socketPath, archivedDir: spool.dir, clientTimeoutMs: 60000 }).archiveCommand;
  t.true(command.includes('100%% odd'));
  t.true(command.endsWith(' %f'));
  const env = { STUB: '1' };
  const name = SEG(1);
  await pgdata.add(name, walLikeSegment('fp-1'));
  const marker = join(spool.dir, name);
  const identity = fileIdentityOf(await stat(join(pgdata.walDir, name), { bigint: true }));

  // No marker: the client runs, with the timeout in its environment.
  t.deepEqual(await archiveCommand(command, name, pgdata.root, env), { code: STUB_EXIT, stdout: '', stderr: '' });
  t.deepEqual(await stub.calls(), [`archive ${socketPath} ${name} timeout=60000`]);

  // A matching marker: exit 0, the marker gone, no client started.
  await spool.write(name, identity);
  t.is(await readFile(marker, 'utf8'), await shellIdentity(join(pgdata.walDir, name)));
  t.deepEqual(await archiveCommand(command, name, pgdata.root, env), { code: 0, stdout: '', stderr: '' });
  t.false(existsSync(marker));
  t.is((await stub.calls()).length, 1);

  // Consumed once: the same file again goes to the client.
  t.is((await archiveCommand(command, name, pgdata.root, env)).code, STUB_EXIT);
  t.is((await stub.calls()).length, 2);

  // A marker for another file under the name (replaced in pg_wal): the client, and the marker is left to the agent.
  await spool.write(name, identity);
  await pgdata.add(name, walLikeSegment('fp-1-replaced'));
  t.is((await archiveCommand(command, name, pgdata.root, env)).code, STUB_EXIT);
  t.true(existsSync(marker));
  t.is((await stub.calls()).length, 3);

  // A marker but no file (stat fails), and an empty marker: the client.
  const gone = SEG(2);
  await spool.write(gone, identity);
  t.is((await archiveCommand(command, gone, pgdata.root, env)).code, STUB_EXIT);
  await writeFile(join(spool.dir, gone), '');
  t.is((await archiveCommand(command, gone, pgdata.root, env)).code, STUB_EXIT);
  t.is((await stub.calls()).length, 5);

  // An inherited v or m changes nothing.
  await pgdata.add(SEG(3), walLikeSegment('fp-3'));
  t.is((await archiveCommand(command, SEG(3), pgdata.root, { v: await shellIdentity(join(pgdata.walDir, SEG(3))), m: '/nonexistent' })).code, STUB_EXIT);
  t.is((await stub.calls()).length, 6);
});

test('archive_command text: one argument in postmaster.opts, PostgreSQL 15\'s length limit, no fast path without a marker directory', (t) => {
  const base = { perlPath: '/usr/bin/perl', clientPath: '/opt/pgherd/dist/src/backup/wal-client.pl', socketPath: '/run/pgherd/.s.pgherd-wal' };
  const fast = walCommands({ ...base, archivedDir: '/run/pgherd/.pgherd-archived' });
  t.is(
    fast.archiveCommand,
    `m='/run/pgherd/.pgherd-archived/'%f v=; { read -r v < "$m"; } 2>/dev/null; if [ -n "$v" ] && [ "$v" = "$(stat -c %%i.%%s.%%Y %p 2>/dev/null)" ] && rm "$m" 2>/dev/null; then exit 0; fi; exec '/usr/bin/perl' '/opt/pgherd/dist/src/backup/wal-client.pl' archive '/run/pgherd/.s.pgherd-wal' %f`,
  );
  // postmaster.opts quotes each argument without escaping: the command must come back whole (pending.ts).
  const opts = `/usr/lib/postgresql/15/bin/postgres "-D" "/data" "-c" "archive_command=${fast.archiveCommand}" "-c" "archive_mode=on"\n`;
  t.is(commandLineSettings(parsePostmasterOpts(opts)).get('archive_command'), fast.archiveCommand);
  t.is(walCommands(base).archiveCommand, "'/usr/bin/perl' '/opt/pgherd/dist/src/backup/wal-client.pl' archive '/run/pgherd/.s.pgherd-wal' %f");
  t.is(fast.restoreCommand, walCommands(base).restoreCommand);
  // The socket (and the marker directory beside it) fit sun_path; perl and the client may live anywhere.
  const clientPath = `/opt/${'x'.repeat(700)}/wal-client.pl`;
  t.notThrows(() => walCommands({ ...base, clientPath }));
  const error = t.throws(() => walCommands({ ...base, clientPath, archivedDir: '/run/pgherd/.pgherd-archived' }), { instanceOf: RangeError });
  t.regex(error!.message, new RegExp(`PostgreSQL takes at most ${ARCHIVE_COMMAND_BYTES_MAX}`));
});

interface Agent {
  readonly pgdata: FakePgdata;
  readonly dirStore: LocalStoreAt;
  readonly store: InstrumentedStore;
  readonly archiver: WalArchiver;
  readonly archivedDir: string;
  readonly lines: LogLine[];
}

async function agent(t: ExecutionContext, options: Partial<WalArchiverOptions> = {}, pgdata?: FakePgdata): Promise<Agent> {
  const data = pgdata ?? (await FakePgdata.create(t));
  const dirStore = new LocalStoreAt(await tempDir(t, 'store'));
  const store = new InstrumentedStore(dirStore);
  const archivedDir = join(await tempDir(t, 'run'), '.pgherd-archived');
  const lines: LogLine[] = [];
  const archiver = new WalArchiver({ store, cluster: CLUSTER, pgdata: data.root, archivedDir, scanIntervalMs: 50, logger: recordingLogger(lines), ...options });
  t.teardown(() => archiver.close());
  return { pgdata: data, dirStore, store, archiver, archivedDir, lines };
}

test('the watch uploads ready files with no request and leaves a marker holding each file\'s identity', async (t) => {
  const a = await agent(t, { parallel: 2, readAhead: 2 });
  for (let n = 1; n <= 4; n += 1) await a.pgdata.add(SEG(n), walLikeSegment(`w-${n}`));
  // readAhead 2: the first three ready files, not the fourth.
  await until('three uploads and their markers', () => a.archiver.stats().markersWritten === 3 && a.archiver.stats().inFlight === 0);
  t.deepEqual((await readdir(a.archivedDir)).sort(), [SEG(1), SEG(2), SEG(3)]);
  for (const n of [1, 2, 3]) {
    t.is(a.store.count('put', walKey(CLUSTER, SEG(n))), 1);
    t.is(await readFile(join(a.archivedDir, SEG(n)), 'utf8'), await shellIdentity(join(a.pgdata.walDir, SEG(n))));
  }
  t.is(a.store.count('put', walKey(CLUSTER, SEG(4))), 0);
  t.like(a.archiver.stats(), { archivedFiles: 3, markersConsumed: 0, failures: 0 });
  t.is((await stat(a.archivedDir)).mode & 0o777, 0o700);
  t.is((await stat(join(a.archivedDir, SEG(1)))).mode & 0o777, 0o600);
  // PostgreSQL is done with SEG(1): the window moves on without a request.
  await a.pgdata.markDone(SEG(1));
  await until('SEG(4) read ahead', () => a.archiver.stats().markersWritten === 4);
});

test('a marker confirms once: consumed by the shell it is counted; answered through the socket or left unused it is removed', async (t) => {
  const stub = await stubClient(t);
  const a = await agent(t, { readAhead: 3 });
  const command = walCommands({ perlPath: '/bin/sh', clientPath: stub.script, socketPath: '/nonexistent/wal.sock', archivedDir: a.archivedDir }).archiveCommand;
  for (let n = 1; n <= 3; n += 1) await a.pgdata.add(SEG(n), walLikeSegment(`c-${n}`));
  await until('three markers', () => a.archiver.stats().markersWritten === 3);

  // SEG(1): the shell's fast path, then PostgreSQL marks it done: counted as consumed.
  t.is((await archiveCommand(command, SEG(1), a.pgdata.root)).code, 0);
  t.deepEqual(await stub.calls(), []);
  await a.pgdata.markDone(SEG(1));
  await until('SEG(1) counted', () => a.archiver.stats().markersConsumed === 1);
  t.true(a.lines.some((l) => l.event === 'wal.archived_marker_consumed' && l.fields.name === SEG(1)));

  // SEG(2): the request reaches the agent (the shell came too early): answered from the read-ahead, marker removed before the answer.
  t.is((await a.archiver.archive(SEG(2))).kind, 'uploaded');
  t.false(existsSync(join(a.archivedDir, SEG(2))));
  await a.pgdata.markDone(SEG(2));

  // SEG(3): its .ready goes away otherwise: the marker is removed, not counted.
  await rm(join(a.pgdata.statusDir, `${SEG(3)}.ready`));
  await until('SEG(3) marker removed', () => !existsSync(join(a.archivedDir, SEG(3))));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.like(a.archiver.stats(), { markersWritten: 3, markersConsumed: 1, archivedFiles: 3 });
  t.true(a.lines.some((l) => l.event === 'wal.archived_marker_unused' && l.fields.name === SEG(3)));
  for (let n = 1; n <= 3; n += 1) t.is(a.store.count('put', walKey(CLUSTER, SEG(n))), 1);
});

test('at construction every marker of an earlier run is removed, and the directory is 0700 and owned as told', async (t) => {
  const pgdata = await FakePgdata.create(t);
  const run = await tempDir(t, 'run');
  const archivedDir = join(run, '.pgherd-archived');
  await mkdir(join(archivedDir, 'nested'), { recursive: true, mode: 0o755 });
  await writeFile(join(archivedDir, SEG(1)), '1.2.3');
  await writeFile(join(archivedDir, `.${SEG(2)}.tmp`), '');
  await chmod(archivedDir, 0o755);
  const root = process.getuid?.() === 0;
  const owner = root ? { uid: 65534, gid: 65534 } : { uid: process.getuid!(), gid: process.getgid!() };
  const store = new LocalStoreAt(await tempDir(t, 'store'));
  const archiver = new WalArchiver({ store, cluster: CLUSTER, pgdata: pgdata.root, archivedDir, archivedDirOwner: owner, readAhead: 0 });
  t.teardown(() => archiver.close());
  // Synchronous: gone as the constructor returns.
  t.deepEqual(await readdir(archivedDir), []);
  const info = await stat(archivedDir);
  t.deepEqual({ mode: info.mode & 0o777, uid: info.uid, gid: info.gid }, { mode: 0o700, ...owner });
  // A symbolic link in its place is removed, never followed.
  const elsewhere = await tempDir(t, 'elsewhere');
  await writeFile(join(elsewhere, SEG(1)), 'precious');
  await rm(archivedDir, { recursive: true });
  const { symlink } = await import('node:fs/promises');
  await symlink(elsewhere, archivedDir);
  new ArchivedSpool(archivedDir);
  t.is(await readFile(join(elsewhere, SEG(1)), 'utf8'), 'precious');
  t.true((await stat(archivedDir)).isDirectory());
  t.throws(() => new ArchivedSpool(join(run, 'missing', '.pgherd-archived')), { instanceOf: StorageIoError, message: /cannot prepare the archived-marker directory/ });
});

test('owned by the PostgreSQL OS user: the shell run as that user reads and removes the agent\'s marker', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root to switch users');
  const user = { uid: 65534, gid: 65534 };
  const stub = await stubClient(t);
  await chmod(join(stub.script, '..'), 0o755);
  const pgdata = await FakePgdata.create(t);
  await chmod(join(pgdata.root, '..'), 0o755);
  const a = await agent(t, { archivedDirOwner: user }, pgdata);
  await chmod(join(a.archivedDir, '..'), 0o755);
  await a.pgdata.add(SEG(1), walLikeSegment('owned'));
  for (const path of [a.pgdata.root, a.pgdata.walDir, a.pgdata.statusDir, join(a.pgdata.walDir, SEG(1))]) await chown(path, user.uid, user.gid);
  await until('the marker', () => a.archiver.stats().markersWritten === 1);
  const info = await stat(join(a.archivedDir, SEG(1)));
  t.deepEqual({ uid: info.uid, gid: info.gid, mode: info.mode & 0o777 }, { ...user, mode: 0o600 });
  const command = walCommands({ perlPath: '/bin/sh', clientPath: stub.script, socketPath: '/nonexistent/wal.sock', archivedDir: a.archivedDir }).archiveCommand;
  t.deepEqual(await archiveCommand(command, SEG(1), a.pgdata.root, {}, user), { code: 0, stdout: '', stderr: '' });
  t.false(existsSync(join(a.archivedDir, SEG(1))));
});

test('end to end with the client: a second .ready of a consumed name and a replaced file take the slow path and its full check', async (t) => {
  const a = await agent(t, { readAhead: 2 });
  const restorer = await WalRestorer.open({ store: a.store, cluster: CLUSTER, spoolDir: join(await tempDir(t, 'spool'), 'spool') });
  const socketPath = join(a.archivedDir, '..', 'wal.sock');
  const service = await WalService.listen({ socketPath, archiver: a.archiver, restorer });
  t.teardown(async () => {
    await service.close();
    await restorer.close();
  });
  const command = walCommands({ perlPath: findPerl(), clientPath: clientScriptPath(), socketPath, archivedDir: a.archivedDir }).archiveCommand;
  await a.pgdata.add(SEG(1), walLikeSegment('e-1'));
  await a.pgdata.add(SEG(2), walLikeSegment('e-2'));
  await until('two markers', () => a.archiver.stats().markersWritten === 2);

  t.deepEqual(await archiveCommand(command, SEG(1), a.pgdata.root), { code: 0, stdout: '', stderr: '' });
  // PostgreSQL crashed before renaming the .ready: the same name again, no marker: the client, answered by the agent.
  t.deepEqual(await archiveCommand(command, SEG(1), a.pgdata.root), { code: 0, stdout: '', stderr: '' });
  t.is(a.store.count('put', walKey(CLUSTER, SEG(1))), 1);

  // SEG(2) replaced in pg_wal after its marker was written (a rewind): the marker does not match, the agent finds the conflict.
  await a.pgdata.add(SEG(2), walLikeSegment('e-2-rewound'));
  const conflict = await archiveCommand(command, SEG(2), a.pgdata.root);
  t.is(conflict.code, 1);
  t.regex(conflict.stderr, /the archive already holds different content.*refusing to overwrite it/);
  t.false(existsSync(join(a.archivedDir, SEG(2))), 'the answer removed the stale marker');
  t.like(a.archiver.stats(), { conflicts: 1, markersWritten: 2 });
});

test('a file ready before archive_status existed, a failing background upload, and close()', async (t) => {
  const pgdata = await FakePgdata.create(t);
  await rm(pgdata.statusDir, { recursive: true });
  const a = await agent(t, { readAhead: 1 }, pgdata);
  await a.pgdata.add(SEG(1), walLikeSegment('late'), false);
  await mkdir(a.pgdata.statusDir);
  await writeFile(join(a.pgdata.statusDir, `${SEG(1)}.ready`), '');
  await until('uploaded once archive_status appeared', () => a.archiver.stats().markersWritten === 1);

  // A background failure writes no marker and is not retried at every scan.
  a.store.failPut = () => 'no space left on device';
  await a.pgdata.markDone(SEG(1));
  await a.pgdata.add(SEG(2), walLikeSegment('fail'));
  await until('the failed attempt', () => a.store.count('put', walKey(CLUSTER, SEG(2))) === 1 && a.archiver.stats().inFlight === 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(a.store.count('put', walKey(CLUSTER, SEG(2))), 1);
  t.false(existsSync(join(a.archivedDir, SEG(2))));
  t.like(a.archiver.stats(), { failures: 0, markersWritten: 1 });

  // Closed: nothing is uploaded any more.
  await a.archiver.close();
  a.store.failPut = undefined;
  await a.pgdata.add(SEG(3), walLikeSegment('after-close'));
  await rename(join(a.pgdata.statusDir, `${SEG(2)}.ready`), join(a.pgdata.statusDir, `${SEG(2)}.done`));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(a.store.count('put', walKey(CLUSTER, SEG(3))), 0);
});

/**
 * The WAL service end to end: the real client script (src/backup/wal-client.pl
 * run by perl, as archive_command runs it) as a child process with cwd = a
 * fake PGDATA, the real WalService, WalArchiver and WalRestorer, a
 * directory-backed store. Only temporary directories and unix sockets.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { WalArchiver } from '../../../src/backup/wal-archiver.js';
import { clientScriptPath, findPerl, WAL_CLIENT_SCRIPT, walCommands } from '../../../src/backup/wal-commands.js';
import { WalClientMissingError } from '../../../src/backup/wal-errors.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { sha256Hex } from '../../../src/backup/wal-object.js';
import * as protocol from '../../../src/backup/wal-protocol.js';
import { WAL_CLIENT_TIMEOUT_ENV } from '../../../src/backup/wal-protocol.js';
import { WalRestorer } from '../../../src/backup/wal-restorer.js';
import { parseRequest, WalService } from '../../../src/backup/wal-service.js';
import { BindError } from '../../../src/lib/errors.js';
import { LocalStoreAt } from '../../helpers/local-store-at.js';
import { FakePgdata, tempDir, walLikeSegment } from '../../helpers/wal-fixture.js';

const CLUSTER = 'c1';
const SEG1 = '000000010000000000000001';
const SEG2 = '000000010000000000000002';
const CLIENT = clientScriptPath();
const PERL = findPerl();

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const client = (args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Run> => run(PERL, [CLIENT, ...args], cwd, env);

interface Setup {
  readonly pgdata: FakePgdata;
  readonly store: LocalStoreAt;
  readonly socketPath: string;
  readonly service: WalService;
}

async function setup(t: ExecutionContext, socketDir?: string): Promise<Setup> {
  const pgdata = await FakePgdata.create(t);
  const store = new LocalStoreAt(await tempDir(t, 'store'));
  const agentDir = socketDir ?? (await tempDir(t, 'run'));
  const archiver = new WalArchiver({ store, cluster: CLUSTER, pgdata: pgdata.root });
  const restorer = await WalRestorer.open({ store, cluster: CLUSTER, spoolDir: join(await tempDir(t, 'spool'), 'spool') });
  const socketPath = join(agentDir, 'wal.sock');
  const service = await WalService.listen({ socketPath, archiver, restorer });
  t.teardown(async () => {
    await service.close();
    await archiver.close();
    await restorer.close();
  });
  return { pgdata, store, socketPath, service };
}

test('archive and restore through the client: exit 0, the bytes arrive, no temporary file is left', async (t) => {
  const s = await setup(t);
  const bytes = walLikeSegment('svc-1');
  await s.pgdata.add(SEG1, bytes);
  const archived = await client(['archive', s.socketPath, SEG1], s.pgdata.root);
  t.deepEqual(archived, { code: 0, signal: null, stdout: '', stderr: '' });
  t.is((await s.store.head(walKey(CLUSTER, SEG1)))?.metadata.sha256, sha256Hex(bytes));
  t.is((await client(['archive', s.socketPath, SEG1], s.pgdata.root)).code, 0, 'again: already archived');

  const restored = await client(['restore', s.socketPath, SEG1, 'pg_wal/RECOVERYXLOG'], s.pgdata.root);
  t.deepEqual(restored, { code: 0, signal: null, stdout: '', stderr: '' });
  t.true((await readFile(join(s.pgdata.walDir, 'RECOVERYXLOG'))).equals(bytes));
  t.false((await readdir(s.pgdata.walDir)).some((f) => f.endsWith('.pgherd-tmp')));
});

test('restore of a file the archive lacks: exit 1, a one-line reason, no file left', async (t) => {
  const s = await setup(t);
  const result = await client(['restore', s.socketPath, '00000002.history', 'pg_wal/RECOVERYHISTORY'], s.pgdata.root);
  t.is(result.code, 1);
  t.is(result.stderr, 'pgherd wal-client: restore 00000002.history: not in the archive\n');
  t.false(existsSync(join(s.pgdata.walDir, 'RECOVERYHISTORY')));
  t.false(existsSync(join(s.pgdata.walDir, 'RECOVERYHISTORY.pgherd-tmp')));
});

test('agent not running: exit 1 naming the socket and the cause', async (t) => {
  const dir = await tempDir(t, 'run');
  const socketPath = join(dir, 'wal.sock');
  const result = await client(['archive', socketPath, SEG1], dir);
  t.is(result.code, 1);
  t.is(result.stderr, `pgherd wal-client: archive ${SEG1}: cannot reach the pgherd agent at ${socketPath}: ENOENT — is the agent running?\n`);
});

test('a conflict: exit 1 with the agent\'s error, both digests in it', async (t) => {
  const s = await setup(t);
  const first = walLikeSegment('svc-c1');
  await s.pgdata.add(SEG2, first);
  t.is((await client(['archive', s.socketPath, SEG2], s.pgdata.root)).code, 0);
  const second = walLikeSegment('svc-c2');
  await s.pgdata.add(SEG2, second);
  const result = await client(['archive', s.socketPath, SEG2], s.pgdata.root);
  t.is(result.code, 1);
  t.true(result.stderr.startsWith(`pgherd wal-client: archive ${SEG2}: ${SEG2}: the archive already holds different content`), result.stderr);
  t.true(result.stderr.includes(sha256Hex(first)) && result.stderr.includes(sha256Hex(second)));
  t.true(result.stderr.endsWith('refusing to overwrite it\n'));
});

test('a name that is not a WAL file name, and bad usage: exit 1, never above', async (t) => {
  const s = await setup(t);
  const refused = await client(['archive', s.socketPath, '../../etc/passwd'], s.pgdata.root);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^pgherd wal-client: archive \.\.\/\.\.\/etc\/passwd: "\.\.\/\.\.\/etc\/passwd" is not a WAL file name/);
  for (const args of [[], ['archive', s.socketPath], ['restore', s.socketPath, SEG1], ['copy', s.socketPath, SEG1]]) {
    const result = await client(args, s.pgdata.root);
    t.is(result.code, 1, args.join(' '));
    t.regex(result.stderr, /usage: wal-client archive <socket> <file> \| wal-client restore/);
  }
  const badTimeout = await client(['archive', s.socketPath, SEG1], s.pgdata.root, { [WAL_CLIENT_TIMEOUT_ENV]: 'soon' });
  t.is(badTimeout.code, 1);
  t.regex(badTimeout.stderr, /PGHERDWAL_CLIENT_TIMEOUT_MS="soon": expected a positive number of milliseconds/);
});

/** A fake agent: answers each connection with `answer` (or nothing). */
async function fakeAgent(t: ExecutionContext, answer: (socket: import('node:net').Socket) => void): Promise<string> {
  const socketPath = join(await tempDir(t, 'fake'), 'wal.sock');
  const server: Server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return socketPath;
}

test('a hung agent: the client gives up after its timeout, exit 1', async (t) => {
  const held: import('node:net').Socket[] = [];
  const socketPath = await fakeAgent(t, (socket) => held.push(socket));
  t.teardown(() => held.forEach((socket) => socket.destroy()));
  const cwd = await tempDir(t, 'cwd');
  const started = performance.now();
  const result = await client(['restore', socketPath, SEG1, 'out'], cwd, { [WAL_CLIENT_TIMEOUT_ENV]: '300' });
  t.is(result.code, 1);
  t.is(result.stderr, `pgherd wal-client: restore ${SEG1}: no answer from the pgherd agent at ${socketPath} within 300 ms\n`);
  t.true(performance.now() - started < 5000);
  t.deepEqual(await readdir(cwd), []);
});

test('a restore cut short: exit 1, neither the file nor the temporary file is left', async (t) => {
  const socketPath = await fakeAgent(t, (socket) => {
    socket.once('data', () => socket.end(`${JSON.stringify({ ok: true, size: 100 })}\n${'x'.repeat(10)}`));
  });
  const cwd = await tempDir(t, 'cwd');
  const result = await client(['restore', socketPath, SEG1, 'out'], cwd);
  t.is(result.code, 1);
  t.is(result.stderr, `pgherd wal-client: restore ${SEG1}: the connection to the pgherd agent ended after 10 of 100 bytes\n`);
  t.deepEqual(await readdir(cwd), []);
});

test('bad requests get an answer naming what is wrong', async (t) => {
  t.is(parseRequest('garbage'), 'not a JSON line');
  t.is(parseRequest('[1]'), 'expected a JSON object');
  t.regex(parseRequest('{"v":2,"op":"archive","name":"x"}') as string, /protocol version 2 is not supported/);
  t.regex(parseRequest('{"v":1,"op":"delete","name":"x"}') as string, /op "delete": expected "archive" or "restore"/);
  t.is(parseRequest('{"v":1,"op":"archive"}'), 'name: expected a non-empty string');
  t.deepEqual(parseRequest('{"v":1,"op":"restore","name":"x"}'), { op: 'restore', name: 'x' });
  const s = await setup(t);
  const { connect } = await import('node:net');
  const ask = (request: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const socket = connect(s.socketPath, () => socket.write(request));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolve(JSON.parse(text)));
      socket.on('error', reject);
    });
  t.deepEqual(await ask('{"v":1,"op":"delete","name":"x"}\n'), { ok: false, error: 'bad request: op "delete": expected "archive" or "restore"' });
  t.deepEqual(await ask('x'.repeat(2000)), { ok: false, error: 'bad request: no request line within 1024 bytes' });
});

test('the socket: 0600, a stale one replaced, a live one or a regular file refused, removed at close', async (t) => {
  const s = await setup(t);
  t.is((await stat(s.socketPath)).mode & 0o777, 0o600);
  const stub = { archiver: { archive: () => Promise.reject(new Error('unused')) }, restorer: { restore: () => Promise.reject(new Error('unused')) } };
  await t.throwsAsync(WalService.listen({ socketPath: s.socketPath, ...stub }), { instanceOf: BindError, message: /another process is serving/ });

  const dir = await tempDir(t, 'run');
  const regular = join(dir, 'wal.sock');
  await writeFile(regular, 'precious');
  await t.throwsAsync(WalService.listen({ socketPath: regular, ...stub }), { instanceOf: BindError, message: /exists and is not a socket; not removing it/ });
  t.is(await readFile(regular, 'utf8'), 'precious');
  await t.throwsAsync(WalService.listen({ socketPath: 'relative.sock', ...stub }), { instanceOf: BindError });
  await t.throwsAsync(WalService.listen({ socketPath: `/tmp/${'x'.repeat(120)}.sock`, ...stub }), { instanceOf: BindError, message: /at most 107 bytes/ });

  // A socket file nobody listens on (an agent killed with -9) is replaced.
  const stalePath = join(dir, 'stale.sock');
  const { spawnSync } = await import('node:child_process');
  const made = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.is(made.signal, 'SIGKILL');
  t.true((await stat(stalePath)).isSocket());
  const replaced = await WalService.listen({ socketPath: stalePath, ...stub });
  t.true((await stat(stalePath)).isSocket());
  await replaced.close();
  t.false(existsSync(stalePath));
  await s.service.close();
  t.false(existsSync(s.socketPath));
});

test('owner: the socket is given to the PostgreSQL OS user', async (t) => {
  const dir = await tempDir(t, 'run');
  const root = process.getuid?.() === 0;
  const owner = root ? { uid: 65534, gid: 65534 } : { uid: process.getuid!(), gid: process.getgid!() };
  const stub = { archiver: { archive: () => Promise.reject(new Error('unused')) }, restorer: { restore: () => Promise.reject(new Error('unused')) } };
  const service = await WalService.listen({ socketPath: join(dir, 'wal.sock'), owner, ...stub });
  t.teardown(() => service.close());
  const info = await stat(join(dir, 'wal.sock'));
  t.deepEqual({ uid: info.uid, gid: info.gid }, owner);
});

test('walCommands through sh -c, as PostgreSQL runs them, with a socket path holding a space, a quote and a percent sign', async (t) => {
  const odd = join(await tempDir(t, 'run'), "it's 100% odd");
  await mkdir(odd);
  await chmod(odd, 0o700);
  const s = await setup(t, odd);
  const commands = walCommands({ perlPath: PERL, clientPath: CLIENT, socketPath: s.socketPath });
  t.true(commands.archiveCommand.endsWith(' %f'));
  t.true(commands.restoreCommand.endsWith(' %f %p'));
  t.true(commands.archiveCommand.includes('100%% odd'));
  const bytes = walLikeSegment('cmd');
  await s.pgdata.add(SEG1, bytes);
  const archived = await run('/bin/sh', ['-c', substitute(commands.archiveCommand, { f: SEG1, p: `pg_wal/${SEG1}` })], s.pgdata.root);
  t.is(archived.code, 0, archived.stderr);
  const restored = await run('/bin/sh', ['-c', substitute(commands.restoreCommand, { f: SEG1, p: 'pg_wal/RECOVERYXLOG' })], s.pgdata.root);
  t.is(restored.code, 0, restored.stderr);
  t.true((await readFile(join(s.pgdata.walDir, 'RECOVERYXLOG'))).equals(bytes));
  const timed = walCommands({ perlPath: '/usr/bin/perl', clientPath: '/opt/pgherd/wal-client.pl', socketPath: '/run/pgherd/wal.sock', clientTimeoutMs: 60000 });
  t.deepEqual(timed, {
    archiveCommand: "PGHERDWAL_CLIENT_TIMEOUT_MS=60000 '/usr/bin/perl' '/opt/pgherd/wal-client.pl' archive '/run/pgherd/wal.sock' %f",
    restoreCommand: "PGHERDWAL_CLIENT_TIMEOUT_MS=60000 '/usr/bin/perl' '/opt/pgherd/wal-client.pl' restore '/run/pgherd/wal.sock' %f %p",
  });
  t.throws(() => walCommands({ perlPath: '/usr/bin/perl', clientPath: '/x', socketPath: '/run/a\nb' }), { instanceOf: RangeError });
});

/** PostgreSQL's placeholder substitution: %f, %p, %% → %, any other % left alone. */
function substitute(command: string, values: { f: string; p: string }): string {
  return command.replace(/%(.)/g, (all, c: string) => (c === 'f' ? values.f : c === 'p' ? values.p : c === '%' ? '%' : all));
}

test('clientScriptPath: the script beside the module (src/ under tsx, dist/ when built); findPerl: the first perl on PATH; clear errors for either missing', async (t) => {
  t.true(CLIENT.endsWith(`/src/backup/${WAL_CLIENT_SCRIPT}`));
  const dir = await tempDir(t, 'built');
  await writeFile(join(dir, WAL_CLIENT_SCRIPT), '');
  t.is(clientScriptPath(pathToFileURL(join(dir, 'wal-commands.js')).href), join(dir, WAL_CLIENT_SCRIPT));
  const missing = t.throws(() => clientScriptPath(pathToFileURL('/nonexistent/dist/src/backup/wal-commands.js').href), { instanceOf: WalClientMissingError });
  t.regex(missing!.message, /\/nonexistent\/dist\/src\/backup\/wal-client\.pl does not exist: the installation is incomplete/);

  // A directory named perl, and a perl that is not executable, are passed over.
  const first = await tempDir(t, 'path-a');
  await mkdir(join(first, 'perl'));
  const second = await tempDir(t, 'path-b');
  await writeFile(join(second, 'perl'), '');
  await chmod(join(second, 'perl'), 0o644);
  const third = await tempDir(t, 'path-c');
  await writeFile(join(third, 'perl'), '#!/bin/sh\n');
  await chmod(join(third, 'perl'), 0o755);
  t.is(findPerl(['relative', first, second, third].join(':')), join(third, 'perl'));
  const none = t.throws(() => findPerl(first), { instanceOf: WalClientMissingError });
  t.regex(none!.message, /no executable perl on PATH .*install perl \(Debian: perl-base\)/);
  t.true(PERL.startsWith('/'));
});

test("the client repeats the protocol's values, and loads only perl-base modules up front", async (t) => {
  const text = await readFile(CLIENT, 'utf8');
  const value = (name: string): string => {
    const match = new RegExp(`^my \\$${name} = ('([^']*)'|[0-9]+);$`, 'm').exec(text);
    if (match === null) throw new Error(`wal-client.pl has no "my $${name} = …;"`);
    return match[2] ?? match[1]!;
  };
  t.is(Number(value('PROTOCOL_VERSION')), protocol.WAL_PROTOCOL_VERSION);
  t.is(Number(value('ANSWER_LINE_BYTES_MAX')), protocol.WAL_ANSWER_LINE_BYTES_MAX);
  t.is(Number(value('TIMEOUT_MS_DEFAULT')), protocol.WAL_CLIENT_TIMEOUT_MS_DEFAULT);
  t.is(value('TIMEOUT_ENV'), protocol.WAL_CLIENT_TIMEOUT_ENV);
  t.is(value('RESTORE_TEMP_SUFFIX'), protocol.WAL_RESTORE_TEMP_SUFFIX);
  // Every module of perl-base, Essential in Debian: what a success needs is always there.
  const used = [...text.matchAll(/^use ([A-Za-z:]+)/gm)].map((m) => m[1]).sort();
  t.deepEqual(used, ['Errno', 'Fcntl', 'Socket', 'Time::HiRes', 'strict', 'warnings']);
  const checked = await run(PERL, ['-c', CLIENT], await tempDir(t, 'cwd'));
  t.is(checked.code, 0, checked.stderr);
});

test('an answer the client does not expect: exit 1 naming it; a JSON error from another key order is still read', async (t) => {
  const answers = [
    ['not json', /the pgherd agent sent an answer that is not JSON: "not json"$/],
    ['{"ok":"yes"}', /unexpected answer from the pgherd agent: \{"ok":"yes"\}$/],
    ['{"error":"store down","ok":false}', /: store down$/],
  ] as const;
  for (const [line, expected] of answers) {
    const socketPath = await fakeAgent(t, (socket) => socket.once('data', () => socket.end(`${line}\n`)));
    const result = await client(['archive', socketPath, SEG1], await tempDir(t, 'cwd'));
    t.is(result.code, 1, line);
    t.regex(result.stderr.trimEnd(), expected, line);
  }
  const closed = await fakeAgent(t, (socket) => socket.once('data', () => socket.end()));
  const result = await client(['archive', closed, SEG1], await tempDir(t, 'cwd'));
  t.is(result.stderr, `pgherd wal-client: archive ${SEG1}: the pgherd agent at ${closed} closed the connection without an answer\n`);
});

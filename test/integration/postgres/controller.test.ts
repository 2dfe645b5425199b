import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { findPgBinaries } from '../../../src/postgres/binaries.js';
import { PgBinariesMissingError, PgStartFailedError, PgTargetNotEmptyError } from '../../../src/postgres/errors.js';
import { createRoles, initdb } from '../../../src/postgres/initdb.js';
import { observe } from '../../../src/postgres/observe.js';
import { PostgresController } from '../../../src/postgres/process.js';
import { withConnection } from '../../../src/postgres/sql.js';
import { testEnv, testNode, type TestNode } from './helpers.js';

test('initdb, start, observe as primary (checksums on, scram), adopt from a second controller, reload, stop', async (t) => {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const node = await testNode(env, 'n1', su);
  nodes.push(node);

  const init = await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: ['127.0.0.1/32'] });
  su.password = init.superuserPassword;
  t.regex(init.superuserPassword, /^[A-Za-z0-9_-]{32}$/);
  t.is((await stat(node.dataDir)).uid, env.osUser.uid);
  const hba = await readFile(join(node.dataDir, 'pg_hba.conf'), 'utf8');
  t.false(/\btrust\b/.test(hba.replace(/^#.*$/gm, '')), 'no trust lines');
  await t.throwsAsync(initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: [] }), { instanceOf: PgTargetNotEmptyError, message: /not empty/ });

  const t0 = performance.now();
  const started = await node.controller.start(node.settings(), 'primary');
  t.log(`initdb ${init.durationMs} ms, start ${Math.round(performance.now() - t0)} ms`);
  t.false(started.adopted);
  const conn = await node.controller.connection();
  const obs = await observe(conn);
  t.is(obs.role, 'primary');
  t.is(obs.timeline, 1);
  t.true(obs.systemIdentifier > 0n);
  if (obs.role === 'primary') t.true(obs.currentLsn > 0n);
  const settings = await withConnection(conn, 'settings', async (c) => (await c.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('data_checksums', 'wal_log_hints', 'password_encryption', 'cluster_name', 'port')",
  )).rows);
  const byName = Object.fromEntries(settings.map((r) => [r.name, r.setting]));
  t.deepEqual(byName, { data_checksums: 'on', wal_log_hints: 'on', password_encryption: 'scram-sha-256', cluster_name: 'n1', port: String(node.port) });
  await t.throwsAsync(observe({ ...conn, password: 'wrong' }), { code: 'PGHERD_PG_QUERY_FAILED', message: /password authentication failed/ });

  const roles = await createRoles(conn);
  t.not(roles.replicatorPassword, roles.rewindPassword);
  // Idempotent: running again re-passwords the existing roles.
  await createRoles(conn, roles);

  // An agent restart: a fresh controller adopts the running postmaster instead of starting a second one.
  const second = new PostgresController({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, logDir: join(env.baseDir, 'n1', 'log'), superuser: su });
  const adopted = await second.start(node.settings(), 'primary');
  t.true(adopted.adopted);
  t.is(adopted.pid, started.pid);
  t.like(await second.status(), { running: true, pid: started.pid, port: node.port, pmStatus: 'ready' });
  await second.reload();

  const stopped = await second.stop({ mode: 'fast', timeoutMs: 10_000 });
  t.is(stopped.pid, started.pid);
  t.is(stopped.mode, 'fast');
  t.like(await node.controller.status(), { running: false, pid: null });
  t.deepEqual(await node.controller.stop(), { pid: null, mode: null, durationMs: 0 });
});

test('start failure: PGHERD_PG_START_FAILED with the server log tail', async (t) => {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const node = await testNode(env, 'bad', su);
  nodes.push(node);
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: [] })).superuserPassword;
  const error = await t.throwsAsync(node.controller.start(node.settings(undefined, { no_such_parameter_xyz: 1 }), 'primary', 10_000), { instanceOf: PgStartFailedError });
  t.is(error?.code, 'PGHERD_PG_START_FAILED');
  t.regex(error?.message ?? '', /no_such_parameter_xyz/);
  t.like(await node.controller.status(), { running: false });
});

test('missing binaries: a clear error naming the package', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'pgherd-pg-nobin-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const error = await t.throwsAsync(findPgBinaries({ binDir: empty }), { instanceOf: PgBinariesMissingError });
  t.is(error?.code, 'PGHERD_PG_BINARIES_MISSING');
  t.regex(error?.message ?? '', /install the 'postgresql' package/);
  const found = await findPgBinaries();
  t.true(found.majorVersion >= 15, found.versionString);
});

test('stop escalates past a frozen postmaster to SIGKILL; restart then recovers the data directory', async (t) => {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const node = await testNode(env, 'frozen', su);
  nodes.push(node);
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: [] })).superuserPassword;
  const { pid } = await node.controller.start(node.settings(), 'primary');
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  const stopped = await node.controller.stop({ mode: 'smart', timeoutMs: 300, escalationStepMs: 300 });
  t.is(stopped.mode, 'kill');
  t.like(await node.controller.status(), { running: false });
  const restarted = await node.controller.restart(node.settings(), 'primary', { startTimeoutMs: 20_000 });
  t.false(restarted.adopted);
  t.not(restarted.pid, pid);
  t.is((await observe(await node.controller.connection())).role, 'primary');
});

test('a stale postmaster.pid naming a live non-postgres process (recycled pid) does not block the start', async (t) => {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const node = await testNode(env, 'stale', su);
  nodes.push(node);
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: [] })).superuserPassword;
  // A sleeping process stands in for the unrelated process that got the crashed postmaster's pid
  // (not this test process: PostgreSQL ignores its parent's pid in the lock file).
  // It runs as the postgres OS user: PostgreSQL treats another user's pid (EPERM) as stale by itself.
  const unrelated = spawn('sleep', ['60'], { stdio: 'ignore', ...(env.osUser.switchUser ? { uid: env.osUser.uid, gid: env.osUser.gid } : {}) });
  t.teardown(() => unrelated.kill('SIGKILL'));
  await writeFile(join(node.dataDir, 'postmaster.pid'), `${unrelated.pid}\n${node.dataDir}\n1700000000\n${node.port}\n/tmp\n127.0.0.1\n  5432001         0\nready   \n`);
  t.like(await node.controller.status(), { running: false });
  const started = await node.controller.start(node.settings(), 'primary', 20_000);
  t.false(started.adopted);
  t.like(await node.controller.status(), { running: true, pid: started.pid });
});

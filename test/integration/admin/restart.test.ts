import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { AdminCallError } from '../../../src/admin/errors.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from '../agent/helpers.js';
import { ctl } from '../../unit/cli/helpers.js';

/*
 * An operator's restart, reload and reinit through the admin API (the
 * client pgherdctl uses), asked of one member's agent and carried out by
 * another's HA loop, against three real agents with PostgreSQL: a replica
 * restarts (a new postmaster, streaming again), a restart --pending applies
 * a parameter changed with edit-config and then finds nothing pending,
 * reload says where a restart is pending, the primary restarts keeping the
 * leader key, a replica is re-cloned (its data directory emptied and copied
 * again, every row there), and the primary's reinit is refused.
 */

const BOOT_MS = 120_000;

const logOf = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

function rowsOf(result: { rows: Record<string, unknown>[] } | Error): unknown {
  return result instanceof Error ? result.message : result.rows[0];
}

test.serial('restart, restart --pending, reload, restart of the primary, reinit of a replica; reinit of the primary refused', async (t) => {
  const cluster = await startAgentCluster(t, {}, 8 * 60_000);
  const first = await untilHealthy(cluster, BOOT_MS);
  const primary = first.primary;
  const [replica, other] = first.replicas as [string, string];
  const password = await superuserPassword(cluster, primary);
  t.false((await tryQuery(cluster, primary, password, 'CREATE TABLE r (id int primary key); INSERT INTO r SELECT generate_series(1, 1000)')) instanceof Error);
  // Any member answers: ask the other replica's agent, the work happens on `replica`.
  const admin = await cluster.admin(other);
  t.teardown(() => admin.close());

  // Restart of a replica: a new postmaster, streaming again.
  const pidBefore = await cluster.postmasterPid(replica);
  const restarted = await admin.restart({ members: [replica], by: 'integration test', timeoutMs: 60_000 });
  t.like(restarted.actions[0], { member: replica, kind: 'restart', status: 'done' });
  // Who asked, and what the call was authenticated with (the certificate of the node whose configuration the client used).
  t.regex(restarted.actions[0]!.by, /^integration test \(certificate n\d\)$/);
  t.regex(restarted.actions[0]!.detail ?? '', /^restarted as replica in \d+ ms \(postmaster \d+ -> \d+\)$/);
  const pidAfter = await cluster.postmasterPid(replica);
  t.truthy(pidAfter);
  t.not(pidAfter, pidBefore, 'a new postmaster');
  await untilHealthy(cluster, 60_000);
  const replicaLog = await logOf(cluster.node(replica).logFile);
  t.regex(replicaLog, /"msg":"ha\.restart_started"/);
  t.regex(replicaLog, /"msg":"ha\.restart_done"/);

  // restart --pending after edit-config changed a parameter that needs a restart: applied; then nothing is pending.
  const patched = await admin.patchConfig({ patch: { postgresql_parameters: { wal_buffers: '8MB' } } });
  t.deepEqual(patched.changes.map((c) => c.key), ['postgresql_parameters.wal_buffers']);
  const pending = await admin.restart({ members: [replica], pending: true, timeoutMs: 60_000 });
  t.like(pending.actions[0], { status: 'done', pendingOnly: true });
  t.regex(pending.actions[0]!.detail ?? '', /applied wal_buffers \(unset -> 8MB\)/);
  t.deepEqual(rowsOf(await tryQuery(cluster, replica, password, 'SHOW wal_buffers')), { wal_buffers: '8MB' });
  t.notDeepEqual(rowsOf(await tryQuery(cluster, other, password, 'SHOW wal_buffers')), { wal_buffers: '8MB' }, 'only the member asked restarted');
  const pidPending = await cluster.postmasterPid(replica);
  const nothing = await admin.restart({ members: [replica], pending: true, timeoutMs: 60_000 });
  t.like(nothing.actions[0], { status: 'skipped', detail: 'nothing is pending a restart: PostgreSQL runs with the settings it would start with' });
  t.is(await cluster.postmasterPid(replica), pidPending, 'not restarted');

  // Reload everywhere: each member says whether a restart is pending for it.
  const reloaded = await admin.reload({ timeoutMs: 60_000 });
  t.deepEqual(reloaded.actions.map((a) => a.status), ['done', 'done', 'done']);
  for (const action of reloaded.actions) {
    const expected = action.member === replica ? /nothing is pending a restart$/ : /a restart is pending for wal_buffers \(unset -> 8MB\)/;
    t.regex(action.detail ?? '', expected, action.member);
  }
  // A reload re-reads postgresql.conf, whose max_connections (initdb's) the agent's command line outranks: nothing pending for it.
  t.like((await admin.restart({ members: [replica], pending: true, timeoutMs: 60_000 })).actions[0], { status: 'skipped' });

  // The primary restarts as the primary, keeping the leader key: no failover, the same epoch.
  const before = await admin.clusterStatus();
  const primaryRestart = await admin.restart({ role: 'primary', pending: true, timeoutMs: 60_000 });
  t.like(primaryRestart.actions[0], { member: primary, status: 'done' });
  t.regex(primaryRestart.actions[0]!.detail ?? '', /^restarted as primary in \d+ ms/);
  const afterPrimary = await untilHealthy(cluster, 60_000);
  t.is(afterPrimary.primary, primary);
  const after = await admin.clusterStatus();
  t.is(after.leader?.member, primary);
  t.is(after.epoch, before.epoch, 'no failover: the same leader epoch');
  t.false((await tryQuery(cluster, primary, password, 'INSERT INTO r SELECT generate_series(1001, 2000)')) instanceof Error, 'it takes writes again');

  // Reinit of a replica: its data directory emptied (a marker file gone) and cloned again, every row there.
  const marker = join(cluster.node(other).dir, 'pgdata', 'pgherd-test-marker');
  await writeFile(marker, 'must be gone after the reinit\n');
  const reinit = await admin.reinit({ members: [other], by: 'integration test', timeoutMs: 180_000 });
  t.like(reinit.actions[0], { member: other, kind: 'reinit', status: 'done' });
  t.regex(reinit.actions[0]!.detail ?? '', new RegExp(`^re-cloned from ${primary} with pg_basebackup in \\d+ ms`));
  t.false(await exists(marker), 'the data directory was emptied');
  await untilHealthy(cluster, 60_000);
  t.deepEqual(rowsOf(await tryQuery(cluster, other, password, 'SELECT count(*)::int AS n FROM r')), { n: 2000 });
  t.regex(await logOf(cluster.node(other).logFile), /"msg":"postgres\.basebackup_target_emptied"/);

  // Reinit of the primary: refused with the reason, through the API and through pgherdctl; nothing recorded.
  const error = await t.throwsAsync(admin.reinit({ members: [primary] }), { instanceOf: AdminCallError });
  t.is(error.reason, 'MEMBER_IS_LEADER');
  t.regex(error.details, new RegExp(`${primary} is the primary: reinit re-clones a replica`));
  const run = await ctl(t, ['-c', cluster.node(replica).configFile, '--json', 'reinit', '--force', primary]);
  t.is(run.code, 1, run.stderr);
  t.like(JSON.parse(run.stdout), { error: { kind: 'refused', status: 'FAILED_PRECONDITION', reason: 'MEMBER_IS_LEADER' } });
  const final = await admin.clusterStatus();
  t.like(final.members.find((m) => m.name === primary)?.action, { kind: 'restart', status: 'done' }, 'the primary keeps its last action, no reinit recorded');
});

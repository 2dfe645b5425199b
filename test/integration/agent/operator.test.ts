import { readFile } from 'node:fs/promises';
import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from './helpers.js';

/*
 * What an operator asks for through the admin API (the client pgherdctl
 * uses), against three real agents with PostgreSQL: a switchover to a named
 * replica and one to the best replica, with the old primary following the
 * new one without pg_rewind; pause, which blocks the automatic failover of
 * a dead primary; a manual failover while paused; resume.
 */

const BOOT_MS = 120_000;

const logOf = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');

test.serial('switchover to a named replica and to the best one: no row lost, the old primary follows without pg_rewind', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  const created = await tryQuery(cluster, first.primary, password, 'CREATE TABLE s (id int primary key); INSERT INTO s SELECT generate_series(1, 500)');
  t.false(created instanceof Error, String(created));
  const admin = await cluster.admin();
  t.teardown(() => admin.close());

  const target = first.replicas[0]!;
  const result = await admin.switchover({ candidate: target, timeoutMs: 30_000 });
  t.log(`switchover ${result.from} -> ${result.to}: ${result.elapsedMs} ms after the request`);
  t.like(result, { outcome: 'completed', from: first.primary, to: target });
  const count = await tryQuery(cluster, target, password, 'SELECT count(*)::int AS n FROM s');
  t.deepEqual(count instanceof Error ? count.message : count.rows[0], { n: 500 });
  t.false((await tryQuery(cluster, target, password, 'INSERT INTO s VALUES (501)')) instanceof Error, 'the new primary accepts writes');

  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, target);
  t.true(healed.replicas.includes(first.primary), 'the old primary streams from the new one');
  const oldLog = await logOf(cluster.node(first.primary).logFile);
  t.regex(oldLog, /"reason":"FORMER_PRIMARY_NOT_DIVERGED"/, 'it followed the new timeline as it was');
  t.notRegex(oldLog, /"msg":"postgres\.rewind_done"/, 'no pg_rewind');

  // No candidate named: the best replica; then a pending request is gone.
  const back = await admin.switchover({ timeoutMs: 30_000 });
  t.like(back, { outcome: 'completed', from: target });
  t.not(back.to, target);
  const status = await admin.clusterStatus();
  t.is(status.switchover, null);
  t.is(status.leader?.member ?? null, back.to);
  const final = await untilHealthy(cluster, BOOT_MS);
  const rows = await tryQuery(cluster, final.primary, password, 'SELECT count(*)::int AS n FROM s');
  t.deepEqual(rows instanceof Error ? rows.message : rows.rows[0], { n: 501 });
});

test.serial('pause blocks the failover of a dead primary; a manual failover works while paused; resume brings the old primary back', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  const survivor = first.replicas[0]!;
  const admin = await cluster.admin(survivor);
  t.teardown(() => admin.close());
  const paused = await admin.pause({ by: 'integration test' });
  t.true(paused.paused);

  await cluster.signalHost(first.primary, 'SIGKILL');
  // Well past the ttl (4 s): without the pause a replica would have been promoted.
  await new Promise((resolve) => setTimeout(resolve, 15_000));
  const statuses = await cluster.statuses();
  t.deepEqual(statuses.filter((s) => s.isPrimary).map((s) => s.name), [], 'no failover while paused');
  const stillPaused = await admin.clusterStatus();
  t.true(stillPaused.pause.paused);
  t.is(stillPaused.leader?.member, first.primary, 'the dead primary keeps the leader key');

  const failover = await admin.failover({ candidate: survivor, timeoutMs: 30_000 });
  t.like(failover, { outcome: 'completed', to: survivor });
  const promoted = await untilValue('the chosen member is primary', 30_000, async () => (await cluster.statuses()).find((s) => s.isPrimary), 250);
  t.is(promoted.name, survivor);
  t.false((await tryQuery(cluster, survivor, password, 'CREATE TABLE after_failover (x int)')) instanceof Error);

  await admin.resume({ by: 'integration test' });
  cluster.start(first.primary);
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, survivor);
  t.true(healed.replicas.includes(first.primary), 'after resume the old primary rejoins');
});

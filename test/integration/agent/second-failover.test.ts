import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy, untilSyncStandby } from './helpers.js';

/*
 * Found by the chaos suite (seed 1, smoke profile): two failovers within a
 * few minutes. After the first, the replicas stream the new timeline but
 * have not yet made a restartpoint on it, so their control file still
 * says the old timeline. When the new primary's host dies too, their WAL
 * receivers stop, and a replica's timeline was read from that control
 * file: every replica looked a timeline behind the cluster, none was a
 * candidate, and the cluster stayed without a primary until the dead
 * host came back. A replica's timeline is the one it has replayed.
 */

const BOOT_MS = 120_000;
const FAILOVER_MS = 45_000;

test.serial('a second failover soon after the first: the replicas, no longer streaming, are still candidates on the new timeline', async (t) => {
  const cluster = await startAgentCluster(t, { dynamic: { synchronous_mode: 'on' } });
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  t.false((await tryQuery(cluster, first.primary, password, 'CREATE TABLE s (id int primary key); INSERT INTO s VALUES (1)')) instanceof Error);
  await untilSyncStandby(cluster);

  await cluster.signalHost(first.primary, 'SIGKILL');
  // A dead host serves nothing: the harness once killed the postmaster before the agent, which started a new one.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.deepEqual(await cluster.processesOf(first.primary), [], 'nothing of the killed host runs on');
  const second = await untilValue('the first failover', FAILOVER_MS, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== first.primary), 200);
  t.is(second.timeline, 2);
  t.false((await tryQuery(cluster, second.name, password, 'INSERT INTO s VALUES (2)')) instanceof Error);
  cluster.start(first.primary);
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, second.name);
  await untilSyncStandby(cluster);

  await cluster.signalHost(second.name, 'SIGKILL');
  const killedAt = performance.now();
  const third = await untilValue('the second failover', FAILOVER_MS, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== second.name), 200);
  t.log(`second failover to ${third.name} ${Math.round(performance.now() - killedAt)} ms after the kill`);
  t.is(third.timeline, 3);
  const rows = await tryQuery(cluster, third.name, password, 'SELECT count(*)::int AS n FROM s');
  t.false(rows instanceof Error, String(rows));
  if (!(rows instanceof Error)) t.is(rows.rows[0]?.['n'], 2, 'the row acknowledged on timeline 2 is there');
});

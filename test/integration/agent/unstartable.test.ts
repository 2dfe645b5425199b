import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from './helpers.js';

/*
 * A member whose PostgreSQL cannot start (here: a library that does not
 * exist in shared_preload_libraries; a full disk fails the same way) must
 * never be made the primary: it answers the failover's position query as
 * not running, so it is excluded, and with no other candidate the failover
 * waits rather than promoting it. Once the member can start again it is
 * promoted.
 */

const BOOT_MS = 120_000;
const BAD_SETTING = "shared_preload_libraries = 'pgherd_test_missing_library'";

test.serial('members whose PostgreSQL cannot start never take the primary role; once one can, it is promoted', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  const created = await tryQuery(cluster, first.primary, password, 'CREATE TABLE u (id int); INSERT INTO u VALUES (1)');
  t.false(created instanceof Error, String(created));
  await untilValue('the replicas have the table', 20_000, async () => {
    for (const name of first.replicas) {
      const r = await tryQuery(cluster, name, password, 'SELECT count(*)::int AS n FROM u');
      if (r instanceof Error || r.rows[0]?.n !== 1) return undefined;
    }
    return true;
  });

  // Break both replicas: the setting only bites at the next start, which the crash forces.
  const autoConf = (name: string): string => join(cluster.node(name).dir, 'pgdata', 'postgresql.auto.conf');
  const original = new Map<string, string>();
  for (const name of first.replicas) {
    original.set(name, await readFile(autoConf(name), 'utf8'));
    await writeFile(autoConf(name), `${original.get(name)}\n${BAD_SETTING}\n`);
    await cluster.killPostgres(name);
  }
  await untilValue('both replicas fail to start', 30_000, async () => {
    const statuses = await cluster.statuses();
    return first.replicas.every((name) => statuses.find((s) => s.name === name)?.role === 'stopped') ? true : undefined;
  }, 250);

  await cluster.signalHost(first.primary, 'SIGKILL');
  // Well past ttl (4 s) plus the failover check: a failover would have happened by now.
  await new Promise((resolve) => setTimeout(resolve, 15_000));
  const statuses = await cluster.statuses();
  t.deepEqual(statuses.filter((s) => s.isPrimary).map((s) => s.name), [], 'nobody whose PostgreSQL cannot start is primary');
  const blocked = await untilValue('the Raft leader logs why it does not fail over', 5_000, async () => {
    for (const name of first.replicas) {
      const log = await readFile(cluster.node(name).logFile, 'utf8');
      if (/"msg":"ha\.failover_blocked"/.test(log) && /UNHEALTHY/.test(log)) return true;
    }
    return undefined;
  });
  t.true(blocked);

  const repaired = first.replicas[0]!;
  await writeFile(autoConf(repaired), original.get(repaired)!);
  const promoted = await untilValue('the repaired member is promoted', 60_000, async () => (await cluster.statuses()).find((s) => s.isPrimary), 250);
  t.is(promoted.name, repaired);
  const count = await tryQuery(cluster, repaired, password, 'SELECT count(*)::int AS n FROM u');
  t.deepEqual(count instanceof Error ? count.message : count.rows[0], { n: 1 });
});

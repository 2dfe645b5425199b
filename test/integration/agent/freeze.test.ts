import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from './helpers.js';

/*
 * A whole primary host frozen (SIGSTOP of the agent, its fence, the
 * postmaster and every backend) and thawed after the failover: the old
 * primary must notice the new epoch, stop being a primary and rejoin
 * behind the new one with the rows written meanwhile.
 */

const BOOT_MS = 120_000;
const FAILOVER_MS = 45_000;

test.serial('SIGSTOP of the whole primary: failover; after SIGCONT the old primary demotes itself and rejoins as a replica', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  const created = await tryQuery(cluster, first.primary, password, 'CREATE TABLE f (id int primary key); INSERT INTO f SELECT generate_series(1, 100)');
  t.false(created instanceof Error, String(created));

  await cluster.signalHost(first.primary, 'SIGSTOP');
  t.teardown(() => cluster.signalHost(first.primary, 'SIGCONT'));
  const frozenAt = performance.now();
  const next = await untilValue('a new primary', FAILOVER_MS, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== first.primary), 200);
  t.log(`new primary ${next.name} ${Math.round(performance.now() - frozenAt)} ms after the freeze`);
  const inserted = await tryQuery(cluster, next.name, password, 'INSERT INTO f SELECT generate_series(101, 200)');
  t.false(inserted instanceof Error, String(inserted));

  await cluster.signalHost(first.primary, 'SIGCONT');
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, next.name, 'the thawed node did not take the primary role back');
  t.true(healed.replicas.includes(first.primary), 'the old primary streams from the new one');
  const caughtUp = await untilValue('the old primary has the rows written during its freeze', 20_000, async () => {
    const r = await tryQuery(cluster, first.primary, password, 'SELECT count(*)::int AS n FROM f');
    return !(r instanceof Error) && r.rows[0]?.n === 200 ? true : undefined;
  });
  t.true(caughtUp);
  const readOnly = await tryQuery(cluster, first.primary, password, 'INSERT INTO f VALUES (201)');
  t.true(readOnly instanceof Error && /read-only/.test(readOnly.message), 'the old primary is read-only');
});

import test from 'ava';
import { NetnsNetwork } from '../../chaos/hosts/netns.js';
import { untilValue } from '../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from '../integration/agent/helpers.js';

/*
 * Three agents with PostgreSQL, each in a network namespace of its own: the
 * primary is cut off from its peers and from the clients (a partition, not a
 * crash: it keeps running). A replica takes over; after the heal the old
 * primary rejoins behind it and every node has the same rows.
 */

const availability = await NetnsNetwork.available();
const netnsTest = availability.ok ? test.serial : test.serial.skip;
if (!availability.ok) console.log(`chaos partition test skipped: ${availability.why}`);

const BOOT_MS = 120_000;

netnsTest('partition: the isolated primary is replaced, and after the heal it rejoins and every node converges', async (t) => {
  const network = await NetnsNetwork.create({ nodes: ['n1', 'n2', 'n3'] });
  t.teardown(() => network.destroy());
  const cluster = await startAgentCluster(t, {
    placement: { host: (name) => network.host(name).address, clientCidrs: [network.cidr], launch: (name, argv) => network.launch(name, argv) },
  });
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);
  const created = await tryQuery(cluster, first.primary, password, 'CREATE TABLE p (id int primary key); INSERT INTO p SELECT generate_series(1, 100)');
  t.false(created instanceof Error, String(created));

  await network.isolate(first.primary);
  const cutAt = performance.now();
  const next = await untilValue('a new primary on the majority side', 45_000, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== first.primary), 200);
  t.log(`new primary ${next.name} ${Math.round(performance.now() - cutAt)} ms after the partition`);
  const inserted = await tryQuery(cluster, next.name, password, 'INSERT INTO p SELECT generate_series(101, 200)');
  t.false(inserted instanceof Error, String(inserted));

  await network.heal();
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, next.name, 'the healed node did not take the primary role back');
  t.true(healed.replicas.includes(first.primary));
  const sums = await untilValue('every node has the same rows', 30_000, async () => {
    const results = await Promise.all(cluster.nodes.map((n) => tryQuery(cluster, n.name, password, 'SELECT count(*)::int AS n, sum(id)::int AS s FROM p')));
    const texts = results.map((r) => (r instanceof Error ? r.message : JSON.stringify(r.rows[0])));
    return texts.every((x) => x === texts[0]) && texts[0] === JSON.stringify({ n: 200, s: 20100 }) ? texts : undefined;
  }, 250);
  t.is(sums.length, 3);
});

/**
 * A failover leaves no hole in the WAL archive.
 *
 * With archive_mode=on a standby marks every segment it receives by
 * streaming as archived (.done), and after its promotion it archives only
 * WAL it wrote itself (PostgreSQL's documentation, "Continuous archiving in
 * standby"). So segments the old primary completed but had not yet
 * archived when it died were in no one's queue: the archive had a hole
 * right before the new timeline, and no restore could cross it.
 *
 * Here the primary's agent is frozen (its archiver with it) while the
 * primary completes two segments, which the synchronous standby has
 * received; then the whole primary host is killed. Both segments must
 * reach the store anyway, and the new primary goes on archiving.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { archivedWalNames } from '../../../src/backup/backup-catalog.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import { untilValue as until } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy, untilSyncStandby } from '../agent/helpers.js';

const CLUSTER = 'demo';

async function walInStore(store: LocalStore): Promise<Set<string>> {
  return new Set(await archivedWalNames(store, CLUSTER));
}

test('segments the dead primary completed but never archived are archived after the failover', async (t) => {
  const storeDir = join(tmpdir(), `pgherd-failover-archive-${process.pid}-${Date.now()}`);
  await mkdir(storeDir, { recursive: true });
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  const cluster = await startAgentCluster(t, { dynamic: { synchronous_mode: 'on' }, perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }) });
  const { primary } = await untilHealthy(cluster, 120_000);
  const standby = await untilSyncStandby(cluster);
  const password = await superuserPassword(cluster, primary);
  const sql = async (node: string, text: string): Promise<Record<string, unknown>[]> => {
    const result = await tryQuery(cluster, node, password, text);
    if (result instanceof Error) throw new Error(`${node}: ${text}: ${result.message}`);
    return result.rows;
  };
  await sql(primary, 'CREATE TABLE marks (id int PRIMARY KEY)');
  const store = new LocalStore(storeDir);
  t.teardown(() => store.close());

  // The primary's agent stops: nothing uploads for it any more (archive_command waits on its socket).
  const agent = await cluster.agentPid(primary);
  if (agent === undefined) return t.fail(`no agent pid for ${primary}`);
  process.kill(agent, 'SIGSTOP');
  const unarchived: string[] = [];
  for (const id of [1, 2]) {
    await sql(primary, `INSERT INTO marks VALUES (${id})`);
    unarchived.push(String((await sql(primary, 'SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name));
  }
  // Acknowledged by the synchronous standby: it has flushed past both switches, so both segments are complete there.
  await sql(primary, 'INSERT INTO marks VALUES (3)');
  const before = await walInStore(store);
  t.log(`completed on ${primary} with its agent frozen: ${unarchived.join(', ')}; in the store already: ${unarchived.filter((n) => before.has(n)).join(', ') || 'neither'}`);

  await cluster.signalHost(primary, 'SIGKILL');
  const survivors = cluster.nodes.map((n) => n.name).filter((n) => n !== primary);
  const after = await untilHealthy(cluster, 120_000, survivors);
  t.is(after.primary, standby, 'synchronous mode promotes the synchronous standby');
  const rows = await sql(after.primary, 'SELECT count(*)::int AS n FROM marks');
  t.is(rows[0]!.n, 3, 'every acknowledged insert survived');

  // The new primary archives its own WAL (and its timeline history file) as ever.
  await sql(after.primary, 'INSERT INTO marks VALUES (4)');
  const own = String((await sql(after.primary, 'SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name);
  t.not(own.slice(0, 8), unarchived[0]!.slice(0, 8), 'the new primary writes a new timeline');

  const wanted = [...unarchived, own, `${own.slice(0, 8)}.history`];
  let absent = wanted;
  await until('the old timeline\'s last segments and the new primary\'s WAL in the store', 60_000, async () => {
    const names = await walInStore(store);
    absent = wanted.filter((name) => !names.has(name));
    return absent.length === 0 ? true : undefined;
  }).catch(() => undefined);
  t.deepEqual(absent, [], `the store must hold ${wanted.join(', ')}`);
});

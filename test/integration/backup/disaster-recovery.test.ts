/**
 * Disaster recovery (issue 5 items 5 and 6): cluster A (three agents, a
 * local store) writes a table, takes a base backup, writes more, and is
 * stopped for good. Cluster B — new agents, new data directories, the same
 * cluster_name and store, bootstrap.method restore — restores the latest
 * backup and the archived WAL instead of running initdb: every row is there
 * with the same table checksum, on a new timeline, its other members clone
 * from it, and it archives only new names. Then cluster C (one agent)
 * restores to a recovery_target_time: first one before every backup
 * (refused, nothing touched), then — the same claim, the configuration
 * fixed and the agent restarted — one between two batches of A's rows:
 * only the rows committed before it.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import YAML from 'yaml';
import { LocalStore } from '../../../src/backup/store-local.js';
import { walKey } from '../../../src/backup/wal-names.js';
import { AgentCluster, type AgentClusterOptions } from '../../../scripts/lib/agent-cluster.js';
import { connect, startAgentCluster, superuserPassword, untilHealthy } from '../agent/helpers.js';
import { untilValue as until } from '../../helpers/wait.js';

const CLUSTER = 'demo';
const TABLE_SQL = 'CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)';
const CHECKSUM_SQL = "SELECT count(*)::int AS n, md5(string_agg(id::text || ':' || v, ',' ORDER BY id)) AS sum FROM t";
const insertRows = (n: number, tag: string): string => `INSERT INTO t (v) SELECT '${tag}-' || g || '-' || md5(g::text) FROM generate_series(1, ${n}) g`;

interface Checksum {
  readonly n: number;
  readonly sum: string;
}

/** A cluster of the same test beside A: the heavy slot is held already (A's), and one cluster runs at a time. */
async function startNextCluster(t: ExecutionContext, options: Omit<AgentClusterOptions, 'baseDir'>): Promise<AgentCluster> {
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-dr-it-'));
  const cluster = await AgentCluster.create({ ...options, baseDir });
  t.teardown(async () => {
    if (!t.passed) await logTrouble(t, cluster);
    await cluster.killAll();
    if (process.env.KEEP_TEST_DIRS) t.log(`kept ${baseDir}`);
    else await rm(baseDir, { recursive: true, force: true });
  });
  await cluster.startAll();
  return cluster;
}

async function logTrouble(t: ExecutionContext, cluster: AgentCluster): Promise<void> {
  for (const node of cluster.nodes) {
    const text = await readFile(node.logFile, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((l) => /"level":"(warn|error)"|"msg":"ha\.(restore|initialized|lifecycle)/.test(l));
    for (const line of lines.slice(-15)) t.log(`${node.name}: ${line.slice(0, 600)}`);
  }
}

async function query<T>(cluster: AgentCluster, name: string, sql: string): Promise<T[]> {
  const client = await connect(cluster, name, await superuserPassword(cluster, name));
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The cluster state as /cluster shows it (passwords redacted). */
async function clusterState(cluster: AgentCluster, name: string): Promise<{ initialize: { systemIdentifier: string; restoredFrom: { backupId: string; timeline: number; targetTimeMs: number | null } | null }; members: Record<string, { status: { archive: { failure: string | null } | null } | null }> }> {
  const node = cluster.node(name);
  const response = await fetch(`http://${node.host}:${node.httpPort}/cluster`, { signal: AbortSignal.timeout(2_000) });
  return ((await response.json()) as { state: never }).state;
}

/** Switch WAL on `name` and wait until the segment written before the switch is in the store. */
async function switchAndArchive(cluster: AgentCluster, name: string, store: LocalStore): Promise<string> {
  const [{ walfile }] = await query<{ walfile: string }>(cluster, name, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS walfile');
  await query(cluster, name, 'SELECT pg_switch_wal()');
  await until(`${walfile} archived`, 60_000, async () => ((await store.head(walKey(CLUSTER, walfile!))) !== undefined ? true : undefined), 200);
  return walfile!;
}

async function logLines(cluster: AgentCluster, pattern: RegExp): Promise<string[]> {
  const lines: string[] = [];
  for (const node of cluster.nodes) lines.push(...(await readFile(node.logFile, 'utf8').catch(() => '')).split('\n').filter((l) => pattern.test(l)));
  return lines;
}

test('a new cluster restores the latest backup instead of initdb (same rows and checksum, a new timeline), and a point in time', async (t) => {
  const started = performance.now();
  const lap = (what: string): void => t.log(`${what}: ${Math.round((performance.now() - started) / 1000)} s`);
  const storeDir = join(tmpdir(), `pgherd-dr-store-${process.pid}-${Date.now()}`);
  await mkdir(storeDir, { recursive: true });
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  const store = new LocalStore(storeDir);
  t.teardown(() => store.close());
  const dynamic = { backup_schedule: 'off' };
  const backup = { store: { kind: 'local', path: storeDir } };

  // ---- Cluster A: rows, a backup, more rows, a time, more rows; everything archived; then gone.
  const a = await startAgentCluster(t, { perNode: () => ({ backup }), dynamic }, 4 * 60_000);
  const primaryA = (await untilHealthy(a, 120_000)).primary;
  lap('A healthy');
  await query(a, primaryA, TABLE_SQL);
  await query(a, primaryA, insertRows(4000, 'before-backup'));
  const admin = await a.admin();
  const taken = await admin.createBackup({ label: 'dr', timeoutMs: 120_000 });
  admin.close();
  t.like(taken.run, { status: 'done' });
  const backupId = taken.run!.backupId!;
  lap('A backup taken');
  await query(a, primaryA, insertRows(3000, 'after-backup'));
  // Half a second after the second batch committed (a Date has ms, the server's clock µs), a second before the third.
  const [{ at }] = await query<{ at: Date }>(a, primaryA, 'SELECT clock_timestamp() AS at');
  const targetTime = new Date(at!.getTime() + 500);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await query(a, primaryA, insertRows(2000, 'after-target'));
  const [sourceAll] = await query<Checksum>(a, primaryA, CHECKSUM_SQL);
  const [sourceBeforeTarget] = await query<Checksum>(a, primaryA, CHECKSUM_SQL.replace('FROM t', "FROM t WHERE v NOT LIKE 'after-target-%'"));
  t.is(sourceAll!.n, 9000);
  t.is(sourceBeforeTarget!.n, 7000);
  const [{ id: systemIdentifier }] = await query<{ id: string }>(a, primaryA, 'SELECT system_identifier::text AS id FROM pg_control_system()');
  await switchAndArchive(a, primaryA, store);
  await a.stopAll();
  lap('A written, archived and stopped');

  // ---- Cluster B: the same name and store, bootstrap.method restore, backup latest.
  const b = await startNextCluster(t, { perNode: () => ({ backup, bootstrap: { method: 'restore', dynamic } }), dynamic });
  const healthyB = await untilHealthy(b, 180_000);
  lap('B healthy');
  const primaryB = healthyB.primary;
  t.deepEqual((await query<Checksum>(b, primaryB, CHECKSUM_SQL))[0], sourceAll, 'every row of A, the same checksum');
  const timelineB = healthyB.statuses.find((s) => s.name === primaryB)!.timeline!;
  t.true(timelineB > 1, `B runs on timeline ${timelineB}, after A's 1`);
  t.true(healthyB.statuses.every((s) => s.timeline === timelineB), 'the other members follow it');
  for (const replica of healthyB.replicas) {
    const rows = await until(`${replica} replayed every row`, 30_000, async () => {
      const result = await query<Checksum>(b, replica, CHECKSUM_SQL).catch(() => undefined);
      return result?.[0]?.n === sourceAll!.n ? result[0] : undefined;
    });
    t.deepEqual(rows, sourceAll, `${replica} has every row`);
  }
  const stateB = await clusterState(b, primaryB);
  t.is(stateB.initialize.systemIdentifier, systemIdentifier, "the source's database system");
  t.deepEqual(stateB.initialize.restoredFrom, { backupId, timeline: timelineB, targetTimeMs: null });
  // This cluster's passwords, not A's (the agents connect with them; the test's password file is B's).
  t.not(await superuserPassword(b, primaryB), await superuserPassword(a, primaryA));
  // B archives its own timeline: a new history file, new segments, and nothing of A's timeline with other contents.
  const written = await query(b, primaryB, insertRows(10, 'on-b'));
  t.truthy(written);
  const segmentB = await switchAndArchive(b, primaryB, store);
  t.is(parseInt(segmentB.slice(0, 8), 16), timelineB);
  t.truthy(await store.head(walKey(CLUSTER, `${timelineB.toString(16).toUpperCase().padStart(8, '0')}.history`)), 'the new timeline history file is archived');
  t.deepEqual(await logLines(b, /wal\.archive_conflict/), [], 'no WAL file of another content under an archived name');
  t.true(Object.values((await clusterState(b, primaryB)).members).every((m) => m.status?.archive?.failure == null), 'every member reports a working archive');
  await b.stopAll();
  lap('B checked and stopped');

  // ---- Cluster C (one agent): a recovery_target_time before every backup is refused, nothing touched...
  const c = await startNextCluster(t, {
    size: 1,
    perNode: () => ({ backup, bootstrap: { method: 'restore', restore: { recovery_target_time: new Date(Date.now() - 3_600_000).toISOString() }, dynamic } }),
    dynamic,
  });
  const refused = await until('C refuses the restore', 60_000, async () => {
    const status = await c.status('n1');
    return status.refused !== null ? status : undefined;
  }, 250);
  t.regex(refused.refused!, /^recovery_target_time .* is before every backup of cluster demo in .*: the oldest, \d{8}T\d{6}Z-[0-9a-f]{6}, finished at /);
  t.is(refused.lastReason, 'RESTORE_REFUSED');
  lap('C refused');
  // ...then the operator sets the time between the second and the third batch and restarts the agent: the same claim restores.
  await c.stop('n1');
  const node = c.node('n1');
  const config = YAML.parse(await readFile(node.configFile, 'utf8')) as { bootstrap: { restore: { recovery_target_time: string } } };
  config.bootstrap.restore.recovery_target_time = targetTime.toISOString();
  await writeFile(node.configFile, YAML.stringify(config));
  c.start('n1');
  const healthyC = await untilHealthy(c, 120_000);
  lap('C healthy');
  t.deepEqual((await query<Checksum>(c, healthyC.primary, CHECKSUM_SQL))[0], sourceBeforeTarget, 'only the rows committed before the target');
  const timelineC = healthyC.statuses[0]!.timeline!;
  t.true(timelineC > timelineB, `C runs on timeline ${timelineC}, after B's ${timelineB} (the archive holds B's history)`);
  t.like((await clusterState(c, 'n1')).initialize.restoredFrom, { backupId, timeline: timelineC, targetTimeMs: targetTime.getTime() });
  lap('done');
});

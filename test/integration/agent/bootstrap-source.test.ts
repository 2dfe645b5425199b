/**
 * How a new member gets its data (DESIGN §6), on a real three-node cluster
 * whose agents archive WAL into one local store: a base backup of this
 * cluster is taken into the store by the primary's agent (pgherdctl backup
 * create), rows are written after it, then new nodes join
 * one at a time, each with the thresholds set for one branch:
 *
 *  (a) within both thresholds: the plan is S3 with that backup and the
 *      numbers; the member restores it, replays the archive, streams with
 *      its own slot and has every row, pg_basebackup never ran;
 *  (b) bootstrap_s3_max_wal_bytes 1 KiB: the plan is pg_basebackup from the
 *      primary, its reason naming the WAL since the backup and the limit;
 *  (c) the backup's stored object corrupted (same size, so the catalog still
 *      lists it): the plan is S3, the restore refuses the object (SHA-256),
 *      the member empties its data directory, records the fallback in its
 *      plan (pgherdctl list shows why) and clones with pg_basebackup.
 *
 * Each new node is removed once checked, so the cluster never runs more
 * than four agents on this two-core machine.
 */
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { AdminClient } from '../../../src/admin/client.js';
import type { BootstrapPlanView } from '../../../src/admin/types.js';
import { backupObjectKey } from '../../../src/backup/backup-manifest.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import { renderList } from '../../../src/cli/ctl/render.js';
import type { AgentCluster } from '../../../scripts/lib/agent-cluster.js';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from './helpers.js';

const CLUSTER = 'demo';
const BOOT_MS = 120_000;
const JOIN_MS = 120_000;

async function count(cluster: AgentCluster, name: string, password: string): Promise<number | Error> {
  const rows = await tryQuery(cluster, name, password, 'SELECT count(*)::int AS n FROM b');
  return rows instanceof Error ? rows : Number(rows.rows[0]!['n']);
}

async function planOf(admin: AdminClient, member: string): Promise<BootstrapPlanView> {
  return untilValue(`${member}'s bootstrap plan`, JOIN_MS, async () => (await admin.clusterStatus().catch(() => undefined))?.members.find((m) => m.name === member)?.bootstrap ?? undefined, 250);
}

/** Start a new node, wait until every node streams, and check it has all `rows`. */
async function joinNew(t: ExecutionContext, cluster: AgentCluster, name: string, password: string, rows: number): Promise<void> {
  await cluster.addNode(name);
  cluster.start(name);
  const started = performance.now();
  await untilHealthy(cluster, JOIN_MS);
  t.log(`${name} streams ${Math.round(performance.now() - started)} ms after it started`);
  const copied = await untilValue(`${name} has ${rows} rows`, 30_000, async () => ((await count(cluster, name, password)) === rows ? rows : undefined), 250);
  t.is(copied, rows);
}

async function retire(cluster: AgentCluster, admin: AdminClient, name: string): Promise<void> {
  await admin.removeMember({ name });
  await cluster.stop(name);
  cluster.forget(name);
}

async function logOf(cluster: AgentCluster, name: string): Promise<string> {
  return readFile(cluster.node(name).logFile, 'utf8').catch(() => '');
}

test.serial('a new member: S3 within the thresholds, pg_basebackup beyond them, and the fallback when the backup is corrupt', async (t) => {
  const storeDir = await mkdtemp(join(tmpdir(), 'pgherd-bootstrap-store-'));
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  // Ratio 1: the WAL since the backup's start includes the segment its stop switched to, and 16 MiB more for every
  // pg_basebackup after it (the new members' clones): (c) must still find it within the ratio.
  const cluster = await startAgentCluster(t, { perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }), dynamic: { bootstrap_s3_max_wal_ratio: 1 } }, 8 * 60_000);
  const first = await untilHealthy(cluster, BOOT_MS);
  const primary = first.primary;
  const password = await superuserPassword(cluster, primary);
  const admin = await cluster.admin(primary);
  t.teardown(() => admin.close());
  // ~76 MB of uncompressed rows before the backup (most of its size), 500 small ones after it (replayed from the archive or streamed).
  t.false((await tryQuery(cluster, primary, password, 'CREATE TABLE b (id int PRIMARY KEY, v text); ALTER TABLE b ALTER COLUMN v SET STORAGE EXTERNAL')) instanceof Error);
  for (let from = 1; from <= 2000; from += 200) {
    const inserted = await tryQuery(cluster, primary, password, `INSERT INTO b SELECT g, repeat(md5(g::text), 1200) FROM generate_series(${from}, ${from + 199}) g`);
    t.false(inserted instanceof Error, String(inserted));
  }

  const store = new LocalStore(storeDir);
  t.teardown(() => store.close());
  const started = performance.now();
  // Taken by the primary's agent (pgherdctl backup create): the cluster state records it, so the
  // primary's cached catalog is read again for the next plan.
  const taken = await admin.createBackup({ timeoutMs: 120_000 });
  t.is(taken.run?.status, 'done', taken.message);
  const manifest = (await admin.listBackups()).backups.find((b) => b.id === taken.run!.backupId)!;
  t.log(`backup ${manifest.id}: ${manifest.dataBytes} bytes of data, ${manifest.storedBytes} stored, ${manifest.startLsn}..${manifest.stopLsn}, ${Math.round(performance.now() - started)} ms`);
  t.false((await tryQuery(cluster, primary, password, 'INSERT INTO b SELECT g, md5(g::text) FROM generate_series(2001, 2500) g')) instanceof Error);

  // (a) Within both thresholds: S3.
  await joinNew(t, cluster, 'n4', password, 2500);
  const s3 = await planOf(admin, 'n4');
  t.like(s3, { method: 's3', source: manifest.id, backupBytes: manifest.dataBytes });
  t.true((s3.walBytesSinceBackup ?? 0) > 0, 'WAL since the backup counted');
  t.regex(s3.reason, new RegExp(`^latest backup ${manifest.id}: [0-9.]+ [KMG]?i?B of WAL since its start \\([0-9.]+ of its [0-9.]+ MiB\\) is within 10\\.0 GiB and within 1$`));
  const n4log = await logOf(cluster, 'n4');
  t.regex(n4log, /"msg":"ha\.bootstrap_s3_done"/);
  t.notRegex(n4log, /postgres\.basebackup_started/, 'no pg_basebackup');
  // It streams with its own slot: new rows arrive.
  t.false((await tryQuery(cluster, primary, password, 'INSERT INTO b SELECT g, md5(g::text) FROM generate_series(2501, 2600) g')) instanceof Error);
  await untilValue('n4 streams the new rows', 30_000, async () => ((await count(cluster, 'n4', password)) === 2600 ? true : undefined), 250);
  const slot = await tryQuery(cluster, primary, password, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pgherd_n4'");
  t.true(!(slot instanceof Error) && slot.rows[0]?.['active'] === true, 'n4 streams through its slot');
  await retire(cluster, admin, 'n4');

  // (b) More WAL since the backup than bootstrap_s3_max_wal_bytes: pg_basebackup, the reason naming both numbers.
  t.true((await admin.patchConfig({ patch: { bootstrap_s3_max_wal_bytes: 1024 } })).changes.length > 0);
  await joinNew(t, cluster, 'n5', password, 2600);
  const beyond = await planOf(admin, 'n5');
  t.like(beyond, { method: 'basebackup', source: primary, backupBytes: manifest.dataBytes });
  t.true((beyond.walBytesSinceBackup ?? 0) > 1024);
  t.regex(beyond.reason, new RegExp(`^latest backup ${manifest.id}: [0-9.]+ [KMG]i?B of WAL since its start \\([0-9.]+ of its [0-9.]+ MiB\\) is more than bootstrap_s3_max_wal_bytes 1\\.0 KiB and within 1$`));
  t.regex(await logOf(cluster, 'n5'), /postgres\.basebackup_done/);
  await retire(cluster, admin, 'n5');

  // (c) The stored object corrupted (same size: the catalog still lists it): S3 planned, refused, fallback recorded.
  t.true((await admin.patchConfig({ patch: { bootstrap_s3_max_wal_bytes: null } })).changes.length > 0);
  const object = join(storeDir, ...backupObjectKey(CLUSTER, manifest.id).split('/'));
  const size = (await stat(object)).size;
  const handle = await open(object, 'r+');
  await handle.write(Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 2));
  await handle.close();
  t.is((await stat(object)).size, size);
  await joinNew(t, cluster, 'n6', password, 2600);
  const fellBack = await planOf(admin, 'n6');
  t.like(fellBack, { method: 'basebackup', source: primary, backupBytes: manifest.dataBytes });
  t.true(fellBack.walBytesSinceBackup !== null, 'the numbers that chose S3 stay');
  t.regex(fellBack.reason, new RegExp(`^S3 restore of ${manifest.id} failed: .*sha256.*; pg_basebackup from ${primary}$`));
  const n6log = await logOf(cluster, 'n6');
  t.regex(n6log, /"msg":"ha\.bootstrap_s3_failed"/);
  t.regex(n6log, /"msg":"ha\.bootstrap_fallback"/);
  t.regex(n6log, /postgres\.basebackup_done/);
  const listed = renderList(await admin.clusterStatus());
  t.regex(listed, new RegExp(`Data source: n6 — pg_basebackup from ${primary}: S3 restore of ${manifest.id} failed: `));
  t.log(listed.split('\n').filter((line) => line.startsWith('Data source: n6')).join('\n'));
});

/**
 * WAL archiving through the agent, on a real three-node cluster: pgbench
 * writes on the primary, PostgreSQL's archive_command hands each segment to
 * its agent (wal-client.pl over the agent's socket), the agent stores
 * it compressed in the local store all nodes share. The archive must be
 * contiguous (no segment missing from the first to the last), each object
 * must decode to a valid segment, the primary must report its archiving
 * (pgherdctl list, /metrics), and after a failover the new primary archives
 * the timeline history file and goes on on the new timeline.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { archivedWalNames } from '../../../src/backup/backup-catalog.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import { WalRestorer } from '../../../src/backup/wal-restorer.js';
import { findPgBinaries } from '../../../src/postgres/index.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from '../agent/helpers.js';
import { untilValue as until } from '../../helpers/wait.js';

const CLUSTER = 'demo';

function runPgbench(path: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.slice(-4000) }));
  });
}

async function segmentsInStore(store: LocalStore): Promise<string[]> {
  return archivedWalNames(store, CLUSTER);
}

test('under pgbench the archive is contiguous and decodes; the primary reports it; a new primary archives its history file', async (t) => {
  const storeDir = join(tmpdir(), `pgherd-archive-${process.pid}-${Date.now()}`);
  await mkdir(storeDir, { recursive: true });
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  const cluster = await startAgentCluster(t, { perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }) });
  const healthy = await untilHealthy(cluster, 120_000);
  const primary = healthy.primary;
  const password = await superuserPassword(cluster, primary);
  const binaries = await findPgBinaries({});
  const node = cluster.node(primary);
  const env = { ...process.env, PGHOST: node.host, PGPORT: String(node.pgPort), PGUSER: 'postgres', PGPASSWORD: password, PGDATABASE: 'postgres' };

  const init = await runPgbench(join(binaries.binDir, 'pgbench'), ['-i', '-s', '5', '-q'], env);
  t.is(init.code, 0, init.output);
  const load = await runPgbench(join(binaries.binDir, 'pgbench'), ['-T', '15', '-c', '2', '-j', '2', '-n'], env);
  t.is(load.code, 0, load.output);
  const switched = await tryQuery(cluster, primary, password, 'SELECT pg_walfile_name(pg_switch_wal()) AS last');
  if (switched instanceof Error) return t.fail(switched.message);
  const last = String(switched.rows[0]!.last);

  const store = new LocalStore(storeDir);
  t.teardown(() => store.close());
  const names = await until('the last segment before the switch is archived', 60_000, async () => {
    const all = await segmentsInStore(store);
    return all.includes(last) ? all : undefined;
  });
  const segments = names.filter((name) => /^[0-9A-F]{24}$/.test(name) && name.startsWith(last.slice(0, 8)));
  const numbers = segments.map((name) => parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16), 16)).sort((a, b) => a - b);
  t.true(numbers.length >= 3, `segments archived: ${segments.join(' ')}`);
  const gaps = numbers.filter((n, i) => i > 0 && n !== numbers[i - 1]! + 1);
  t.deepEqual(gaps, [], 'no segment missing between the first and the last');
  t.log(`${segments.length} segments archived, ${segments[0]} … ${last}`);

  // Every archived segment decodes and verifies (the restorer checks the SHA-256 and size).
  const restorer = await WalRestorer.open({ store, cluster: CLUSTER, spoolDir: `${storeDir}-spool`, prefetch: 0 });
  t.teardown(async () => {
    await restorer.close();
    await rm(`${storeDir}-spool`, { recursive: true, force: true });
  });
  for (const name of segments) {
    const result = await restorer.restore(name);
    t.is(result.kind, 'found', name);
    if (result.kind === 'found') {
      t.is(result.sizeBytes, 16 * 1024 * 1024, name);
      await result.release();
    }
  }

  const admin = await cluster.admin(primary);
  t.teardown(() => admin.close());
  const reported = await until('the primary reports its archiving', 30_000, async () => {
    const status = await admin.clusterStatus();
    const archive = status.members.find((m) => m.name === primary)?.status?.archive;
    return archive && archive.lastArchived !== null && archive.readyFiles < 4 ? archive : undefined;
  });
  t.is(reported.failure, null);
  const metrics = await (await fetch(`http://${cluster.node(primary).host}:${cluster.node(primary).httpPort}/metrics`)).text();
  t.regex(metrics, /^pgherd_wal_archived_files_total [1-9][0-9]*$/m);
  // How many segments archive_command confirmed in the shell from the agent's marker (its fast path): reported, not required.
  const markers = ['written', 'consumed'].map((what) => new RegExp(`^pgherd_wal_archive_markers_${what}_total ([0-9]+)$`, 'm').exec(metrics)?.[1]);
  t.true(markers.every((value) => value !== undefined), 'the marker counters are exported');
  t.log(`archive_command fast path: ${markers[1]} of ${markers[0]} markers consumed`);
  t.regex(metrics, /^pgherd_backup_store_up 1$/m);

  // Failover: the new primary archives its timeline history file and writes on the new timeline.
  await cluster.stop(primary);
  const after = await untilHealthy(cluster, 120_000, cluster.nodes.map((n) => n.name).filter((n) => n !== primary));
  const timeline = after.statuses.find((s) => s.name === after.primary)?.timeline ?? 0;
  t.true(timeline >= 2, `timeline ${timeline}`);
  const history = `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
  await until(`${history} is archived`, 60_000, async () => ((await segmentsInStore(store)).includes(history) ? true : undefined));
  const newPassword = await superuserPassword(cluster, after.primary);
  const next = await tryQuery(cluster, after.primary, newPassword, 'SELECT pg_walfile_name(pg_switch_wal()) AS last');
  if (next instanceof Error) return t.fail(next.message);
  const nextLast = String(next.rows[0]!.last);
  t.true(nextLast.startsWith(history.slice(0, 8)), nextLast);
  await until(`${nextLast} is archived by ${after.primary}`, 60_000, async () => ((await segmentsInStore(store)).includes(nextLast) ? true : undefined));
});

/**
 * Base backups run by the agents, on a real three-node cluster sharing a
 * local store: an operator's `backup create` is recorded through Raft,
 * taken by the primary beside its HA loop and committed to the store; a
 * second one while it runs is refused; with backup_keep_count 1 the next
 * backup deletes the first and prunes the archived WAL behind it; a
 * schedule (a cron with seconds) takes one by itself. `backup list` shows
 * what the store holds and `pgherdctl list` the last run.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { archivedWalNames } from '../../../src/backup/backup-catalog.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import { isWalPrunable } from '../../../src/backup/retention.js';
import { renderList } from '../../../src/cli/ctl/render.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from '../agent/helpers.js';
import { untilValue as until } from '../../helpers/wait.js';

const CLUSTER = 'demo';

async function walNames(store: LocalStore): Promise<string[]> {
  return (await archivedWalNames(store, CLUSTER)).sort();
}

test('backup create is taken by the primary and listed; one at a time; retention deletes the older backup and prunes its WAL; the schedule takes one by itself', async (t) => {
  const storeDir = join(tmpdir(), `pgherd-backups-${process.pid}-${Date.now()}`);
  await mkdir(storeDir, { recursive: true });
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  const cluster = await startAgentCluster(t, {
    perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }),
    dynamic: { backup_schedule: 'off', backup_keep_count: 1, backup_keep_days: 0 },
  });
  const healthy = await untilHealthy(cluster, 120_000);
  const password = await superuserPassword(cluster, healthy.primary);
  const created = await tryQuery(cluster, healthy.primary, password, 'CREATE TABLE b AS SELECT generate_series(1, 50000) AS id');
  t.false(created instanceof Error, String(created));
  const admin = await cluster.admin();
  t.teardown(() => admin.close());

  const first = await admin.createBackup({ label: 'first', timeoutMs: 120_000 });
  t.log(first.message);
  t.like(first.run, { status: 'done', trigger: 'operator', takenBy: healthy.primary, label: 'first' });
  t.regex(first.message, /^backup \d{8}T\d{6}Z-[0-9a-f]{6}: .* in [\d.]+ s, .* on timeline 1; retention: 1 kept, no backup expired, \d+ WAL files pruned \(taken on n\d\)$/);
  const listed = await admin.listBackups();
  t.deepEqual(listed.backups.map((b) => [b.id, b.label, b.takenOn]), [[first.run!.backupId, 'first', healthy.primary]]);
  t.like(listed, { schedule: 'off', nextScheduledAt: null, taker: healthy.primary, keepCount: 1, keepDays: 0, current: null, unusable: [] });
  t.true(listed.backups[0]!.dataBytes > 5_000_000, `${listed.backups[0]!.dataBytes} bytes`);

  // One at a time: a second request while the first is pending or running is refused.
  const pending = await admin.createBackup({ label: 'second', noWait: true });
  t.true(pending.run?.status === 'pending' || pending.run?.status === 'running', JSON.stringify(pending.run));
  const refused = await t.throwsAsync(admin.createBackup({ label: 'third' }));
  t.like(refused, { status: 'ALREADY_EXISTS', reason: 'BACKUP_PENDING' });
  const second = await until('the second backup ends', 120_000, async () => {
    const list = await admin.listBackups();
    return list.last?.id === pending.run!.id ? list : undefined;
  });
  t.like(second.last, { status: 'done', label: 'second' });
  t.deepEqual(second.backups.map((b) => b.id), [second.last!.backupId], 'keep_count 1: the first backup was deleted');
  const store = new LocalStore(storeDir);
  t.teardown(() => store.close());
  const kept = second.backups[0]!;
  const prunable = (await walNames(store)).filter((name) => isWalPrunable(name, kept.startWalFile, 16 * 1024 * 1024));
  t.deepEqual(prunable, [], `no archived WAL before ${kept.startWalFile} is left`);
  t.true((await walNames(store)).some((name) => name >= kept.startWalFile.slice(0, 8)), 'the WAL the kept backup needs is there');
  t.regex(renderList(await admin.clusterStatus()), /Last backup: done on n\d at .*, requested by .* — backup \d{8}T/);

  // The schedule: every 10 s (a cron with seconds); the first schedule time after the bootstrap fires.
  await admin.patchConfig({ patch: { backup_schedule: '*/10 * * * * *' } });
  const scheduled = await until('a scheduled backup ends', 120_000, async () => {
    const list = await admin.listBackups();
    return list.last?.trigger === 'schedule' && (list.last.status === 'done' || list.last.status === 'failed') ? list : undefined;
  });
  await admin.patchConfig({ patch: { backup_schedule: 'off' } });
  t.like(scheduled.last, { status: 'done', by: "schedule '*/10 * * * * *'", label: 'scheduled', takenBy: healthy.primary });
  const rows = await tryQuery(cluster, healthy.primary, password, 'SELECT count(*)::int AS n FROM b');
  t.deepEqual(rows instanceof Error ? rows.message : rows.rows[0], { n: 50000 }, 'the primary served throughout');
});

/**
 * A store that does not work never stops the node (issue: bad input). Three
 * agents archive to S3 (s3rver) into a bucket that does not exist: the
 * cluster forms and takes writes, `pgherdctl list` shows the primary's
 * archiving FAILING with the store's own error (NoSuchBucket, naming the
 * bucket), /metrics says the store is down and WAL waits in pg_wal. Once the
 * bucket exists, archiving catches up by itself (PostgreSQL retries, the
 * agent rechecks) and the failure clears.
 */
import test from 'ava';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3rver } from '../../helpers/s3rver.js';
import { untilValue as until } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy } from '../agent/helpers.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PGHERDCTL = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist/src/cli/pgherdctl.js');
const run = promisify(execFile);

const BUCKET = 'pgherd-missing';

test('a missing bucket: the cluster serves, list and /metrics say why archiving fails; creating the bucket lets it catch up', async (t) => {
  const s3 = await startS3rver();
  t.teardown(() => s3.close());
  const store = { kind: 's3', bucket: BUCKET, endpoint: s3.endpoint, force_path_style: true };
  const cluster = await startAgentCluster(t, { perNode: () => ({ backup: { store } }) });
  const { primary } = await untilHealthy(cluster, 120_000);
  const password = await superuserPassword(cluster, primary);
  const wrote = await tryQuery(cluster, primary, password, 'CREATE TABLE t AS SELECT 1 AS id');
  t.false(wrote instanceof Error, 'the primary takes writes');
  const switched = await tryQuery(cluster, primary, password, 'SELECT pg_walfile_name(pg_switch_wal()) AS last');
  if (switched instanceof Error) return t.fail(switched.message);
  const last = String(switched.rows[0]!.last);

  const listed = await until('list shows the archive failing', 60_000, async () => {
    const { stdout } = await run(process.execPath, [PGHERDCTL, '-c', cluster.node(primary).configFile, 'list'], { timeout: 30_000 });
    return /^Archive: .* FAILING: /m.test(stdout) ? stdout : undefined;
  });
  t.regex(listed, new RegExp(`^Archive: ${primary} — FAILING: .*${BUCKET}.*(NoSuchBucket|does not exist)`, 'm'));
  const metricsUrl = `http://${cluster.node(primary).host}:${cluster.node(primary).httpPort}/metrics`;
  const metrics = await (await fetch(metricsUrl)).text();
  t.regex(metrics, /^pgherd_backup_store_up 0$/m);
  t.regex(metrics, /^pgherd_wal_archive_ready_files [1-9][0-9]*$/m);

  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  t.teardown(() => client.destroy());
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // A new segment wakes PostgreSQL's archiver, which retries the waiting ones too. The insert first: with
  // nothing written since the last switch, pg_switch_wal() switches nothing, and the archiver sleeps up to 60 s.
  await tryQuery(cluster, primary, password, 'INSERT INTO t VALUES (2)');
  await tryQuery(cluster, primary, password, 'SELECT pg_switch_wal()');
  const admin = await cluster.admin(primary);
  t.teardown(() => admin.close());
  // Caught up: the failure cleared, the segment switched out above stored, and PostgreSQL's queue drained
  // (read-ahead stores files before PostgreSQL asks, so the stored name alone says nothing of the queue).
  const archive = await until('the archive catches up, the failure clears and nothing waits in pg_wal', 120_000, async () => {
    const status = await admin.clusterStatus();
    const report = status.members.find((m) => m.name === primary)?.status?.archive;
    return report && report.failure === null && report.lastArchived !== null && report.lastArchived >= last && report.readyFiles === 0 ? report : undefined;
  });
  t.is(archive.readyFiles, 0);
});

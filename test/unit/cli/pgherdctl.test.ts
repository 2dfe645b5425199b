/**
 * pgherdctl in-process (runPgherdctl with a fake terminal) against the real
 * admin service on real gRPC with mutual TLS; one run of the real entry
 * point as a process.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { ctl, emptyDir } from './helpers.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { handOver, healthy, MemoryBackend, serveAdmin } from '../admin/helpers.js';

const CLI = fileURLToPath(new URL('../../../src/cli/pgherdctl.ts', import.meta.url));

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** A served cluster (n1 primary, n2 and n3 healthy replicas) and the flags that reach it with n2's certificate. */
async function served(t: ExecutionContext) {
  const backend = new MemoryBackend(runningCluster());
  for (const member of ['n2', 'n3']) backend.positions.set(member, healthy(member));
  const server = await serveAdmin(t, pki, backend);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath];
  return { backend, server, flags };
}

test('argument errors exit 2 naming the flag and the expected form, before anything is asked', async (t) => {
  const reach = ['-e', '127.0.0.1:1', '--insecure'];
  const cases: Array<[string[], RegExp]> = [
    [['switchover', '--force', '--candidate', 'N 2', ...reach], /--candidate: expected a member name/],
    [['switchover', '--force', '--scheduled', 'tomorrow', ...reach], /--scheduled: expected 'now' or an RFC 3339 time with a zone/],
    [['switchover', '--force', '--scheduled', '2001-01-01T00:00:00Z', ...reach], /--scheduled: 2001-01-01T00:00:00Z is in the past/],
    [['switchover', '--force', '--timeout', '0', ...reach], /--timeout: expected a number of seconds above 0/],
    [['switchover', '--cancel', '--candidate', 'n2', ...reach], /--cancel takes no --candidate/],
    [['list', '--watch', 'soon', ...reach], /--watch: expected a number of seconds/],
    [['pause', '--by', '', ...reach], /--by: expected printable text/],
    [['failover', '--force', ...reach], /--candidate/],
    [['list', '--endpoint', 'nowhere', '--insecure'], /--endpoint: expected host:port/],
    [['list', '--endpoint', '127.0.0.1:1'], /--endpoint needs credentials: --ca-file, --cert-file and --key-file/],
    [['list', '--endpoint', '127.0.0.1:1', '--ca-file', '/x/ca.crt'], /go together \(mutual TLS\): missing --cert-file, --key-file/],
    [['list', '-c', '/nonexistent/pgherd.yaml'], /-c \/nonexistent\/pgherd\.yaml: .*cannot read/],
    [['list', '--bogus'], /unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [argv, message] of cases) {
    const run = await ctl(t, argv);
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, message, argv.join(' '));
  }
});

test('unreadable certificate files exit 2 naming the flag', async (t) => {
  const run = await ctl(t, ['list', '-e', '127.0.0.1:1', '--ca-file', '/nonexistent/ca.crt', '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath]);
  t.is(run.code, 2);
  t.regex(run.stderr, /--ca-file: cannot read \/nonexistent\/ca\.crt/);
});

test('no endpoint, no configuration and no demo cluster: exit 2 saying how to connect', async (t) => {
  const run = await ctl(t, ['list']);
  t.is(run.code, 2);
  t.regex(run.stderr, /--endpoint HOST:PORT .* -c FILE .* no demo cluster \(npm run demo\) was found/);
});

test('an endpoint nobody answers on: exit 3 naming it (and --json says so on stdout)', async (t) => {
  const run = await ctl(t, ['--json', 'list', '-e', '127.0.0.1:1', '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath]);
  t.is(run.code, 3);
  t.regex(run.stderr, /error: no agent answered: 127\.0\.0\.1:1: UNAVAILABLE/);
  t.like(JSON.parse(run.stdout), { error: { kind: 'unreachable', status: null } });
});

test('list: a table with the cluster header; --json: the ClusterStatus object', async (t) => {
  const { backend, flags } = await served(t);
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 10, member: 'n2', role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/3000000', replayLsn: '0/3000000', flushLsn: null, lagBytes: 5 * 1024 * 1024 });
  backend.apply({ type: 'registerMember', atMs: T0_MS + 11, member: 'n3', raftAddress: 'n3:7400', postgresHost: 'n3', postgresPort: 5432, httpAddress: 'n3:8008', tags: { nofailover: true } });
  backend.apply({ type: 'setPause', atMs: T0_MS + 12, paused: true, by: 'bob' });
  const human = await ctl(t, ['list', ...flags]);
  t.is(human.code, 0, human.stderr);
  const lines = human.stdout.split('\n');
  t.regex(lines[0]!, /^Cluster: pg-main — primary n1 \(epoch 1, timeline 1\) — Raft leader n2 \(term 4\) — answered by n1$/);
  t.regex(lines[1]!, /^Paused: no automatic failover \(by bob since /);
  t.regex(human.stdout, /\| Member \| Host +\| Role +\| State +\| TL \| Lag in MB \| Tags +\| Raft +\|/);
  t.regex(human.stdout, /\| n1 +\| n1:5432 +\| Primary +\|/);
  t.regex(human.stdout, /\| n2 +\| n2:5432 +\| Replica +\| streaming +\|  1 \| +5 \| +\| leader +\|/);
  t.regex(human.stdout, /\| n3 +\| n3:5432 +\| Unknown +\| no report .*\| nofailover +\| voter +\|/);

  const json = await ctl(t, ['list', '--json', ...flags]);
  t.is(json.code, 0, json.stderr);
  const status = JSON.parse(json.stdout);
  t.deepEqual(Object.keys(status).sort(), [
    'answeredBy', 'answeringHa', 'backupCurrent', 'backupLast', 'clusterName', 'configVersion', 'epoch', 'historyLength', 'leader', 'linearizable', 'members', 'pause', 'raft', 'staleReason',
    'switchover', 'syncMembers', 'systemIdentifier',
  ]);
  t.like(status, { clusterName: 'pg-main', epoch: 1, leader: { member: 'n1', epoch: 1, timeline: 1 }, pause: { paused: true, by: 'bob' }, switchover: null });
  t.deepEqual(Object.keys(status.members[1]).sort(), ['action', 'bootstrap', 'name', 'primary', 'raftRole', 'registration', 'status', 'sync']);
  t.like(status.members[1], { name: 'n2', raftRole: 'leader', status: { role: 'replica', lagBytes: 5 * 1024 * 1024, timeline: 1 } });
});

test('list: the primary\'s WAL archiving (lag in files, last file, a failure) and each member\'s recorded data source with its numbers', async (t) => {
  const { backend, flags } = await served(t);
  const archive = { readyFiles: 3, lastArchived: '00000001000000000000000A', lastArchivedAtMs: T0_MS + 5, failure: 's3://pg/prod (http://127.0.0.1:9): NoSuchBucket: The specified bucket does not exist' };
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 10, member: 'n1', role: 'primary', state: 'running', timeline: 1, receiveLsn: null, replayLsn: null, flushLsn: '0/B000000', lagBytes: 0, archive });
  backend.apply({ type: 'recordBootstrapPlan', atMs: T0_MS + 11, member: 'n2', method: 'basebackup', source: 'n1', reason: 'WAL since the latest backup exceeds 30% of its size', walBytesSinceBackup: 3 * 1024 ** 3, backupBytes: 2 * 1024 ** 3, leaderEpoch: 1 });
  backend.apply({ type: 'recordBootstrapPlan', atMs: T0_MS + 12, member: 'n3', method: 's3', source: '20261126T101500Z', reason: 'within both limits', walBytesSinceBackup: 512 * 1024 ** 2, backupBytes: 8 * 1024 ** 3, leaderEpoch: 1 });
  const human = await ctl(t, ['list', ...flags]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^Archive: n1 — FAILING: s3:\/\/pg\/prod \(http:\/\/127\.0\.0\.1:9\): NoSuchBucket: .*; 3 WAL files waiting \(PostgreSQL keeps them until they are archived\); last 00000001000000000000000A at 20/m);
  t.regex(human.stdout, /^Data source: n2 — pg_basebackup from n1: WAL since the latest backup exceeds 30% of its size \(WAL since the backup 3\.0 GiB, backup 2\.0 GiB\)$/m);
  t.regex(human.stdout, /^Data source: n3 — S3 base backup 20261126T101500Z: within both limits \(WAL since the backup 512\.0 MiB, backup 8\.0 GiB\)$/m);
  const json = JSON.parse((await ctl(t, ['list', '--json', ...flags])).stdout);
  t.deepEqual(json.members[0].status.archive, { readyFiles: 3, lastArchived: '00000001000000000000000A', lastArchivedAt: new Date(T0_MS + 5).toISOString(), failure: archive.failure });
  t.like(json.members[2].bootstrap, { method: 's3', source: '20261126T101500Z', walBytesSinceBackup: 512 * 1024 ** 2, backupBytes: 8 * 1024 ** 3 });
  t.is(json.members[1].status?.archive ?? null, null, 'n2 has no store configured');
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 15, member: 'n2', role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/B000000', replayLsn: '0/B000000', flushLsn: null, lagBytes: 0, archive: { readyFiles: 0, lastArchived: null, lastArchivedAtMs: null, failure: null } });
  t.notRegex((await ctl(t, ['list', ...flags])).stdout, /^Archive: n2/m, 'a replica whose store works is not listed');
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 16, member: 'n2', role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/B000000', replayLsn: '0/B000000', flushLsn: null, lagBytes: 0, archive: { readyFiles: 0, lastArchived: null, lastArchivedAtMs: null, failure: 'AccessDenied' } });
  t.regex((await ctl(t, ['list', ...flags])).stdout, /^Archive: n2 — FAILING: AccessDenied; 0 WAL files waiting .*; nothing archived yet$/m);

  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 20, member: 'n1', role: 'primary', state: 'running', timeline: 1, receiveLsn: null, replayLsn: null, flushLsn: '0/B000000', lagBytes: 0, archive: { ...archive, readyFiles: 1, failure: null } });
  const healthyArchive = await ctl(t, ['list', ...flags]);
  t.regex(healthyArchive.stdout, /^Archive: n1 — 1 WAL file waiting; last 00000001000000000000000A at /m);
});

test('list --watch --json: one object per refresh until Ctrl-C, then exit 0', async (t) => {
  const { backend, flags } = await served(t);
  const interrupt = new AbortController();
  let refreshes = 0;
  const onStdout = (): void => {
    refreshes += 1;
    if (refreshes === 1) backend.apply({ type: 'setPause', atMs: T0_MS + 12, paused: true, by: 'bob' });
    if (refreshes === 2) interrupt.abort();
  };
  const run = await ctl(t, ['list', '--watch', '0.05', '--json', ...flags], { interrupt, onStdout });
  t.is(run.code, 0, run.stderr);
  const objects = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  t.deepEqual(objects.map((o) => o.pause.paused), [false, true]);
});

test('switchover without a terminal and without --force: exit 2 saying to pass --force, nothing sent', async (t) => {
  const { backend, flags } = await served(t);
  const run = await ctl(t, ['switchover', '--candidate', 'n2', ...flags]);
  t.is(run.code, 2);
  t.regex(run.stderr, /no terminal to ask on: pass --force/);
  const failover = await ctl(t, ['failover', '--candidate', 'n2', ...flags]);
  t.is(failover.code, 2);
  t.regex(failover.stderr, /pass --force to failover/);
  t.deepEqual(backend.proposed, []);
});

test('switchover on a terminal asks first: no declines (exit 1, nothing changed), yes proceeds', async (t) => {
  const { backend, flags } = await served(t);
  backend.reactTo('requestSwitchover', () => handOver(backend, 'n2'));
  const declined = await ctl(t, ['switchover', '--candidate', 'n2', ...flags], { interactive: true, answers: ['n'] });
  t.is(declined.code, 1);
  t.deepEqual(declined.questions, ['Switch over cluster pg-main from n1 to n2 now? [y/N] ']);
  t.regex(declined.stderr, /aborted: not confirmed: nothing changed/);
  t.deepEqual(backend.proposed, []);
  const accepted = await ctl(t, ['switchover', '--candidate', 'n2', ...flags], { interactive: true, answers: ['yes'] });
  t.is(accepted.code, 0, accepted.stderr);
  t.regex(accepted.stdout, /^Switched over from n1 to n2: n2 is the primary at epoch 2 on timeline 2/);
});

test('switchover --force --json: the result object; a refusal: exit 1 with {"error": {...}}', async (t) => {
  const { backend, flags } = await served(t);
  backend.reactTo('requestSwitchover', () => handOver(backend, 'n3'));
  const run = await ctl(t, ['switchover', '--force', '--json', ...flags]);
  t.is(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.deepEqual(Object.keys(result).sort(), ['elapsedMs', 'epoch', 'from', 'message', 'outcome', 'scheduledAt', 'timeline', 'to']);
  t.like(result, { outcome: 'completed', from: 'n1', to: 'n3', epoch: 2, timeline: 2, scheduledAt: null });

  const again = await ctl(t, ['switchover', '--force', '--json', '--candidate', 'n3', ...flags]);
  t.is(again.code, 1);
  t.like(JSON.parse(again.stdout), { error: { kind: 'refused', status: 'INVALID_ARGUMENT', reason: 'CANDIDATE_IS_PRIMARY' } });
  t.regex(again.stderr, /^refused \(INVALID_ARGUMENT CANDIDATE_IS_PRIMARY\): .*candidate n3 is already the primary/);
});

test('switchover --scheduled, then --cancel', async (t) => {
  const { backend, flags } = await served(t);
  const at = new Date(Date.now() + 3_600_000).toISOString();
  backend.wallMs = Date.now();
  const scheduled = await ctl(t, ['switchover', '--force', '--candidate', 'n2', '--scheduled', at, ...flags]);
  t.is(scheduled.code, 0, scheduled.stderr);
  t.regex(scheduled.stdout, new RegExp(`^Scheduled a switchover from n1 to n2 for ${at.replace(/\./g, '\\.')}`));
  const cancelled = await ctl(t, ['switchover', '--cancel', '--json', ...flags]);
  t.is(cancelled.code, 0, cancelled.stderr);
  t.like(JSON.parse(cancelled.stdout), { cancelled: { from: 'n1', to: 'n2', scheduledAt: at } });
  const nothing = await ctl(t, ['switchover', '--cancel', ...flags]);
  t.is(nothing.code, 1);
  t.regex(nothing.stderr, /NOT_FOUND NO_SWITCHOVER.*no switchover is pending/);
});

test('pause and resume: --json shapes; repeating is refused with exit 1', async (t) => {
  const { flags } = await served(t);
  const paused = await ctl(t, ['pause', '--json', '--by', 'ops-ticket-42', ...flags]);
  t.is(paused.code, 0, paused.stderr);
  const pause = JSON.parse(paused.stdout);
  t.deepEqual(Object.keys(pause).sort(), ['by', 'changedAt', 'paused']);
  t.like(pause, { paused: true, by: 'ops-ticket-42 (certificate n2)' });
  const again = await ctl(t, ['pause', ...flags]);
  t.is(again.code, 1);
  t.regex(again.stderr, /ALREADY_PAUSED.*already paused/);
  const resumed = await ctl(t, ['resume', ...flags]);
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stdout, /^Resumed cluster pg-main \(by pgherdctl@.*\): automatic failover is on again/);
});

test('the environment stands in for the flags', async (t) => {
  const { server } = await served(t);
  const env = { PGHERDCTL_ENDPOINTS: `127.0.0.1:1,${server.address}`, PGHERDCTL_CA_FILE: pki.ca.caCertPath, PGHERDCTL_CERT_FILE: pki.n2.certPath, PGHERDCTL_KEY_FILE: pki.n2.keyPath };
  const run = await ctl(t, ['list', '--json'], { env });
  t.is(run.code, 0, run.stderr);
  t.is(JSON.parse(run.stdout).answeredBy, 'n1');
});

test('-c FILE: the agent configuration gives the address and its tls files', async (t) => {
  const { server } = await served(t);
  const dir = await emptyDir(t);
  const config = join(dir, 'n1.yaml');
  await writeFile(
    config,
    [
      'name: n1',
      'cluster_name: pg-main',
      `data_dir: ${join(dir, 'n1')}`,
      `raft: {bind: '${server.address}', bootstrap_expect: 1}`,
      'postgresql: {listen: 127.0.0.1}',
      'http: {listen: 127.0.0.1:8008}',
      `tls: {ca_file: ${pki.ca.caCertPath}, cert_file: ${pki.n1.certPath}, key_file: ${pki.n1.keyPath}}`,
      '',
    ].join('\n'),
  );
  const run = await ctl(t, ['list', '--json', '-c', config]);
  t.is(run.code, 0, run.stderr);
  t.is(JSON.parse(run.stdout).clusterName, 'pg-main');
  const other = await ctl(t, ['list', '-c', config], { env: { PGHERD_CLUSTER_NAME: 'other' } });
  t.is(other.code, 3, 'an agent of another cluster does not count as answering');
  t.regex(other.stderr, /belongs to cluster pg-main, not other/);
});

test('no flags: the newest demo cluster directory whose agents answer, with its local CA', async (t) => {
  const { server } = await served(t);
  const tmp = await emptyDir(t);
  // The layout npm run demo leaves (scripts/lib/agent-cluster.ts, src/tls/resolve.ts): <base>/<name>.yaml, <base>/ca/ca/ca.crt, <data_dir>/tls/<name>.{crt,key}.
  const base = join(tmp, 'pgherd-demo-abc123');
  await mkdir(join(base, 'ca', 'ca'), { recursive: true });
  await mkdir(join(base, 'n1', 'tls'), { recursive: true });
  await copyFile(pki.ca.caCertPath, join(base, 'ca', 'ca', 'ca.crt'));
  await copyFile(pki.n1.certPath, join(base, 'n1', 'tls', 'n1.crt'));
  await copyFile(pki.n1.keyPath, join(base, 'n1', 'tls', 'n1.key'));
  await writeFile(
    join(base, 'n1.yaml'),
    [
      'name: n1',
      'cluster_name: pg-main',
      `data_dir: ${join(base, 'n1')}`,
      `raft: {bind: '${server.address}', bootstrap_expect: 1}`,
      'postgresql: {listen: 127.0.0.1}',
      'http: {listen: 127.0.0.1:8008}',
      `tls: {local_ca_dir: ${join(base, 'ca')}}`,
      '',
    ].join('\n'),
  );
  await mkdir(join(tmp, 'pgherd-demo-stale'));
  const run = await ctl(t, ['list', '--json'], { tmpdir: tmp });
  t.is(run.code, 0, run.stderr);
  t.is(JSON.parse(run.stdout).answeredBy, 'n1');
});

test('the pgherdctl entry point runs as a process: usage error exit 2', (t) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PGHERD')));
  const result = spawnSync(process.execPath, ['--import=tsx', CLI, 'switchover', '--force', '--scheduled', 'later', '-e', '127.0.0.1:1', '--insecure'], { env, encoding: 'utf8', timeout: 60_000 });
  t.is(result.status, 2, result.stderr);
  t.regex(result.stderr, /--scheduled: expected 'now' or an RFC 3339 time/);
});

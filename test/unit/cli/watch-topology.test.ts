/**
 * pgherdctl watch and topology in-process (a fake terminal whose Ctrl-C the
 * test presses) against the real admin service on real gRPC with mutual
 * TLS, over the real cluster state machine.
 */
import test, { type ExecutionContext } from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { MemoryBackend, serveAdmin } from '../admin/helpers.js';
import { ctl } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

const MIB = 1024 * 1024;

/** Poll until `condition` holds, at most 10 s (the assertion after it says what failed). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A served cluster (n1 primary) and the flags that reach it with n2's certificate. */
async function served(t: ExecutionContext) {
  const backend = new MemoryBackend(runningCluster());
  const server = await serveAdmin(t, pki, backend);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath];
  return { backend, server, flags };
}

const report = (member: string, role: 'primary' | 'replica' | 'stopped', state: string, lagBytes: number | null): ClusterCommandInput => ({
  type: 'updateMemberStatus',
  atMs: T0_MS + 10,
  member,
  role,
  state,
  timeline: role === 'stopped' ? null : 1,
  receiveLsn: null,
  replayLsn: null,
  flushLsn: null,
  lagBytes,
});

/** n1 primary; n2 a streaming sync standby; n3 a streaming replica 5 MiB behind; n4 (nofailover) stopped. */
function topologyCluster(backend: MemoryBackend): void {
  backend.apply(report('n1', 'primary', 'running', 0));
  backend.apply(report('n2', 'replica', 'streaming', 0));
  backend.apply(report('n3', 'replica', 'streaming', 5 * MIB));
  backend.apply({ type: 'registerMember', atMs: T0_MS + 11, member: 'n4', raftAddress: 'n4:7400', postgresHost: 'n4', postgresPort: 5433, httpAddress: 'n4:8008', tags: { nofailover: true } });
  backend.apply(report('n4', 'stopped', 'stopped', null));
  backend.apply({ type: 'setSync', atMs: T0_MS + 12, members: ['n2'], expectedEpoch: 0, leaderEpoch: 1 });
}

test('topology: the replicas under the primary, the others beside it; --json: the tree', async (t) => {
  const { backend, flags } = await served(t);
  topologyCluster(backend);
  const human = await ctl(t, ['topology', ...flags]);
  t.is(human.code, 0, human.stderr);
  t.is(
    human.stdout,
    [
      'Cluster: pg-main — primary n1 (epoch 1, timeline 1) — answered by n1',
      '+--------+---------+--------------+-----------+----+-----------+------------+',
      '| Member | Host    | Role         | State     | TL | Lag in MB | Tags       |',
      '+--------+---------+--------------+-----------+----+-----------+------------+',
      '| n1     | n1:5432 | Primary      | running   |  1 |           |            |',
      '| + n2   | n2:5432 | Sync Standby | streaming |  1 |         0 |            |',
      '| + n3   | n3:5432 | Replica      | streaming |  1 |         5 |            |',
      '| n4     | n4:5433 | Stopped      | stopped   |    |   unknown | nofailover |',
      '+--------+---------+--------------+-----------+----+-----------+------------+',
      '',
    ].join('\n'),
  );

  const json = await ctl(t, ['topology', '--json', ...flags]);
  t.is(json.code, 0, json.stderr);
  const topology = JSON.parse(json.stdout);
  t.deepEqual(Object.keys(topology).sort(), ['answeredBy', 'clusterName', 'leader', 'linearizable', 'members', 'staleReason']);
  t.deepEqual(Object.keys(topology.members[0]).sort(), ['host', 'lagBytes', 'name', 'primary', 'replicas', 'role', 'state', 'sync', 'tags', 'timeline']);
  const shape = (node: { name: string; replicas: unknown[] }): unknown => [node.name, node.replicas.map((child) => shape(child as typeof node))];
  t.deepEqual(topology.members.map(shape), [['n1', [['n2', []], ['n3', []]]], ['n4', []]]);
  t.like(topology.members[0], { primary: true, role: 'primary', host: 'n1:5432' });
  t.like(topology.members[0].replicas[0], { name: 'n2', sync: true, role: 'replica', state: 'streaming', lagBytes: 0, timeline: 1 });
  t.like(topology.members[0].replicas[1], { name: 'n3', sync: false, lagBytes: 5 * MIB });
  t.like(topology.members[1], { name: 'n4', primary: false, role: 'stopped', timeline: null, tags: { nofailover: true } });
  t.like(topology.leader, { member: 'n1', epoch: 1 });
});

test('topology without a primary: every member at the top, none under another', async (t) => {
  const { backend, flags } = await served(t);
  topologyCluster(backend);
  backend.apply({ type: 'releaseLeader', atMs: T0_MS + 20, member: 'n1', epoch: 1 });
  const json = await ctl(t, ['topology', '--json', ...flags]);
  t.is(json.code, 0, json.stderr);
  const topology = JSON.parse(json.stdout);
  t.is(topology.leader, null);
  t.deepEqual(topology.members.map((m: { name: string; replicas: unknown[] }) => [m.name, m.replicas.length]), [['n1', 0], ['n2', 0], ['n3', 0], ['n4', 0]]);
  const human = await ctl(t, ['topology', ...flags]);
  t.regex(human.stdout, /^Cluster: pg-main — no primary — answered by n1\n/);
  t.notRegex(human.stdout, /\| \+ /);
});

test('watch --snapshot --json: one event object per line until Ctrl-C, then exit 0', async (t) => {
  const { backend, flags } = await served(t);
  const interrupt = new AbortController();
  let lines = 0;
  const onStdout = (): void => {
    lines += 1;
    if (lines === 1) backend.apply({ type: 'setPause', atMs: T0_MS + 100, paused: true, by: 'bob' });
    if (lines === 2) interrupt.abort();
  };
  const run = await ctl(t, ['watch', '--snapshot', '--json', ...flags], { interrupt, onStdout });
  t.is(run.code, 0, run.stderr);
  t.is(run.stderr, '');
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  t.deepEqual(Object.keys(events[0]).sort(), ['at', 'details', 'index', 'member', 'seq', 'text', 'type']);
  t.deepEqual(events.map((e) => [e.seq, e.type, e.member]), [[1, 'snapshot', null], [2, 'paused', null]]);
  t.deepEqual(events[1].details, { by: 'bob' });
  t.is(events[1].at, new Date(T0_MS + 100).toISOString());
  await until(() => backend.machine.listenerCount('applied') === 0);
  t.is(backend.machine.listenerCount('applied'), 0, 'Ctrl-C ended the stream on the agent too');
});

test('watch --types: one line per event of those types (time, type, text)', async (t) => {
  const { backend, flags } = await served(t);
  const interrupt = new AbortController();
  let lines = 0;
  const running = ctl(t, ['watch', '--types', 'paused, resumed', ...flags], {
    interrupt,
    onStdout: () => {
      lines += 1;
      if (lines === 2) interrupt.abort();
    },
  });
  await until(() => backend.machine.listenerCount('applied') === 1);
  backend.apply(report('n2', 'replica', 'streaming', 0));
  backend.apply({ type: 'setPause', atMs: T0_MS + 100, paused: true, by: 'bob' });
  backend.apply({ type: 'setPause', atMs: T0_MS + 101, paused: false, by: 'alice' });
  const run = await running;
  t.is(run.code, 0, run.stderr);
  t.is(
    run.stdout,
    [
      `${new Date(T0_MS + 100).toISOString()}  paused                paused by bob: no automatic failover`,
      `${new Date(T0_MS + 101).toISOString()}  resumed               resumed by alice: automatic failover is on again`,
      '',
    ].join('\n'),
  );
});

test('watch: the agent stopping ends it with exit 3 (and --json ends with the error object)', async (t) => {
  const { server, flags } = await served(t);
  const run = await ctl(t, ['watch', '--snapshot', '--json', ...flags], { onStdout: () => server.service.stop() });
  t.is(run.code, 3, run.stderr);
  t.regex(run.stderr, /^error: 127\.0\.0\.1:\d+: the agent answering this stream is stopping: watch another member\n$/);
  const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  t.is(lines[0].type, 'snapshot');
  t.deepEqual(lines.at(-1), { error: { kind: 'unreachable', status: 'UNAVAILABLE', reason: 'AGENT_STOPPING', message: lines.at(-1).error.message } });
});

test('watch --types with an unknown type: exit 2 naming the types, nothing asked', async (t) => {
  const run = await ctl(t, ['watch', '--types', 'paused,leader_elected', '-e', '127.0.0.1:1', '--insecure']);
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /--types: expected event types, comma-separated, of snapshot, initialized, .*; got "leader_elected"/);
});

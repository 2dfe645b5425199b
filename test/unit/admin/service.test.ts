/**
 * The admin service over real gRPC with real mutual TLS, against the real
 * cluster state machine (MemoryBackend): refusals name the problem and
 * change nothing; requests are recorded as the cluster state's commands;
 * an immediate switchover waits for the new primary (or its withdrawal).
 */
import test, { type ExecutionContext } from 'ava';
import { AdminClient } from '../../../src/admin/client.js';
import { AdminCallError, AdminUnreachableError } from '../../../src/admin/errors.js';
import { NotLeaderError } from '../../../src/lib/errors.js';
import { applyOk, runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { connectClient, handOver, healthy, MemoryBackend, serveAdmin, refused } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** n1 primary (epoch 1, timeline 1); n2 and n3 healthy replicas on timeline 1. */
function cluster(): MemoryBackend {
  const backend = new MemoryBackend(runningCluster());
  for (const member of ['n2', 'n3']) backend.positions.set(member, healthy(member));
  return backend;
}

async function setup(t: ExecutionContext, backend = cluster()) {
  const server = await serveAdmin(t, pki, backend);
  const client = await connectClient(t, pki, server.address);
  return { backend, server, client };
}

/** The call is refused with `status` and `reason`, its message matches `message`, and nothing was proposed or changed. */

test('ClusterStatus: leader, members with registration, status and Raft roles, after a linearizable read', async (t) => {
  const backend = cluster();
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 10, member: 'n2', role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/3000000', replayLsn: '0/2FFFF00', flushLsn: null, lagBytes: 256 });
  backend.apply({ type: 'setSync', atMs: T0_MS + 11, members: ['n2'], expectedEpoch: 0, leaderEpoch: 1 });
  const { client } = await setup(t, backend);
  const status = await client.clusterStatus();
  t.is(status.clusterName, 'pg-main');
  t.is(status.answeredBy, 'n1');
  t.true(status.linearizable);
  t.is(status.staleReason, null);
  t.like(status.leader, { member: 'n1', epoch: 1, timeline: 1 });
  t.is(status.leader!.since, new Date(T0_MS + 3).toISOString());
  t.deepEqual(status.syncMembers, ['n2']);
  t.false(status.pause.paused);
  t.is(status.switchover, null);
  t.is(status.systemIdentifier, '7301234567890123456');
  t.like(status.raft, { leaderId: 'n2', term: 4, role: 'follower' });
  t.deepEqual(status.members.map((m) => [m.name, m.primary, m.sync, m.raftRole]), [
    ['n1', true, false, 'voter'],
    ['n2', false, true, 'leader'],
    ['n3', false, false, 'voter'],
  ]);
  const n2 = status.members[1]!;
  t.like(n2.registration, { raftAddress: 'n2:7400', postgresHost: 'n2', postgresPort: 5432 });
  t.like(n2.status, { role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/3000000', replayLsn: '0/2FFFF00', flushLsn: null, lagBytes: 256 });
  t.is(status.members[2]!.status, null, 'n3 never reported');
  t.like(status.answeringHa, { lastAction: 'renew', leaseRemainingMs: 2_500, refused: null });
  t.false(JSON.stringify(status).includes('password'), 'no credentials in the answer');
});

test('ClusterStatus without a Raft leader: the local state, marked stale with the reason', async (t) => {
  const { backend, client } = await setup(t);
  backend.raftError = new NotLeaderError('');
  const status = await client.clusterStatus();
  t.false(status.linearizable);
  t.regex(status.staleReason ?? '', /no leader known/);
  t.is(status.leader?.member, 'n1');
  const local = await client.clusterStatus({ local: true });
  t.false(local.linearizable);
  t.is(local.staleReason, null, 'a local answer was asked for: not a failure');
});

test('Switchover refusals name the problem and change nothing', async (t) => {
  const { backend, client } = await setup(t);
  await refused(t, backend, client.switchover({ candidate: 'n9' }), 'NOT_FOUND', 'UNKNOWN_CANDIDATE', /candidate n9 is not a member.*n1, n2, n3/);
  await refused(t, backend, client.switchover({ candidate: 'n1' }), 'INVALID_ARGUMENT', 'CANDIDATE_IS_PRIMARY', /n1 is already the primary/);
  await refused(t, backend, client.switchover({ candidate: 'N 2' }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^candidate: expected a member name/);
  await refused(t, backend, client.switchover({ scheduledAt: 'tomorrow' }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^scheduled_at: expected an RFC 3339 time/);
  await refused(t, backend, client.switchover({ scheduledAt: '2026-02-30T10:00:00Z' }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^scheduled_at/);
  await refused(t, backend, client.switchover({ scheduledAt: new Date(backend.wallMs - 1_000) }), 'INVALID_ARGUMENT', 'SCHEDULED_IN_PAST', /^scheduled_at: .* is not in the future/);
  await refused(t, backend, client.switchover({ timeoutMs: 3_600_000 }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^timeout_ms: expected/);
  t.deepEqual(backend.asked, [], 'no positions were asked for a request refused by its fields or the state');
});

test('Switchover without a primary: FAILED_PRECONDITION saying automatic failover takes over', async (t) => {
  const backend = new MemoryBackend(applyOk(runningCluster(), [{ type: 'releaseLeader', atMs: T0_MS + 5, member: 'n1', epoch: 1 }]));
  const { client } = await setup(t, backend);
  await refused(t, backend, client.switchover({ candidate: 'n2' }), 'FAILED_PRECONDITION', 'NO_PRIMARY', /no primary holds the leader key.*automatic failover/);
});

test('Switchover: the candidate check on fresh positions lists every exclusion', async (t) => {
  const { backend, client } = await setup(t);
  backend.positions.set('n2', { member: 'n2', reachable: true, healthy: false, timeline: 1, receiveLsn: '0/3000000' });
  backend.positions.delete('n3');
  const error = await refused(t, backend, client.switchover(), 'FAILED_PRECONDITION', 'NO_CANDIDATE', /no member qualifies/);
  t.regex(error.details, /n2: UNHEALTHY/);
  t.regex(error.details, /n3: UNREACHABLE/);
  t.deepEqual(backend.asked, [['n2', 'n3']], 'every non-primary member was asked');
  await refused(t, backend, client.switchover({ candidate: 'n3' }), 'FAILED_PRECONDITION', 'NO_CANDIDATE', /candidate n3 does not qualify: n3: UNREACHABLE/);
  t.deepEqual(backend.asked.at(-1), ['n3'], 'only the named candidate was asked');
});

test('Switchover while one is pending: ALREADY_EXISTS, the pending one untouched', async (t) => {
  const { backend, client } = await setup(t);
  backend.apply({ type: 'requestSwitchover', atMs: T0_MS + 20, from: 'n1', to: 'n3', scheduledAtMs: T0_MS + 3_600_000 });
  await refused(t, backend, client.switchover({ candidate: 'n2' }), 'ALREADY_EXISTS', 'SWITCHOVER_PENDING', /switchover from n1 to n3 scheduled for .* is already pending/);
  await refused(t, backend, client.failover({ candidate: 'n2' }), 'ALREADY_EXISTS', 'SWITCHOVER_PENDING', /already pending/);
});

test('Switchover: a change between the check and the proposal is the cluster state\'s refusal, with its code', async (t) => {
  const { backend, client } = await setup(t);
  // The primary gives the key back while the candidates are asked: apply refuses requestSwitchover from n1.
  backend.duringPositionQuery = () => backend.apply({ type: 'releaseLeader', atMs: T0_MS + 30, member: 'n1', epoch: 1 });
  const error = await t.throwsAsync(client.switchover({ candidate: 'n2' }), { instanceOf: AdminCallError });
  t.is(error.status, 'FAILED_PRECONDITION');
  t.is(error.reason, 'NOT_LEADER_HOLDER');
  t.regex(error.details, /refused the switchover request: NOT_LEADER_HOLDER: n1 is not the primary/);
  t.is(backend.local().switchover, null);
});

test('Switchover now: recorded as requestSwitchover, answered once the new primary holds a higher epoch', async (t) => {
  const { backend, client, server } = await setup(t);
  backend.reactTo('requestSwitchover', (event) => {
    const command = event.command as { to: string | null };
    handOver(backend, command.to ?? 'n3');
  });
  const result = await client.switchover({ candidate: 'n2', by: 'alice' });
  t.like(result, { outcome: 'completed', from: 'n1', to: 'n2', epoch: 2, timeline: 2, scheduledAt: null });
  t.true(result.elapsedMs! >= 0);
  t.regex(result.message, /n2 is the primary at epoch 2 on timeline 2/);
  t.like(backend.proposed[0], { type: 'requestSwitchover', from: 'n1', to: 'n2', scheduledAtMs: null, atMs: backend.wallMs });
  t.is(backend.local().leader?.member, 'n2');
  const line = server.logs.find((l) => l.event === 'admin.switchover');
  t.like(line?.fields, { outcome: 'ok', by: 'alice (certificate n2)', candidate: 'n2', newPrimary: 'n2', certificate: 'n2' });
});

test('Switchover without a candidate lets the HA layer choose (to: null); the answer names whoever was promoted', async (t) => {
  const { backend, client } = await setup(t);
  backend.reactTo('requestSwitchover', () => handOver(backend, 'n3'));
  const result = await client.switchover();
  t.like(result, { outcome: 'completed', from: 'n1', to: 'n3', epoch: 2 });
  t.like(backend.proposed[0], { type: 'requestSwitchover', to: null });
});

test('Switchover withdrawn without a new epoch: ABORTED, pointing at the primary\'s log', async (t) => {
  const { backend, client } = await setup(t);
  backend.reactTo('requestSwitchover', () => backend.apply({ type: 'cancelSwitchover', atMs: T0_MS + 70_000 }));
  const error = await t.throwsAsync(client.switchover({ candidate: 'n2' }), { instanceOf: AdminCallError });
  t.is(error.status, 'ABORTED');
  t.is(error.reason, 'SWITCHOVER_WITHDRAWN');
  t.regex(error.details, /withdrawn without a new primary.*ha\.switchover_cancelled/);
  t.is(backend.local().leader?.member, 'n1');
});

test('Switchover with nobody acting on it: DEADLINE_EXCEEDED, still pending and cancellable', async (t) => {
  const { backend, client } = await setup(t);
  const error = await t.throwsAsync(client.switchover({ candidate: 'n2', timeoutMs: 300 }), { instanceOf: AdminCallError });
  t.is(error.status, 'DEADLINE_EXCEEDED');
  t.is(error.reason, 'SWITCHOVER_TIMEOUT');
  t.regex(error.details, /still pending.*switchover --cancel/);
  t.like(backend.local().switchover, { from: 'n1', to: 'n2' });
  const cancelled = await client.cancelSwitchover();
  t.like(cancelled.cancelled, { from: 'n1', to: 'n2', scheduledAt: null });
  t.is(backend.local().switchover, null);
});

test('Scheduled switchover: recorded with its time, answered at once', async (t) => {
  const { backend, client } = await setup(t);
  const at = new Date(backend.wallMs + 3_600_000);
  const result = await client.switchover({ candidate: 'n3', scheduledAt: at.toISOString().replace('Z', '+00:00') });
  t.like(result, { outcome: 'scheduled', from: 'n1', to: 'n3', scheduledAt: at.toISOString(), epoch: null });
  t.like(backend.local().switchover, { from: 'n1', to: 'n3', scheduledAtMs: at.getTime(), requestedAtMs: backend.wallMs });
  const status = await client.clusterStatus();
  t.like(status.switchover, { from: 'n1', to: 'n3', scheduledAt: at.toISOString() });
});

test('Failover: a candidate is required; without a primary it is refused, naming resume when paused', async (t) => {
  const released = applyOk(runningCluster(), [
    { type: 'setPause', atMs: T0_MS + 4, paused: true, by: 'bob' },
    { type: 'releaseLeader', atMs: T0_MS + 5, member: 'n1', epoch: 1 },
  ]);
  const backend = new MemoryBackend(released);
  const { client } = await setup(t, backend);
  await refused(t, backend, client.failover({ candidate: '' }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^candidate: is required/);
  await refused(t, backend, client.failover({ candidate: 'n2' }), 'FAILED_PRECONDITION', 'NO_PRIMARY', /nothing to fail over from.*paused: resume it/);
});

test('Failover with a primary: recorded as requestSwitchover to the candidate and waited for', async (t) => {
  const { backend, client, server } = await setup(t);
  backend.reactTo('requestSwitchover', () => handOver(backend, 'n3'));
  const result = await client.failover({ candidate: 'n3' });
  t.like(result, { outcome: 'completed', from: 'n1', to: 'n3', epoch: 2 });
  t.like(backend.proposed[0], { type: 'requestSwitchover', from: 'n1', to: 'n3', scheduledAtMs: null });
  t.like(server.logs.find((l) => l.event === 'admin.failover')?.fields, { outcome: 'ok', candidate: 'n3' });
});

test('CancelSwitchover with nothing pending: NOT_FOUND', async (t) => {
  const { backend, client } = await setup(t);
  await refused(t, backend, client.cancelSwitchover(), 'NOT_FOUND', 'NO_SWITCHOVER', /no switchover is pending/);
});

test('Pause and Resume: recorded with who asked; repeating either is refused, saying so', async (t) => {
  const { backend, client, server } = await setup(t);
  const paused = await client.pause();
  t.true(paused.paused);
  t.regex(paused.by ?? '', /^pgherdctl@.*127\.0\.0\.1.* \(certificate n2\)$/);
  t.like(backend.local().pause, { paused: true, by: paused.by, atMs: backend.wallMs });
  await refused(t, backend, client.pause(), 'FAILED_PRECONDITION', 'ALREADY_PAUSED', /already paused \(since .*, by pgherdctl@/);
  const resumed = await client.resume({ by: 'carol' });
  t.like(resumed, { paused: false, by: 'carol (certificate n2)' }, 'what the request says, then what the call was authenticated with');
  await refused(t, backend, client.resume(), 'FAILED_PRECONDITION', 'NOT_PAUSED', /not paused.*by carol/);
  const lines = server.logs.filter((l) => l.event === 'admin.pause' || l.event === 'admin.resume').map((l) => [l.event, l.fields['outcome']]);
  t.deepEqual(lines, [['admin.pause', 'ok'], ['admin.pause', 'refused'], ['admin.resume', 'ok'], ['admin.resume', 'refused']]);
});

test('Raft without a leader: UNAVAILABLE with the reason, nothing changed', async (t) => {
  const { backend, client } = await setup(t);
  backend.raftError = new NotLeaderError('');
  await refused(t, backend, client.pause(), 'UNAVAILABLE', 'RAFT_UNAVAILABLE', /no leader known.*nothing changed/);
  await refused(t, backend, client.switchover({ candidate: 'n2' }), 'UNAVAILABLE', 'RAFT_UNAVAILABLE', /no leader known/);
});

test('A request that arrives during an election waits for the new leader and is committed once', async (t) => {
  const { backend, client } = await setup(t);
  backend.proposalsDuringElection = 3;
  const paused = await client.pause({ by: 'carol' });
  t.true(paused.paused);
  t.is(backend.proposalsDuringElection, 0);
  t.is(backend.proposed.length, 1, 'committed once, after the election');
});

test('An agent still starting answers UNAVAILABLE', async (t) => {
  const server = await serveAdmin(t, pki, undefined);
  const error = await t.throwsAsync(AdminClient.connect({ endpoint: server.address, caFile: pki.ca.caCertPath, certFile: pki.n2.certPath, keyFile: pki.n2.keyPath }), { instanceOf: AdminUnreachableError });
  t.regex(error.message, /UNAVAILABLE: the agent answering this call is still starting/);
});

test('Stopping the transport ends a waiting switchover with UNAVAILABLE; the request stays pending', async (t) => {
  const { backend, client, server } = await setup(t);
  const call = client.switchover({ candidate: 'n2', timeoutMs: 20_000 });
  while (backend.local().switchover === null) await new Promise((resolve) => setTimeout(resolve, 10));
  await server.transport.stop();
  const error = await t.throwsAsync(call, { instanceOf: AdminCallError });
  t.is(error.status, 'UNAVAILABLE');
  t.not(backend.local().switchover, null);
});

// Who may call (certificates, bearer tokens, another CA, the Raft service): auth.test.ts.

test('connect tries the endpoints in order and keeps the first that answers', async (t) => {
  const { server } = await setup(t);
  const client = await AdminClient.connect({ endpoints: ['127.0.0.1:1', server.address], caFile: pki.ca.caCertPath, certFile: pki.n2.certPath, keyFile: pki.n2.keyPath });
  t.teardown(() => client.close());
  t.is(client.endpoint, server.address);
  t.is(client.clusterName, 'pg-main');
  await t.throwsAsync(AdminClient.connect({ endpoint: server.address, clusterName: 'other', caFile: pki.ca.caCertPath, certFile: pki.n2.certPath, keyFile: pki.n2.keyPath }), {
    instanceOf: AdminUnreachableError,
    message: /belongs to cluster pg-main, not other/,
  });
});

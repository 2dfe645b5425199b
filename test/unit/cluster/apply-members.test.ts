import test from 'ava';
import { parseCommand } from '../../../src/cluster/commands.js';
import { initialClusterState, MEMBERS_MAX } from '../../../src/cluster/state.js';
import { applyOk, expectOk, expectRefused, register, runningCluster, step, T0_MS, TEST_CREDENTIALS } from './helpers.js';

const registered = () => {
  let state = initialClusterState();
  for (const member of ['n1', 'n2']) state = step(state, register(member)).state;
  return state;
};

test('initializeClaim: the first claim wins; the claimant may retry; others are refused', (t) => {
  const state = registered();
  const claimed = expectOk(t, state, { type: 'initializeClaim', atMs: T0_MS, member: 'n1' });
  t.deepEqual(claimed.state.initialize, { member: 'n1', claimedAtMs: T0_MS, systemIdentifier: null, doneAtMs: null, credentials: null, restoredFrom: null });
  t.true(claimed.result.changed);
  const retry = expectOk(t, claimed.state, { type: 'initializeClaim', atMs: T0_MS + 5, member: 'n1' });
  t.false(retry.result.changed);
  t.is(retry.state, claimed.state);
  const refused = expectRefused(t, claimed.state, { type: 'initializeClaim', atMs: T0_MS, member: 'n2' }, 'ALREADY_INITIALIZED');
  t.regex(refused.reason, /claimed by n1/);
  expectRefused(t, state, { type: 'initializeClaim', atMs: T0_MS, member: 'ghost' }, 'UNKNOWN_MEMBER');
});

test('initializeDone: only the claimant, once, with one system identifier', (t) => {
  const state = registered();
  const done = { type: 'initializeDone', atMs: T0_MS + 9, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS } as const;
  expectRefused(t, state, done, 'NOT_INITIALIZED');
  const claimed = applyOk(state, [{ type: 'initializeClaim', atMs: T0_MS, member: 'n1' }]);
  expectRefused(t, claimed, { ...done, member: 'n2' }, 'NOT_INITIALIZER');
  const initialized = expectOk(t, claimed, done);
  t.deepEqual(initialized.state.initialize, { member: 'n1', claimedAtMs: T0_MS, systemIdentifier: '7301234567890123456', doneAtMs: T0_MS + 9, credentials: TEST_CREDENTIALS, restoredFrom: null });
  t.false(expectOk(t, initialized.state, done).result.changed);
  expectRefused(t, initialized.state, { ...done, systemIdentifier: '1', credentials: TEST_CREDENTIALS }, 'ALREADY_INITIALIZED');
  const again = expectRefused(t, initialized.state, { type: 'initializeClaim', atMs: T0_MS, member: 'n1' }, 'ALREADY_INITIALIZED');
  t.regex(again.reason, /initialized by n1/);
});

test('initializeDone of a restore records where the database came from', (t) => {
  const claimed = applyOk(registered(), [{ type: 'initializeClaim', atMs: T0_MS, member: 'n1' }]);
  const restoredFrom = { backupId: '20261126T181500Z-3fa9c2', timeline: 3, targetTimeMs: T0_MS - 60_000 };
  const done = expectOk(t, claimed, { type: 'initializeDone', atMs: T0_MS + 9, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS, restoredFrom });
  t.deepEqual(done.state.initialize?.restoredFrom, restoredFrom);
  t.throws(() => parseCommand({ type: 'initializeDone', atMs: 1, member: 'n1', systemIdentifier: '1', credentials: TEST_CREDENTIALS, restoredFrom: { ...restoredFrom, backupId: 'latest' } }), { message: /restoredFrom\.backupId/ });
});

test('registerMember: creates with default tags; re-registration updates addresses and tags, keeps first time and status', (t) => {
  const first = expectOk(t, initialClusterState(), {
    type: 'registerMember',
    atMs: T0_MS,
    member: 'n1',
    raftAddress: '10.0.0.1:7400',
    postgresHost: '10.0.0.1',
    postgresPort: 5432,
    httpAddress: '10.0.0.1:8008',
  });
  t.true(first.result.created);
  t.deepEqual(first.state.members.n1!.registration.tags, { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false, failover_priority: 1 });
  const reported = applyOk(first.state, [{ type: 'updateMemberStatus', atMs: T0_MS + 1, member: 'n1', role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/10', replayLsn: '0/10', flushLsn: null, lagBytes: 0 }]);
  const again = step(reported, register('n1', { nosync: true, failover_priority: 3 }, T0_MS + 50));
  t.true(again.result.ok);
  t.false((again.result as { created: boolean }).created);
  const member = again.state.members.n1!;
  t.is(member.registration.registeredAtMs, T0_MS);
  t.is(member.registration.raftAddress, 'n1:7400');
  t.deepEqual(member.registration.tags, { nofailover: false, noloadbalance: false, clonefrom: false, nosync: true, failover_priority: 3 });
  t.is(member.status, reported.members.n1!.status);
});

test("'constructor' is a member name like any other", (t) => {
  const state = step(initialClusterState(), register('constructor')).state;
  t.truthy(state.members.constructor);
  expectRefused(t, initialClusterState(), { type: 'removeMember', atMs: T0_MS, member: 'constructor' }, 'UNKNOWN_MEMBER');
  expectOk(t, state, { type: 'removeMember', atMs: T0_MS, member: 'constructor' });
});

test('updateMemberStatus: stores the report with its time and canonical LSNs', (t) => {
  const state = registered();
  const status = { type: 'updateMemberStatus', atMs: T0_MS + 7, member: 'n2', role: 'replica', state: 'streaming', timeline: 3, receiveLsn: '1/000000ab', replayLsn: '1/AB', flushLsn: null, lagBytes: 512 } as const;
  const { state: next } = expectOk(t, state, status);
  t.deepEqual(next.members.n2!.status, { role: 'replica', state: 'streaming', timeline: 3, receiveLsn: '1/AB', replayLsn: '1/AB', flushLsn: null, lagBytes: 512, archive: null, reportedAtMs: T0_MS + 7 });
  expectRefused(t, state, { ...status, member: 'n9' }, 'UNKNOWN_MEMBER');
});

test('updateMemberStatus: the archive report is kept as sent; absent (an agent without archiving) it is null; the file name is checked', (t) => {
  const archive = { readyFiles: 2, lastArchived: '000000030000000100000002', lastArchivedAtMs: T0_MS + 3, failure: null };
  const status = { type: 'updateMemberStatus', atMs: T0_MS + 7, member: 'n1', role: 'primary', state: 'running', timeline: 3, receiveLsn: null, replayLsn: null, flushLsn: '1/3000000', lagBytes: 0, archive } as const;
  t.deepEqual(expectOk(t, runningCluster(), status).state.members.n1!.status?.archive, archive);
  t.like(parseCommand({ ...status, archive: undefined }), { archive: null });
  for (const name of ['00000003.history', '000000030000000100000002.partial', '000000030000000100000002.00000028.backup']) {
    t.notThrows(() => parseCommand({ ...status, archive: { ...archive, lastArchived: name } }), name);
  }
  for (const name of ['00000003000000010000000', '../x', '0000000300000001000000020']) {
    t.throws(() => parseCommand({ ...status, archive: { ...archive, lastArchived: name } }), { code: 'PGHERD_CLUSTER_DECODE_FAILED' }, name);
  }
});

test('removeMember: forgets the member and its plan, keeps its slot record; refused for the leader and sync members', (t) => {
  let state = applyOk(runningCluster(), [
    { type: 'recordSlot', atMs: T0_MS, member: 'n3', createdAtLsn: '0/100', leaderEpoch: 1 },
    { type: 'recordBootstrapPlan', atMs: T0_MS, member: 'n3', method: 'basebackup', source: 'n1', reason: 'no backup', walBytesSinceBackup: null, backupBytes: null, leaderEpoch: 1 },
    { type: 'requestSwitchover', atMs: T0_MS, from: 'n1', to: 'n3', scheduledAtMs: null },
  ]);
  const removed = expectOk(t, state, { type: 'removeMember', atMs: T0_MS, member: 'n3' }).state;
  t.false('n3' in removed.members);
  t.false('n3' in removed.bootstrap);
  t.truthy(removed.slots.n3, 'the primary still has to drop the slot');
  t.is(removed.switchover, null, 'a switchover to the removed member is void');
  expectRefused(t, state, { type: 'removeMember', atMs: T0_MS, member: 'n1' }, 'MEMBER_IS_LEADER');
  expectRefused(t, state, { type: 'removeMember', atMs: T0_MS, member: 'zz' }, 'UNKNOWN_MEMBER');
  state = applyOk(state, [{ type: 'setSync', atMs: T0_MS, members: ['n2'], expectedEpoch: 0, leaderEpoch: 1 }]);
  expectRefused(t, state, { type: 'removeMember', atMs: T0_MS, member: 'n2' }, 'MEMBER_IN_SYNC');
});

test('registerMember: at most MEMBERS_MAX members; re-registration still works at the limit', (t) => {
  let state = initialClusterState();
  for (let i = 0; i < MEMBERS_MAX; i++) state = step(state, register(`m${i}`)).state;
  t.is(Object.keys(state.members).length, MEMBERS_MAX);
  const refused = expectRefused(t, state, register('one-more'), 'TOO_MANY_MEMBERS');
  t.regex(refused.reason, new RegExp(`${MEMBERS_MAX} members`));
  t.true(step(state, register('m0', { nosync: true })).result.ok);
});

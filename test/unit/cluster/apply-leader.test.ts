import test from 'ava';
import { applyCommand } from '../../../src/cluster/apply.js';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import { applyOk, cmd, expectOk, expectRefused, register, runningCluster, step, T0_MS, TEST_CREDENTIALS } from './helpers.js';

const failover = (candidate: string, expectedEpoch: number, timeline: number, extra: Partial<ClusterCommandInput> = {}) =>
  ({ type: 'promote', atMs: T0_MS + 100, candidate, expectedEpoch, timeline, reason: 'LEASE_EXPIRED', kind: 'failover', switchLsn: '0/3000060', ...extra }) as ClusterCommandInput;

test('promote: the first primary is the member that initialized, at epoch 1, without a history entry', (t) => {
  let state = initialClusterState();
  for (const m of ['n1', 'n2']) state = step(state, register(m)).state;
  const first = { type: 'promote', atMs: T0_MS, candidate: 'n1', expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' } as const;
  expectRefused(t, state, first, 'NOT_INITIALIZED');
  state = applyOk(state, [{ type: 'initializeClaim', atMs: T0_MS, member: 'n1' }]);
  expectRefused(t, state, first, 'NOT_INITIALIZED');
  state = applyOk(state, [{ type: 'initializeDone', atMs: T0_MS, member: 'n1', systemIdentifier: '42', credentials: TEST_CREDENTIALS }]);
  expectRefused(t, state, { ...first, candidate: 'n2' }, 'NOT_INITIALIZER');
  const { state: next, result } = expectOk(t, state, first);
  t.is(result.epoch, 1);
  t.deepEqual(next.leader, { member: 'n1', epoch: 1, timeline: 1, sinceMs: T0_MS, lastRenewal: { atMs: T0_MS, seq: 0 } });
  t.deepEqual(next.history, []);
  t.deepEqual(next.lastPrimary, { member: 'n1', timeline: 1 });
});

test('promote: a failover bumps the epoch and appends history', (t) => {
  const { state, result } = expectOk(t, runningCluster(), failover('n2', 1, 2));
  t.is(result.epoch, 2);
  t.is(state.epoch, 2);
  t.deepEqual(state.leader, { member: 'n2', epoch: 2, timeline: 2, sinceMs: T0_MS + 100, lastRenewal: { atMs: T0_MS + 100, seq: 0 } });
  t.deepEqual(state.history, [{ timeline: 2, switchLsn: '0/3000060', atMs: T0_MS + 100, reason: 'LEASE_EXPIRED', oldPrimary: 'n1', newPrimary: 'n2', kind: 'failover' }]);
});

test('promote: refusals', (t) => {
  const state = runningCluster();
  expectRefused(t, state, failover('n2', 0, 2), 'EPOCH_MISMATCH');
  expectRefused(t, state, failover('n2', 2, 2), 'EPOCH_MISMATCH');
  expectRefused(t, state, failover('n9', 1, 2), 'UNKNOWN_MEMBER');
  expectRefused(t, state, failover('n2', 1, 1), 'TIMELINE_NOT_NEWER');
  const tagged = applyOk(state, [register('n2', { nofailover: true }), register('n3', { failover_priority: 0 })]);
  expectRefused(t, tagged, failover('n2', 1, 2), 'MEMBER_INELIGIBLE');
  expectRefused(t, tagged, failover('n3', 1, 2), 'MEMBER_INELIGIBLE');
});

test('promote: the last primary may take the key back on its own timeline, without a history entry', (t) => {
  const released = applyOk(runningCluster(), [{ type: 'releaseLeader', atMs: T0_MS + 10, member: 'n1', epoch: 1 }]);
  const { state } = expectOk(t, released, failover('n1', 1, 1, { kind: 'manual', reason: 'restart' }));
  t.is(state.leader?.epoch, 2);
  t.deepEqual(state.history, []);
});

test('promote: in synchronous mode only sync members (or the last primary) qualify', (t) => {
  const state = applyOk(runningCluster(), [
    { type: 'patchConfig', atMs: T0_MS, expectedVersion: 0, patch: { synchronous_mode: 'on' } },
    { type: 'setSync', atMs: T0_MS, members: ['n3'], expectedEpoch: 0, leaderEpoch: 1 },
  ]);
  const refused = expectRefused(t, state, failover('n2', 1, 2), 'NOT_SYNC_STANDBY');
  t.regex(refused.reason, /n2 is not in sync \[n3\]/);
  expectOk(t, state, failover('n3', 1, 2));
  const off = applyOk(state, [{ type: 'patchConfig', atMs: T0_MS, expectedVersion: 1, patch: { synchronous_mode: 'off' } }]);
  expectOk(t, off, failover('n2', 1, 2));
});

test('promote: in synchronous mode an empty sync set admits nobody but the last primary (found by sim --ha seed 73)', (t) => {
  const state = applyOk(runningCluster(), [{ type: 'patchConfig', atMs: T0_MS, expectedVersion: 0, patch: { synchronous_mode: 'on' } }]);
  t.regex(expectRefused(t, state, failover('n2', 1, 2), 'NOT_SYNC_STANDBY').reason, /n2 is not in sync \[\]/);
  const released = applyOk(state, [{ type: 'releaseLeader', atMs: T0_MS + 10, member: 'n1', epoch: 1 }]);
  expectOk(t, released, failover('n1', 1, 1, { kind: 'manual', reason: 'restart' }));
});

test('promote: refused when the primary renewed after the failover was decided (expectedRenewalSeq)', (t) => {
  const state = applyOk(runningCluster(), [{ type: 'renewLease', atMs: T0_MS + 5, member: 'n1', epoch: 1 }]);
  const seq = state.leader!.lastRenewal.seq;
  const refused = expectRefused(t, state, failover('n2', 1, 2, { expectedRenewalSeq: seq - 1 } as Partial<ClusterCommandInput>), 'LEASE_RENEWED');
  t.regex(refused.reason, /renewed its lease/);
  expectOk(t, state, failover('n2', 1, 2, { expectedRenewalSeq: seq } as Partial<ClusterCommandInput>));
});

test('CAS: two concurrent promotes with the same expected epoch — exactly one wins, in either order', (t) => {
  const state = runningCluster();
  const a = cmd(failover('n2', 1, 2));
  const b = cmd(failover('n3', 1, 2));
  for (const [first, second] of [[a, b], [b, a]] as const) {
    const one = applyCommand(state, first);
    const two = applyCommand(one.state, second);
    t.true(one.result.ok);
    t.deepEqual(two.result.ok ? null : two.result.code, 'EPOCH_MISMATCH');
    t.is(two.state.leader?.member, first.type === 'promote' ? first.candidate : '');
    t.is(two.state.epoch, 2);
    t.is(two.state.history.length, 1);
  }
});

test('promote settles a pending switchover', (t) => {
  const pending = applyOk(runningCluster(), [{ type: 'requestSwitchover', atMs: T0_MS, from: 'n1', to: 'n2', scheduledAtMs: null }]);
  const done = expectOk(t, pending, failover('n2', 1, 2, { kind: 'switchover', reason: 'SWITCHOVER' }));
  t.true(done.result.switchoverCleared);
  t.is(done.state.switchover, null);
  const other = expectOk(t, pending, failover('n3', 1, 2));
  t.true(other.result.switchoverCleared, 'the request is moot once n1 is no longer primary');
  const back = expectOk(t, applyOk(pending, [{ type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 1 }]), failover('n1', 1, 1));
  t.false(back.result.switchoverCleared);
  t.not(back.state.switchover, null);
});

test('renewLease: only the holder at its epoch; counts renewals and keeps their time', (t) => {
  const state = runningCluster();
  const once = expectOk(t, state, { type: 'renewLease', atMs: T0_MS + 1000, member: 'n1', epoch: 1 });
  t.deepEqual(once.result, { ok: true, epoch: 1, seq: 1 });
  const twice = expectOk(t, once.state, { type: 'renewLease', atMs: T0_MS + 2000, member: 'n1', epoch: 1 });
  t.deepEqual(twice.state.leader?.lastRenewal, { atMs: T0_MS + 2000, seq: 2 });
  t.is(twice.state.leader?.sinceMs, T0_MS + 3);
  expectRefused(t, state, { type: 'renewLease', atMs: T0_MS, member: 'n2', epoch: 1 }, 'NOT_LEADER_HOLDER');
  expectRefused(t, state, { type: 'renewLease', atMs: T0_MS, member: 'n1', epoch: 2 }, 'EPOCH_MISMATCH');
  const deposed = applyOk(state, [failover('n2', 1, 2)]);
  expectRefused(t, deposed, { type: 'renewLease', atMs: T0_MS, member: 'n1', epoch: 1 }, 'NOT_LEADER_HOLDER');
  expectRefused(t, applyOk(state, [{ type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 1 }]), { type: 'renewLease', atMs: T0_MS, member: 'n1', epoch: 1 }, 'NOT_LEADER_HOLDER');
});

test('releaseLeader: clears the key but keeps the epoch, so the next promote still goes up', (t) => {
  const state = runningCluster();
  expectRefused(t, state, { type: 'releaseLeader', atMs: T0_MS, member: 'n2', epoch: 1 }, 'NOT_LEADER_HOLDER');
  expectRefused(t, state, { type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 7 }, 'EPOCH_MISMATCH');
  const released = expectOk(t, state, { type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 1 }).state;
  t.is(released.leader, null);
  t.is(released.epoch, 1);
  expectRefused(t, released, { type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 1 }, 'NOT_LEADER_HOLDER');
  expectRefused(t, released, failover('n2', 0, 2), 'EPOCH_MISMATCH');
  t.is(expectOk(t, released, failover('n2', 1, 2)).state.leader?.epoch, 2);
});

test('setSync: CAS on the sync epoch, issued at the current leader epoch, members checked', (t) => {
  const state = applyOk(runningCluster(), [register('n4', { nosync: true })]);
  const set = { type: 'setSync', atMs: T0_MS, members: ['n3', 'n2'], expectedEpoch: 0, leaderEpoch: 1 } as const;
  const { state: next, result } = expectOk(t, state, set);
  t.deepEqual(next.sync, { members: ['n2', 'n3'], epoch: 1 });
  t.is(result.syncEpoch, 1);
  expectRefused(t, next, set, 'SYNC_EPOCH_MISMATCH');
  expectOk(t, next, { ...set, members: [], expectedEpoch: 1 });
  expectRefused(t, state, { ...set, leaderEpoch: 2 }, 'EPOCH_MISMATCH');
  expectRefused(t, applyOk(state, [{ type: 'releaseLeader', atMs: T0_MS, member: 'n1', epoch: 1 }]), set, 'NOT_LEADER_HOLDER');
  expectRefused(t, state, { ...set, members: ['n2', 'n9'] }, 'UNKNOWN_MEMBER');
  expectRefused(t, state, { ...set, members: ['n4'] }, 'MEMBER_NOSYNC');
  expectRefused(t, state, { ...set, members: ['n2', 'n2'] }, 'INVALID');
  expectRefused(t, state, { ...set, members: ['n1'] }, 'INVALID');
});

test('requestSwitchover and cancelSwitchover', (t) => {
  const state = applyOk(runningCluster(), [register('n4', { nofailover: true })]);
  const request = { type: 'requestSwitchover', atMs: T0_MS + 5, from: 'n1', to: 'n2', scheduledAtMs: T0_MS + 60_000 } as const;
  const pending = expectOk(t, state, request).state;
  t.deepEqual(pending.switchover, { from: 'n1', to: 'n2', scheduledAtMs: T0_MS + 60_000, requestedAtMs: T0_MS + 5 });
  expectRefused(t, pending, request, 'SWITCHOVER_PENDING');
  expectOk(t, state, { ...request, to: null, scheduledAtMs: null });
  expectRefused(t, state, { ...request, from: 'n2', to: 'n3' }, 'NOT_LEADER_HOLDER');
  expectRefused(t, state, { ...request, to: 'n1' }, 'INVALID');
  expectRefused(t, state, { ...request, to: 'n9' }, 'UNKNOWN_MEMBER');
  expectRefused(t, state, { ...request, to: 'n4' }, 'MEMBER_INELIGIBLE');
  expectRefused(t, state, { type: 'cancelSwitchover', atMs: T0_MS }, 'NO_SWITCHOVER');
  t.is(expectOk(t, pending, { type: 'cancelSwitchover', atMs: T0_MS }).state.switchover, null);
});

test('an invariant broken by a bug throws instead of being applied', (t) => {
  const corrupt = { ...runningCluster(), epoch: 5 };
  t.throws(() => applyCommand(corrupt, cmd({ type: 'renewLease', atMs: T0_MS, member: 'n1', epoch: 1 })), { code: 'PGHERD_ASSERTION_FAILED' });
});

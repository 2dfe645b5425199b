import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type Leader } from '../../../src/cluster/state.js';
import type { CandidatePosition } from '../../../src/ha/candidates.js';
import { decideFailover, decideLocal, decideRaftLeadership, type HaObservation } from '../../../src/ha/decide.js';
import { TEST_CREDENTIALS } from '../cluster/helpers.js';

// ttl 4000, safety margin 1000 (defaults)
function state(overrides: Partial<ClusterState> = {}): ClusterState {
  const base = initialClusterState();
  const members = Object.fromEntries(
    ['n1', 'n2', 'n3'].map((name) => [
      name,
      {
        registration: { raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: DEFAULT_TAGS, registeredAtMs: 1 },
        status: null,
      },
    ]),
  );
  return {
    ...base,
    config: { version: 1, values: parseDynamicConfig({}) },
    initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: '7300000000000000001', doneAtMs: 2, credentials: TEST_CREDENTIALS, restoredFrom: null },
    members,
    epoch: 2,
    leader: leader('n1', 2),
    lastPrimary: { member: 'n1', timeline: 1 },
    ...overrides,
  };
}

function leader(member: string, epoch: number, timeline = 1): Leader {
  return { member, epoch, timeline, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } };
}

function observe(overrides: Partial<HaObservation> = {}): HaObservation {
  return {
    nowMs: 10_000,
    self: 'n1',
    state: state(),
    isRaftLeader: false,
    lease: { confirmedRenewalSentAtMs: 9_000 },
    observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: null },
    postgres: { running: true, role: 'primary', timeline: 1 },
    candidates: null,
    raftVoters: ['n1', 'n2', 'n3'],
    ...overrides,
  };
}

const replica = { running: true, role: 'replica' as const, timeline: 1 };

test('local: the lease holder renews while its lease is valid, and demotes the moment it is not', (t) => {
  t.deepEqual(decideLocal(observe()), { kind: 'renewLease', epoch: 2, reason: 'HOLDS_LEASE' });
  t.deepEqual(decideLocal(observe({ nowMs: 11_999 })), { kind: 'renewLease', epoch: 2, reason: 'HOLDS_LEASE' });
  t.deepEqual(decideLocal(observe({ nowMs: 12_000 })), { kind: 'demote', reason: 'LEASE_LOST', holder: 'n1' });
});

test('local: after an agent restart beside a running primary, it renews first (no demotion, no failover)', (t) => {
  t.deepEqual(decideLocal(observe({ lease: { confirmedRenewalSentAtMs: null } })), { kind: 'renewLease', epoch: 2, reason: 'CONFIRMING_LEASE' });
});

test('local: a primary that learns another member holds the lease (a higher epoch) demotes at once', (t) => {
  const o = observe({ state: state({ epoch: 3, leader: leader('n2', 3, 2) }) });
  t.deepEqual(decideLocal(o), { kind: 'demote', reason: 'LEASE_HELD_BY_OTHER', holder: 'n2' });
});

test('local: a primary with no lease holder demotes, except the initializer taking the very first lease', (t) => {
  t.deepEqual(decideLocal(observe({ state: state({ leader: null }) })), { kind: 'demote', reason: 'NO_LEASE_HOLDER', holder: null });
  const fresh = state({ epoch: 0, leader: null, lastPrimary: { member: null, timeline: 0 } });
  t.deepEqual(decideLocal(observe({ state: fresh })), { kind: 'claimFirstLease', timeline: 1, reason: 'FIRST_PRIMARY' });
  t.deepEqual(decideLocal(observe({ state: fresh, self: 'n2' })), { kind: 'demote', reason: 'NO_LEASE_HOLDER', holder: null });
  const notDone = state({ epoch: 0, leader: null, initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: null, doneAtMs: null, credentials: null, restoredFrom: null } });
  t.is(decideLocal(observe({ state: notDone })).kind, 'demote');
});

test('local: a replica promotes when the cluster granted it the lease; otherwise it stays a replica', (t) => {
  const granted = state({ epoch: 3, leader: leader('n2', 3, 2) });
  t.deepEqual(decideLocal(observe({ self: 'n2', state: granted, postgres: replica })), { kind: 'promote', epoch: 3, reason: 'ELECTED' });
  t.deepEqual(decideLocal(observe({ self: 'n3', state: granted, postgres: replica })), { kind: 'none', reason: 'REPLICA' });
  t.deepEqual(decideLocal(observe({ postgres: { running: false, role: null, timeline: null } })), { kind: 'none', reason: 'POSTGRES_NOT_RUNNING' });
});

const positions = (entries: Array<[string, string]>): CandidatePosition[] =>
  entries.map(([member, receiveLsn]) => ({ member, reachable: true, healthy: true, timeline: 1, receiveLsn }));

test('failover: only the Raft leader decides, never before initialization, never while paused', (t) => {
  const expired = { nowMs: 20_000, observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 } };
  t.deepEqual(decideFailover(observe({ ...expired })), { kind: 'none', reason: 'NOT_RAFT_LEADER' });
  t.deepEqual(decideFailover(observe({ ...expired, isRaftLeader: true, state: state({ epoch: 0, leader: null }) })), { kind: 'none', reason: 'NOT_INITIALIZED' });
  const paused = state({ pause: { paused: true, by: 'operator', atMs: 5 } });
  t.deepEqual(decideFailover(observe({ ...expired, isRaftLeader: true, state: paused })), { kind: 'none', reason: 'PAUSED' });
});

test('failover: waits ttl after the renewal was applied or after becoming Raft leader, whichever is later', (t) => {
  const base = { isRaftLeader: true, self: 'n2' };
  t.deepEqual(decideFailover(observe({ ...base, nowMs: 12_000, observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 } })), {
    kind: 'none',
    reason: 'LEASE_VALID',
    waitMs: 1000,
  });
  t.deepEqual(decideFailover(observe({ ...base, nowMs: 13_500, observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 11_000 } })), {
    kind: 'none',
    reason: 'LEASE_VALID',
    waitMs: 1500,
  });
  t.deepEqual(decideFailover(observe({ ...base, nowMs: 13_000, observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 } })), {
    kind: 'queryCandidates',
    members: ['n2', 'n3'],
    reason: 'LEASE_EXPIRED',
  });
});

test('failover: with fresh positions it promotes the best candidate with a compare-and-set on the epoch', (t) => {
  const o = observe({
    isRaftLeader: true,
    self: 'n3',
    nowMs: 13_000,
    observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 },
    candidates: positions([
      ['n2', '0/3000060'],
      ['n3', '0/3000000'],
    ]),
  });
  t.deepEqual(decideFailover(o), {
    kind: 'promote',
    candidate: 'n2',
    expectedEpoch: 2,
    timeline: 2,
    switchLsn: '0/3000060',
    expectedRenewalSeq: 1,
    reason: 'LEASE_EXPIRED',
    excluded: [],
  });
});

test('failover: no eligible candidate is a decision too, with every exclusion', (t) => {
  const o = observe({
    isRaftLeader: true,
    nowMs: 13_000,
    observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 },
    state: state({ config: { version: 2, values: parseDynamicConfig({ synchronous_mode: 'on' }) } }),
    candidates: positions([['n2', '0/3000060']]),
  });
  const decision = decideFailover(o);
  if (decision.kind !== 'none' || decision.reason !== 'NO_CANDIDATE') return t.fail(`unexpected ${JSON.stringify(decision)}`);
  t.deepEqual(decision.excluded.map((e) => [e.member, e.reason]), [['n2', 'NOT_SYNC_STANDBY']]);
});

test('failover: a released lease (no holder) is replaced without waiting', (t) => {
  const o = observe({ isRaftLeader: true, state: state({ leader: null }), observed: { renewalAppliedAtMs: null, raftLeaderSinceMs: 9_999 } });
  t.deepEqual(decideFailover(o), { kind: 'queryCandidates', members: ['n1', 'n2', 'n3'], reason: 'NO_LEASE_HOLDER' });
});

test('failover: an operator\'s target is promoted once the lease has lapsed, even while paused, and never before', (t) => {
  const request = { from: 'n1', to: 'n3', scheduledAtMs: null, requestedAtMs: 5 };
  const expired = { isRaftLeader: true, self: 'n2', nowMs: 13_000, observed: { renewalAppliedAtMs: 9_000, raftLeaderSinceMs: 0 } };
  const paused = state({ switchover: request, pause: { paused: true, by: 'operator', atMs: 5 } });
  t.deepEqual(decideFailover(observe({ ...expired, nowMs: 12_000, state: paused })), { kind: 'none', reason: 'LEASE_VALID', waitMs: 1000 }, 'a live primary hands over only through its own switchover');
  t.deepEqual(decideFailover(observe({ ...expired, state: paused })), { kind: 'queryCandidates', members: ['n2', 'n3'], reason: 'MANUAL_FAILOVER' });
  const answers = positions([
    ['n2', '0/3000060'],
    ['n3', '0/3000000'],
  ]);
  t.like(decideFailover(observe({ ...expired, state: paused, candidates: answers })), { kind: 'promote', candidate: 'n3', reason: 'MANUAL_FAILOVER', expectedEpoch: 2, timeline: 2 }, 'the target, not the most advanced member');
  const unhealthy = answers.map((p) => (p.member === 'n3' ? { ...p, healthy: false } : p));
  const blocked = decideFailover(observe({ ...expired, state: paused, candidates: unhealthy }));
  t.like(blocked, { kind: 'none', reason: 'NO_CANDIDATE' }, 'paused: nobody else instead of an ineligible target');
  t.deepEqual(blocked.kind === 'none' && blocked.reason === 'NO_CANDIDATE' ? blocked.excluded.map((e) => [e.member, e.reason]) : [], [['n3', 'UNHEALTHY']]);
  t.like(decideFailover(observe({ ...expired, state: state({ switchover: request }), candidates: unhealthy })), { kind: 'promote', candidate: 'n2', reason: 'LEASE_EXPIRED' }, 'not paused: an ineligible target does not block the automatic failover');
});

function withStatus(base: ClusterState, name: string, role: 'replica' | 'stopped', lagBytes: number | null): ClusterState {
  const member = base.members[name]!;
  const status = { role, state: 'x', timeline: 1, receiveLsn: null, replayLsn: null, flushLsn: null, lagBytes, archive: null, reportedAtMs: 1 };
  return { ...base, members: { ...base.members, [name]: { ...member, status } } };
}

test('raft leadership: the primary\'s node hands Raft leadership to the least lagging healthy replica voter', (t) => {
  let s = withStatus(state(), 'n2', 'replica', 4096);
  s = withStatus(s, 'n3', 'replica', 10);
  t.deepEqual(decideRaftLeadership(observe({ isRaftLeader: true, state: s })), {
    kind: 'transferRaftLeadership',
    to: 'n3',
    reason: 'PRIMARY_HOLDS_RAFT_LEADERSHIP',
  });
  t.deepEqual(decideRaftLeadership(observe({ isRaftLeader: true, state: s, raftVoters: ['n1', 'n2'] })), {
    kind: 'transferRaftLeadership',
    to: 'n2',
    reason: 'PRIMARY_HOLDS_RAFT_LEADERSHIP',
  }, 'only voters can lead');
});

test('raft leadership: nothing to do off the primary, when not Raft leader, or without a healthy replica voter', (t) => {
  const healthy = withStatus(state(), 'n2', 'replica', 0);
  t.deepEqual(decideRaftLeadership(observe({ state: healthy })), { kind: 'none', reason: 'NOT_RAFT_LEADER' });
  t.deepEqual(decideRaftLeadership(observe({ isRaftLeader: true, self: 'n3', state: healthy })), { kind: 'none', reason: 'NOT_PRIMARY_NODE' });
  let unhealthy = withStatus(state(), 'n2', 'stopped', 0);
  unhealthy = withStatus(unhealthy, 'n3', 'replica', 2 * 1024 * 1024);
  t.deepEqual(decideRaftLeadership(observe({ isRaftLeader: true, state: unhealthy })), { kind: 'none', reason: 'NO_HEALTHY_REPLICA_VOTER' });
});

import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type Switchover } from '../../../src/cluster/state.js';
import type { CandidatePosition } from '../../../src/ha/candidates.js';
import { caughtUpWithShutdown, chooseSwitchoverCandidate, decideSwitchover, handoverCommand } from '../../../src/ha/switchover.js';
import { TEST_CREDENTIALS } from '../cluster/helpers.js';

function state(switchover: Switchover | null, overrides: Partial<ClusterState> = {}): ClusterState {
  const base = initialClusterState();
  const members = Object.fromEntries(
    ['n1', 'n2', 'n3'].map((name) => [name, { registration: { raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: DEFAULT_TAGS, registeredAtMs: 1 }, status: null }]),
  );
  return {
    ...base,
    config: { version: 1, values: parseDynamicConfig({}) },
    initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: '7300000000000000001', doneAtMs: 2, credentials: TEST_CREDENTIALS, restoredFrom: null },
    members,
    epoch: 3,
    leader: { member: 'n1', epoch: 3, timeline: 2, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } },
    lastPrimary: { member: 'n1', timeline: 2 },
    switchover,
    ...overrides,
  };
}

const position = (member: string, receiveLsn: string | null, extra: Partial<CandidatePosition> = {}): CandidatePosition => ({ member, reachable: true, healthy: true, timeline: 2, receiveLsn, ...extra });
const request = (to: string | null, scheduledAtMs: number | null = null): Switchover => ({ from: 'n1', to, scheduledAtMs, requestedAtMs: 100 });

test('only the primary the request names runs it, and not before its scheduled time', (t) => {
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(null), candidates: null }), { kind: 'none', reason: 'NO_REQUEST' });
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n2', state: state(request(null)), candidates: null }), { kind: 'none', reason: 'NOT_FROM_SELF' });
  const moved = state(request(null), { leader: { member: 'n2', epoch: 4, timeline: 3, sinceMs: 1, lastRenewal: { atMs: 1, seq: 0 } } });
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: moved, candidates: null }), { kind: 'none', reason: 'NOT_FROM_SELF' }, 'no longer the primary');
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(request(null, 5_000)), candidates: null }), { kind: 'none', reason: 'SCHEDULED', waitMs: 4_000 });
  t.deepEqual(decideSwitchover({ wallNowMs: 5_000, self: 'n1', state: state(request(null, 5_000)), candidates: null }), { kind: 'queryCandidates', members: ['n2', 'n3'], reason: 'REQUESTED' });
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(request('n3')), candidates: null }), { kind: 'queryCandidates', members: ['n3'], reason: 'REQUESTED' });
});

test('the named candidate, or the best one, by the failover rules; none qualifies: cancel with the reasons', (t) => {
  const answers = [position('n2', '0/5000100'), position('n3', '0/5000000')];
  t.deepEqual(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(request(null)), candidates: answers }), { kind: 'execute', candidate: 'n2', expectedEpoch: 3, timeline: 3, excluded: [], reason: 'REQUESTED' });
  t.like(decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(request('n3')), candidates: answers }), { kind: 'execute', candidate: 'n3' });
  const sync = state(request('n3'), { config: { version: 2, values: parseDynamicConfig({ synchronous_mode: 'on' }) }, sync: { members: ['n2'], epoch: 1 } });
  const cancelled = decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: sync, candidates: answers });
  t.is(cancelled.kind, 'cancel');
  t.deepEqual(cancelled.kind === 'cancel' ? cancelled.excluded.map((e) => [e.member, e.reason]) : [], [['n3', 'NOT_SYNC_STANDBY']]);
  const missing = chooseSwitchoverCandidate(state(request('n3')), [position('n2', '0/5000100')], 'n3');
  t.deepEqual(missing.ok ? [] : missing.excluded.map((e) => [e.member, e.reason]), [['n3', 'UNREACHABLE']]);
  const lagging = decideSwitchover({ wallNowMs: 1_000, self: 'n1', state: state(request('n3')), candidates: [position('n3', '0/3000000'), position('n2', '0/5000100')] });
  t.deepEqual(lagging.kind === 'cancel' ? lagging.excluded.map((e) => e.reason) : [], ['LAGGING'], 'a target far behind another member is refused (lag limit)');
});

test('the stopped primary hands over only once the candidate has received its shutdown checkpoint', (t) => {
  t.false(caughtUpWithShutdown(position('n2', '0/50000A0'), '0/50000A0'), 'the record starts there: not yet received');
  t.true(caughtUpWithShutdown(position('n2', '0/5000118'), '0/50000A0'));
  t.false(caughtUpWithShutdown(position('n2', '0/5000118', { healthy: false }), '0/50000A0'));
  t.false(caughtUpWithShutdown(position('n2', null), '0/50000A0'));
});

test('the handover promote carries the renewal it was decided on (the agent and the simulator build it here)', (t) => {
  const command = handoverCommand({ candidate: 'n2', expectedEpoch: 3, timeline: 3 }, { switchLsn: '0/5000118', expectedRenewalSeq: 7, reason: 'switchover from n1', atMs: 9 });
  t.deepEqual(command, { type: 'promote', atMs: 9, candidate: 'n2', expectedEpoch: 3, timeline: 3, reason: 'switchover from n1', kind: 'switchover', switchLsn: '0/5000118', expectedRenewalSeq: 7 });
});

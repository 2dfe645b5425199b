import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState } from '../../../src/cluster/state.js';
import { decidePrimaryDuties } from '../../../src/ha/duties.js';
import { decideLifecycle, type LifecycleObservation } from '../../../src/ha/lifecycle.js';
import { TEST_CREDENTIALS } from '../cluster/helpers.js';

const SYSID = '7300000000000000001';
const registration = (name: string) => ({ raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: DEFAULT_TAGS });

function state(overrides: Partial<ClusterState> = {}): ClusterState {
  const base = initialClusterState();
  return {
    ...base,
    config: { version: 1, values: parseDynamicConfig({}) },
    members: Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, { registration: { ...registration(n), registeredAtMs: 1 }, status: null }])),
    initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: SYSID, doneAtMs: 2, credentials: TEST_CREDENTIALS },
    epoch: 1,
    leader: { member: 'n1', epoch: 1, timeline: 1, sinceMs: 3, lastRenewal: { atMs: 4, seq: 1 } },
    lastPrimary: { member: 'n1', timeline: 1 },
    ...overrides,
  };
}

function observe(o: Partial<LifecycleObservation> = {}): LifecycleObservation {
  return {
    nowMs: 100_000,
    self: 'n2',
    state: state(),
    registration: registration(o.self ?? 'n2'),
    dataDir: { kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: false, timeline: 1, cleanShutdownLsn: null },
    postgres: { running: true, role: 'replica', streaming: true, upstream: 'n1' },
    leaseConfirmed: false,
    primaryDownSinceMs: null,
    notStreamingSinceMs: null,
    standbyStartDiverged: false,
    ...o,
  };
}

test('registration first: missing or changed addresses and tags are (re-)registered', (t) => {
  const s = state();
  const { n2: _omit, ...others } = s.members;
  t.deepEqual(decideLifecycle(observe({ state: { ...s, members: others } })), { kind: 'register', reason: 'NOT_REGISTERED' });
  t.deepEqual(decideLifecycle(observe({ registration: { ...registration('n2'), postgresPort: 5433 } })), { kind: 'register', reason: 'REGISTRATION_CHANGED' });
  t.deepEqual(decideLifecycle(observe({ registration: { ...registration('n2'), tags: { ...DEFAULT_TAGS, nofailover: true } } })), { kind: 'register', reason: 'REGISTRATION_CHANGED' });
});

test('foreign data is never touched: another system identifier, a non-PostgreSQL directory, data without a cluster', (t) => {
  const mismatch = decideLifecycle(observe({ dataDir: { kind: 'pgdata', systemIdentifier: '42', wasPrimary: false, timeline: 1, cleanShutdownLsn: null } }));
  t.is(mismatch.kind, 'refuse');
  t.is(mismatch.reason, 'SYSTEM_ID_MISMATCH');
  t.regex(mismatch.kind === 'refuse' ? mismatch.detail : '', /42.*7300000000000000001.*never overwritten/);
  t.is(decideLifecycle(observe({ dataDir: { kind: 'foreign', entries: 3 } })).reason, 'DATA_DIR_FOREIGN');
  const uninitialized = state({ initialize: null, epoch: 0, leader: null });
  t.is(decideLifecycle(observe({ state: uninitialized })).reason, 'DATA_WITHOUT_CLUSTER');
});

test('bootstrap: claim, initialize as the claimant (fresh or resumed), wait otherwise', (t) => {
  const uninitialized = state({ initialize: null, epoch: 0, leader: null });
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  t.deepEqual(decideLifecycle(observe({ state: uninitialized, dataDir: { kind: 'empty' }, postgres: stopped })), { kind: 'claimInitialize', reason: 'CLUSTER_UNINITIALIZED' });
  const claimed = state({ initialize: { member: 'n2', claimedAtMs: 1, systemIdentifier: null, doneAtMs: null, credentials: null }, epoch: 0, leader: null });
  t.deepEqual(decideLifecycle(observe({ state: claimed, dataDir: { kind: 'missing' }, postgres: stopped })), { kind: 'initialize', fresh: true, reason: 'INITIALIZER' });
  t.deepEqual(decideLifecycle(observe({ state: claimed, postgres: stopped })), { kind: 'initialize', fresh: false, reason: 'RESUME_INITIALIZE' });
  t.deepEqual(decideLifecycle(observe({ state: claimed, self: 'n3', dataDir: { kind: 'empty' }, postgres: stopped })), { kind: 'wait', reason: 'WAITING_FOR_INITIALIZER' });
});

test('slot first: a new member clones only once the primary recorded its slot in this epoch and a plan', (t) => {
  const empty = { dataDir: { kind: 'empty' }, postgres: { running: false, role: null, streaming: false, upstream: undefined } } as const;
  t.deepEqual(decideLifecycle(observe({ ...empty })), { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' });
  const slot = { slotName: 'pgherd_n2', createdAtLsn: '0/3000000', createdByEpoch: 1 };
  const plan = { method: 'basebackup' as const, source: 'n1', reason: 'r', walBytesSinceBackup: null, backupBytes: null, decidedAtMs: 5 };
  t.deepEqual(decideLifecycle(observe({ ...empty, state: state({ slots: { n2: slot } }) })), { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: state({ slots: { n2: { ...slot, createdByEpoch: 0 } }, bootstrap: { n2: plan } }) })), { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' }, 'a slot of an earlier primary does not count');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: state({ slots: { n2: slot }, bootstrap: { n2: plan } }) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' });
});

test('replicas: start behind the primary, re-point when it changes, rejoin a former primary or a stuck replica', (t) => {
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  t.deepEqual(decideLifecycle(observe({ postgres: stopped })), { kind: 'startStandby', upstream: 'n1', reason: 'REPLICA_NOT_RUNNING' });
  t.deepEqual(decideLifecycle(observe({ postgres: stopped, dataDir: { kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: true, timeline: 1, cleanShutdownLsn: null } })), { kind: 'rejoin', source: 'n1', reason: 'FORMER_PRIMARY' });
  t.deepEqual(decideLifecycle(observe({ postgres: { running: true, role: 'replica', streaming: true, upstream: 'n3' } })), { kind: 'startStandby', upstream: 'n1', reason: 'UPSTREAM_CHANGED' });
  t.deepEqual(decideLifecycle(observe({ postgres: { running: true, role: 'replica', streaming: true, upstream: undefined } })), { kind: 'startStandby', upstream: 'n1', reason: 'UPSTREAM_CHANGED' }, 'an adopted replica is restarted once with known settings');
  t.deepEqual(decideLifecycle(observe({ notStreamingSinceMs: 100_000 - 8_001 })), { kind: 'rejoin', source: 'n1', reason: 'NOT_STREAMING' });
  t.deepEqual(decideLifecycle(observe({ notStreamingSinceMs: 100_000 - 7_000 })), { kind: 'wait', reason: 'RUNNING' });
  t.deepEqual(decideLifecycle(observe({ state: state({ leader: null }), postgres: stopped })), { kind: 'startStandby', upstream: null, reason: 'REPLICA_NOT_RUNNING' });
});

test('a replica whose standby start failed as diverged (chaos seed 2030) rejoins through pg_rewind; without a primary it keeps trying to start', (t) => {
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  t.deepEqual(decideLifecycle(observe({ postgres: stopped, standbyStartDiverged: true })), { kind: 'rejoin', source: 'n1', reason: 'REPLICA_DIVERGED' });
  t.deepEqual(decideLifecycle(observe({ postgres: stopped, standbyStartDiverged: true, state: state({ leader: null }) })), { kind: 'startStandby', upstream: null, reason: 'REPLICA_NOT_RUNNING' }, 'no rewind source');
  t.deepEqual(decideLifecycle(observe({ postgres: stopped, standbyStartDiverged: true, state: state({ ...state(), pause: { paused: true, by: 'op', atMs: 1 } }) })), { kind: 'wait', reason: 'PAUSED' });
  t.deepEqual(decideLifecycle(observe({ standbyStartDiverged: true })), { kind: 'wait', reason: 'RUNNING' }, 'a running replica is judged by whether it streams');
});

test('a former primary shut down cleanly before every later timeline forked off follows the new primary without pg_rewind', (t) => {
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  const entry = (timeline: number, switchLsn: string) => ({ timeline, switchLsn, atMs: 5, reason: 'switchover', oldPrimary: 'n2', newPrimary: 'n1', kind: 'switchover' as const });
  const formerPrimary = (cleanShutdownLsn: string | null) => ({ kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: true, timeline: 1, cleanShutdownLsn }) as const;
  const moved = state({ leader: { member: 'n1', epoch: 2, timeline: 2, sinceMs: 5, lastRenewal: { atMs: 6, seq: 0 } }, lastPrimary: { member: 'n1', timeline: 2 }, history: [entry(2, '0/3000100')] });
  t.deepEqual(decideLifecycle(observe({ state: moved, postgres: stopped, dataDir: formerPrimary('0/30000A0') })), { kind: 'startStandby', upstream: 'n1', reason: 'FORMER_PRIMARY_NOT_DIVERGED' });
  t.deepEqual(decideLifecycle(observe({ state: moved, postgres: stopped, dataDir: formerPrimary('0/3000100') })), { kind: 'rejoin', source: 'n1', reason: 'FORMER_PRIMARY' }, 'the new timeline forked at the checkpoint record itself: the record is missing there');
  t.deepEqual(decideLifecycle(observe({ state: moved, postgres: stopped, dataDir: formerPrimary(null) })), { kind: 'rejoin', source: 'n1', reason: 'FORMER_PRIMARY' }, 'a crashed primary may hold WAL nobody else has');
  const later = { ...moved, history: [entry(2, '0/3000100'), entry(3, '0/3000050')] };
  t.deepEqual(decideLifecycle(observe({ state: later, postgres: stopped, dataDir: formerPrimary('0/30000A0') })), { kind: 'rejoin', source: 'n1', reason: 'FORMER_PRIMARY' }, 'a later timeline forked off before the checkpoint');
  const gap = { ...moved, history: [entry(3, '0/3000100')] };
  t.deepEqual(decideLifecycle(observe({ state: gap, postgres: stopped, dataDir: formerPrimary('0/30000A0') })), { kind: 'rejoin', source: 'n1', reason: 'FORMER_PRIMARY' }, 'the history does not say where timeline 1 ended');
});

test('the lease holder starts its PostgreSQL as a primary only with a confirmed lease, and gives the key back after primary_start_timeout', (t) => {
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  const holder = { self: 'n1', registration: registration('n1'), postgres: stopped, dataDir: { kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: true, timeline: 1, cleanShutdownLsn: null } } as const;
  t.deepEqual(decideLifecycle(observe({ ...holder, primaryDownSinceMs: 99_000 })), { kind: 'wait', reason: 'CONFIRM_LEASE_FIRST' });
  t.deepEqual(decideLifecycle(observe({ ...holder, primaryDownSinceMs: 99_000, leaseConfirmed: true })), { kind: 'startPrimary', reason: 'PRIMARY_NOT_RUNNING' });
  t.deepEqual(decideLifecycle(observe({ ...holder, primaryDownSinceMs: 100_000 - 10_001, leaseConfirmed: true })), { kind: 'releaseLeader', epoch: 1, reason: 'PRIMARY_START_TIMEOUT' });
  t.deepEqual(decideLifecycle(observe({ ...holder, dataDir: { ...holder.dataDir, wasPrimary: false }, leaseConfirmed: true })), { kind: 'startStandby', upstream: null, reason: 'REPLICA_NOT_RUNNING' }, 'elected while a stopped standby: start it as one, then promote');
});

test('primary duties: slot first (in this epoch), then a bootstrap plan; orphaned pgherd slots are dropped', (t) => {
  const s = state();
  t.deepEqual(decidePrimaryDuties(s, 'n2', []), [], 'only the primary has duties');
  t.deepEqual(decidePrimaryDuties(s, 'n1', [{ slotName: 'pgherd_n2', slotType: 'physical' }, { slotName: 'pgherd_gone', slotType: 'physical' }, { slotName: 'other', slotType: 'physical' }]), [
    { kind: 'ensureSlot', member: 'n2', slotName: 'pgherd_n2', existsLocally: true },
    { kind: 'ensureSlot', member: 'n3', slotName: 'pgherd_n3', existsLocally: false },
    { kind: 'dropSlot', slotName: 'pgherd_gone', member: null },
  ]);
  const slot = (member: string) => ({ slotName: `pgherd_${member}`, createdAtLsn: '0/3000000', createdByEpoch: 1 });
  const recorded = state({ slots: { n2: slot('n2'), n3: slot('n3') } });
  const local = [{ slotName: 'pgherd_n2', slotType: 'physical' }, { slotName: 'pgherd_n3', slotType: 'physical' }];
  t.deepEqual(decidePrimaryDuties(recorded, 'n1', local).map((d) => `${d.kind}:${'member' in d ? d.member : ''}`), ['recordBootstrapPlan:n2', 'recordBootstrapPlan:n3']);
});

test('pause: nothing is started, stopped, cloned or rewound automatically; registration still happens', (t) => {
  const paused = { ...state(), pause: { paused: true, by: 'operator', atMs: 5 } };
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  t.deepEqual(decideLifecycle(observe({ state: paused, postgres: stopped })), { kind: 'wait', reason: 'PAUSED' });
  t.deepEqual(decideLifecycle(observe({ state: paused, postgres: stopped, dataDir: { kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: true, timeline: 1, cleanShutdownLsn: null } })), { kind: 'wait', reason: 'PAUSED' });
  t.deepEqual(decideLifecycle(observe({ state: paused, postgres: { running: true, role: 'replica', streaming: true, upstream: 'n3' } })), { kind: 'wait', reason: 'PAUSED' });
  const { n2: _omit, ...others } = paused.members;
  t.deepEqual(decideLifecycle(observe({ state: { ...paused, members: others } })), { kind: 'register', reason: 'NOT_REGISTERED' });
});

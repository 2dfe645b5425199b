import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type MemberStatus } from '../../../src/cluster/state.js';
import { decidePrimaryDuties, membersAwaitingPlan, type PrimaryBootstrapFacts } from '../../../src/ha/duties.js';
import { decideLifecycle, NO_RESTORE, type LifecycleObservation } from '../../../src/ha/lifecycle.js';
import { TEST_CREDENTIALS } from '../cluster/helpers.js';

const SYSID = '7300000000000000001';
const registration = (name: string) => ({ raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: DEFAULT_TAGS });

function state(overrides: Partial<ClusterState> = {}): ClusterState {
  const base = initialClusterState();
  return {
    ...base,
    config: { version: 1, values: parseDynamicConfig({}) },
    members: Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, { registration: { ...registration(n), registeredAtMs: 1 }, status: null }])),
    initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: SYSID, doneAtMs: 2, credentials: TEST_CREDENTIALS, restoredFrom: null },
    epoch: 1,
    leader: { member: 'n1', epoch: 1, timeline: 1, sinceMs: 3, lastRenewal: { atMs: 4, seq: 1 } },
    lastPrimary: { member: 'n1', timeline: 1 },
    ...overrides,
  };
}

const NO_STORE: PrimaryBootstrapFacts = { catalog: { kind: 'noStore' }, primaryLsn: '0/3000000', primaryTimeline: 1 };

/** A replica's status report; `archive` null: it has no backup store configured. */
function reported(archive: MemberStatus['archive'], overrides: Partial<MemberStatus> = {}): MemberStatus {
  return { role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/3000100', replayLsn: '0/3000100', flushLsn: '0/3000100', lagBytes: 0, archive, reportedAtMs: 5, ...overrides };
}

function withStatus(members: ClusterState['members'], statuses: Record<string, MemberStatus>): ClusterState['members'] {
  return Object.fromEntries(Object.entries(members).map(([name, member]) => [name, statuses[name] ? { ...member, status: statuses[name]! } : member]));
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
    bootstrapFailure: null,
    bootstrapMethod: 'initdb',
    restore: NO_RESTORE,
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

test('bootstrap.method restore: the claimant restores into an empty directory, resumes its own, refuses or waits as told', (t) => {
  const claimed = state({ initialize: { member: 'n2', claimedAtMs: 1, systemIdentifier: null, doneAtMs: null, credentials: null, restoredFrom: null }, epoch: 0, leader: null });
  const stopped = { running: false, role: null, streaming: false, upstream: undefined } as const;
  const restoring = (o: Partial<LifecycleObservation>) => decideLifecycle(observe({ state: claimed, postgres: stopped, bootstrapMethod: 'restore', ...o }));
  t.deepEqual(restoring({ dataDir: { kind: 'missing' } }), { kind: 'restoreCluster', reason: 'RESTORE_CLUSTER' });
  t.deepEqual(restoring({ dataDir: { kind: 'empty' } }), { kind: 'restoreCluster', reason: 'RESTORE_CLUSTER' });
  // Its own restore, whatever state the directory is in (half-extracted, recovering, promoted): resumed.
  const pending = { ...NO_RESTORE, pending: true };
  t.deepEqual(restoring({ dataDir: { kind: 'foreign', entries: 7 }, restore: pending }), { kind: 'restoreCluster', reason: 'RESUME_RESTORE' });
  t.deepEqual(restoring({ restore: pending, postgres: { running: true, role: null, streaming: false, upstream: undefined } }), { kind: 'restoreCluster', reason: 'RESUME_RESTORE' });
  // Data it did not put there is never touched.
  t.like(restoring({}), { kind: 'refuse', reason: 'DATA_WITHOUT_CLUSTER' });
  t.regex((restoring({}) as { detail: string }).detail, /started no restore there; move it away$/);
  t.like(restoring({ dataDir: { kind: 'foreign', entries: 3 } }), { kind: 'refuse', reason: 'DATA_DIR_FOREIGN' });
  // A refusal is shown until the runner looks again; a failure waits before the next attempt.
  t.deepEqual(restoring({ dataDir: { kind: 'empty' }, restore: { ...NO_RESTORE, refusal: 'no complete base backup of cluster demo' } }), {
    kind: 'refuse',
    reason: 'RESTORE_REFUSED',
    detail: 'no complete base backup of cluster demo',
  });
  t.deepEqual(restoring({ dataDir: { kind: 'empty' }, restore: { ...NO_RESTORE, retryAtMs: 100_001 } }), { kind: 'wait', reason: 'RESTORE_RETRY' });
  t.deepEqual(restoring({ dataDir: { kind: 'empty' }, restore: { ...NO_RESTORE, retryAtMs: 100_000 } }), { kind: 'restoreCluster', reason: 'RESTORE_CLUSTER' });
  // The method was switched back to initdb half-way: the operator decides.
  t.like(decideLifecycle(observe({ state: claimed, postgres: stopped, dataDir: { kind: 'foreign', entries: 2 }, restore: pending })), { kind: 'refuse', reason: 'RESTORE_INTERRUPTED' });
  // Not the claimant, or already initialized: restore settings change nothing.
  t.deepEqual(restoring({ self: 'n3', registration: registration('n3'), dataDir: { kind: 'empty' } }), { kind: 'wait', reason: 'WAITING_FOR_INITIALIZER' });
  t.is(decideLifecycle(observe({ bootstrapMethod: 'restore' })).kind, 'wait');
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
  const claimed = state({ initialize: { member: 'n2', claimedAtMs: 1, systemIdentifier: null, doneAtMs: null, credentials: null, restoredFrom: null }, epoch: 0, leader: null });
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

test('an S3 plan restores the backup; once the restore failed the fallback is recorded first, then pg_basebackup', (t) => {
  const empty = { dataDir: { kind: 'empty' }, postgres: { running: false, role: null, streaming: false, upstream: undefined } } as const;
  const slot = { slotName: 'pgherd_n2', createdAtLsn: '0/3000000', createdByEpoch: 1 };
  const id = '20261126T181500Z-3fa9c2';
  const s3 = { method: 's3' as const, source: id, reason: 'r', walBytesSinceBackup: 1, backupBytes: 10, decidedAtMs: 5 };
  const planned = state({ slots: { n2: slot }, bootstrap: { n2: s3 } });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: planned })), { kind: 'restore', backupId: id, upstream: 'n1', reason: 'BOOTSTRAP_PLAN' });
  t.deepEqual(decideLifecycle(observe({ ...empty, dataDir: { kind: 'missing' }, state: planned })), { kind: 'restore', backupId: id, upstream: 'n1', reason: 'BOOTSTRAP_PLAN' });
  const failed = { kind: 's3', backupId: id, error: 'sha256 mismatch' } as const;
  t.deepEqual(decideLifecycle(observe({ ...empty, state: planned, bootstrapFailure: failed })), { kind: 'recordBootstrapFallback', backupId: id, source: 'n1', error: 'sha256 mismatch', reason: 'BOOTSTRAP_S3_FAILED' });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: planned, bootstrapFailure: { ...failed, backupId: '20261126T181500Z-000000' } })), { kind: 'restore', backupId: id, upstream: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'a failure of another backup says nothing about this one');
  const fellBack = state({ slots: { n2: slot }, bootstrap: { n2: { ...s3, method: 'basebackup', source: 'n1' } } });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: fellBack, bootstrapFailure: failed })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' });
  const paused = { ...planned, pause: { paused: true, by: 'op', atMs: 1 } };
  t.deepEqual(decideLifecycle(observe({ ...empty, state: paused })), { kind: 'wait', reason: 'PAUSED' }, 'no restore while paused');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: paused, bootstrapFailure: failed })).kind, 'recordBootstrapFallback', 'recording the failure touches nothing');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: state({ bootstrap: { n2: s3 } }) })), { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' }, 'slot first, also for a restore');
});

test('pg_basebackup from a clonefrom replica while it reports itself fit and did not fail this member; else from the primary', (t) => {
  const empty = { dataDir: { kind: 'empty' }, postgres: { running: false, role: null, streaming: false, upstream: undefined } } as const;
  const slot = { slotName: 'pgherd_n2', createdAtLsn: '0/3000000', createdByEpoch: 1 };
  const plan = { method: 'basebackup' as const, source: 'n3', reason: 'r', walBytesSinceBackup: null, backupBytes: null, decidedAtMs: 5 };
  const tagged = (status: MemberStatus | null) => ({ registration: { ...registration('n3'), tags: { ...DEFAULT_TAGS, clonefrom: true }, registeredAtMs: 1 }, status });
  const withN3 = (status: MemberStatus | null, tags = true) => state({ slots: { n2: slot }, bootstrap: { n2: plan }, members: { ...state().members, n3: tags ? tagged(status) : { ...state().members.n3!, status } } });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null)) })), { kind: 'clone', source: 'n3', reason: 'BOOTSTRAP_PLAN' });
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null)), bootstrapFailure: { kind: 'basebackup', source: 'n3', error: 'connection refused' } })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'it failed this member');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null, { role: 'stopped' })) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'no longer a replica');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null, { replayLsn: '0/2FFFFFF' })) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'behind the slot: its copy could end before the WAL the primary keeps');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null, { timeline: 2 })) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'another timeline');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(reported(null), false) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'no longer tagged clonefrom');
  t.deepEqual(decideLifecycle(observe({ ...empty, state: withN3(null) })), { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' }, 'no report');
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
  t.deepEqual(decidePrimaryDuties(s, 'n2', [], NO_STORE), [], 'only the primary has duties');
  t.deepEqual(decidePrimaryDuties(s, 'n1', [{ slotName: 'pgherd_n2', slotType: 'physical' }, { slotName: 'pgherd_gone', slotType: 'physical' }, { slotName: 'other', slotType: 'physical' }], NO_STORE), [
    { kind: 'ensureSlot', member: 'n2', slotName: 'pgherd_n2', existsLocally: true },
    { kind: 'ensureSlot', member: 'n3', slotName: 'pgherd_n3', existsLocally: false },
    { kind: 'dropSlot', slotName: 'pgherd_gone', member: null },
  ]);
  const slot = (member: string) => ({ slotName: `pgherd_${member}`, createdAtLsn: '0/3000000', createdByEpoch: 1 });
  const recorded = state({ slots: { n2: slot('n2'), n3: slot('n3') }, members: withStatus(state().members, { n2: reported(null), n3: reported(null) }) });
  const local = [{ slotName: 'pgherd_n2', slotType: 'physical' }, { slotName: 'pgherd_n3', slotType: 'physical' }];
  t.deepEqual(decidePrimaryDuties(recorded, 'n1', local, NO_STORE).map((d) => `${d.kind}:${'member' in d ? d.member : ''}`), ['recordBootstrapPlan:n2', 'recordBootstrapPlan:n3']);
  t.like(decidePrimaryDuties(recorded, 'n1', local, NO_STORE)[0], { kind: 'recordBootstrapPlan', member: 'n2', method: 'basebackup', source: 'n1', reason: 'no base backup store is configured', walBytesSinceBackup: null, backupBytes: null });
  const { n3: _unreported, ...someReported } = recorded.members;
  const waiting = { ...recorded, members: { ...someReported, n3: { ...recorded.members.n3!, status: null } } };
  t.deepEqual(decidePrimaryDuties(waiting, 'n1', local, NO_STORE).map((d) => `${d.kind}:${'member' in d ? d.member : ''}`), ['recordBootstrapPlan:n2'], 'a member that has not reported yet (has it a store?) waits for its plan');
  t.deepEqual(membersAwaitingPlan(waiting, 'n1'), ['n2', 'n3']);
  t.deepEqual(membersAwaitingPlan(waiting, 'n2'), [], 'only the primary owes plans');
});

test('primary duties: an S3 plan when the catalog has a fitting backup; none while the catalog is being read', (t) => {
  const slot = (member: string) => ({ slotName: `pgherd_${member}`, createdAtLsn: '0/3000000', createdByEpoch: 1 });
  const local = [{ slotName: 'pgherd_n2', slotType: 'physical' }, { slotName: 'pgherd_n3', slotType: 'physical' }];
  const store = { readyFiles: 0, lastArchived: null, lastArchivedAtMs: null, failure: null };
  const s = state({ slots: { n2: slot('n2'), n3: slot('n3') }, bootstrap: { n3: { method: 'basebackup', source: 'n1', reason: 'r', walBytesSinceBackup: null, backupBytes: null, decidedAtMs: 1 } }, members: withStatus(state().members, { n2: reported(store) }) });
  const backup = { id: '20261126T181500Z-3fa9c2', systemIdentifier: SYSID, timeline: 1, stopTimeline: 1, startLsn: '0/2000028', stopLsn: '0/2000100', dataBytes: 100 * 1024 * 1024 };
  const facts = { catalog: { kind: 'read', backups: [backup] }, primaryLsn: '0/3000028', primaryTimeline: 1 } as const;
  t.deepEqual(decidePrimaryDuties(s, 'n1', local, facts), [
    { kind: 'recordBootstrapPlan', member: 'n2', method: 's3', source: backup.id, reason: `latest backup ${backup.id}: 16.0 MiB of WAL since its start (0.16 of its 100.0 MiB) is within 10.0 GiB and within 0.3`, walBytesSinceBackup: 16 * 1024 * 1024, backupBytes: 100 * 1024 * 1024 },
  ]);
  t.deepEqual(decidePrimaryDuties(s, 'n1', local, { ...facts, catalog: { kind: 'pending' } }), [], 'decided once the catalog is read');
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

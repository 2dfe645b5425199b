import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type HistoryEntry, type MemberStatus } from '../../../src/cluster/state.js';
import { backupProblem, chooseCloneSource, decideBootstrap, type BackupSummary, type BootstrapRuleInput } from '../../../src/ha/bootstrap-rule.js';

const SYSID = '7300000000000000001';
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const ID1 = '20261126T101500Z-aaaaaa';
const ID2 = '20261126T181500Z-3fa9c2';

/** A backup of this cluster on timeline 1 starting at 1/0 with 100 MiB of data. */
function backup(overrides: Partial<BackupSummary> = {}): BackupSummary {
  return { id: ID2, systemIdentifier: SYSID, timeline: 1, stopTimeline: 1, startLsn: '1/0', stopLsn: '1/1000', dataBytes: 100 * MIB, ...overrides };
}

/** The primary at 1/0 + `walBytes` on timeline 1, thresholds 1 GiB and 0.30, n4 with a working store. */
function input(walBytes: number, overrides: Partial<BootstrapRuleInput> = {}): BootstrapRuleInput {
  return {
    member: 'n4',
    catalog: { kind: 'read', backups: [backup()] },
    primaryLsn: lsnAt(0x1_0000_0000 + walBytes),
    primaryTimeline: 1,
    systemIdentifier: SYSID,
    history: [],
    memberStore: { configured: true, failure: null },
    maxWalBytes: GIB,
    maxWalRatio: 0.3,
    cloneSource: 'n1',
    ...overrides,
  };
}

function lsnAt(value: number): string {
  const v = BigInt(value);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

const entry = (timeline: number, switchLsn: string): HistoryEntry => ({ timeline, switchLsn, atMs: 1, reason: 'failover', oldPrimary: 'n1', newPrimary: 'n2', kind: 'failover' });

test('the defaults: 10 GiB of WAL and 0.30 of the backup; both keys validated', (t) => {
  const defaults = parseDynamicConfig({});
  t.is(defaults.bootstrap_s3_max_wal_bytes, 10_737_418_240);
  t.is(defaults.bootstrap_s3_max_wal_ratio, 0.3);
  t.regex(t.throws(() => parseDynamicConfig({ bootstrap_s3_max_wal_ratio: 1.5 }))!.message, /^config\.bootstrap_s3_max_wal_ratio: /);
  t.regex(t.throws(() => parseDynamicConfig({ bootstrap_s3_max_wal_bytes: -1 }))!.message, /^config\.bootstrap_s3_max_wal_bytes: /);
  t.regex(t.throws(() => parseDynamicConfig({ bootstrap_s3_max_wal_bytes: 1.5 }))!.message, /^config\.bootstrap_s3_max_wal_bytes: /);
  t.is(parseDynamicConfig({ bootstrap_s3_max_wal_ratio: 0, bootstrap_s3_max_wal_bytes: 0 }).bootstrap_s3_max_wal_ratio, 0);
});

test('within both limits: the latest backup, with the numbers and a reason that states them', (t) => {
  t.deepEqual(decideBootstrap(input(12 * MIB)), {
    method: 's3',
    source: ID2,
    reason: `latest backup ${ID2}: 12.0 MiB of WAL since its start (0.12 of its 100.0 MiB) is within 1.0 GiB and within 0.3`,
    walBytesSinceBackup: 12 * MIB,
    backupBytes: 100 * MIB,
  });
  t.like(decideBootstrap(input(0)), { method: 's3', walBytesSinceBackup: 0 }, 'no WAL since the backup');
  t.like(decideBootstrap(input(0, { maxWalBytes: 0, maxWalRatio: 0 })), { method: 's3' }, 'zero limits still take a backup with no WAL since');
});

test('edges: exactly at either limit is within it; one byte more is not', (t) => {
  // The byte limit binds: 300 MiB data so the ratio allows 90 MiB; the byte limit is 50 MiB.
  const bytesBound = { catalog: { kind: 'read', backups: [backup({ dataBytes: 300 * MIB })] }, maxWalBytes: 50 * MIB } as const;
  t.like(decideBootstrap(input(50 * MIB, bytesBound)), { method: 's3', walBytesSinceBackup: 50 * MIB });
  const overBytes = decideBootstrap(input(50 * MIB + 1, bytesBound))!;
  t.like(overBytes, { method: 'basebackup', source: 'n1', walBytesSinceBackup: 50 * MIB + 1, backupBytes: 300 * MIB });
  t.is(overBytes.reason, `latest backup ${ID2}: 50.0 MiB of WAL since its start (0.17 of its 300.0 MiB) is more than bootstrap_s3_max_wal_bytes 50.0 MiB and within 0.3`);
  // The ratio binds: 0.30 of 100 MiB = 30 MiB exactly (1 GiB byte limit).
  t.like(decideBootstrap(input(30 * MIB)), { method: 's3', walBytesSinceBackup: 30 * MIB });
  const overRatio = decideBootstrap(input(30 * MIB + 1))!;
  t.like(overRatio, { method: 'basebackup', source: 'n1', walBytesSinceBackup: 30 * MIB + 1, backupBytes: 100 * MIB });
  t.is(overRatio.reason, `latest backup ${ID2}: 30.0 MiB of WAL since its start (just over 0.3 of its 100.0 MiB) is within 1.0 GiB and more than bootstrap_s3_max_wal_ratio 0.3`);
  const both = decideBootstrap(input(2 * GIB))!;
  t.is(both.method, 'basebackup');
  t.regex(both.reason, /2\.0 GiB of WAL since its start \(20\.48 of its 100\.0 MiB\) is more than bootstrap_s3_max_wal_bytes 1\.0 GiB and more than bootstrap_s3_max_wal_ratio 0\.3$/);
});

test('the ratio limit is exact in whole bytes despite floating point (0.29 × 100 = 28.999…)', (t) => {
  const small = { catalog: { kind: 'read', backups: [backup({ dataBytes: 100 })] }, maxWalRatio: 0.29 } as const;
  t.like(decideBootstrap(input(29, small)), { method: 's3' });
  t.like(decideBootstrap(input(30, small)), { method: 'basebackup' });
  const tenth = { catalog: { kind: 'read', backups: [backup({ dataBytes: 30 })] }, maxWalRatio: 0.1 } as const;
  t.like(decideBootstrap(input(3, tenth)), { method: 's3' }, '0.1 × 30 = 3.0000000000000004');
  t.like(decideBootstrap(input(4, tenth)), { method: 'basebackup' });
  const ratioOne = { catalog: { kind: 'read', backups: [backup({ dataBytes: 100 })] }, maxWalRatio: 1 } as const;
  t.like(decideBootstrap(input(100, ratioOne)), { method: 's3' });
  t.like(decideBootstrap(input(101, ratioOne)), { method: 'basebackup' });
});

test('no store, no member store, a failing member store, an unreadable store, an empty one: pg_basebackup, saying why', (t) => {
  const plan = (overrides: Partial<BootstrapRuleInput>) => decideBootstrap(input(MIB, overrides));
  t.deepEqual(plan({ catalog: { kind: 'noStore' } }), { method: 'basebackup', source: 'n1', reason: 'no base backup store is configured', walBytesSinceBackup: null, backupBytes: null });
  t.like(plan({ memberStore: { configured: false, failure: null } }), { method: 'basebackup', reason: 'n4 has no backup store configured to restore a base backup from' });
  t.like(plan({ memberStore: { configured: true, failure: 'NoSuchBucket:\n  the bucket does not exist' } }), { method: 'basebackup', reason: "n4's backup store does not work: NoSuchBucket: the bucket does not exist" });
  t.like(plan({ catalog: { kind: 'unreadable', error: 'listing the base backups took longer than 10000 ms' } }), {
    method: 'basebackup',
    reason: 'the backup store could not be read: listing the base backups took longer than 10000 ms',
    walBytesSinceBackup: null,
  });
  t.is(plan({ catalog: { kind: 'unreadable', error: 'x'.repeat(5000) } })!.reason.length, 'the backup store could not be read: '.length + 300, 'a long store error is clipped');
  t.like(plan({ catalog: { kind: 'read', backups: [] } }), { method: 'basebackup', reason: 'no complete base backup in the store' });
  t.like(plan({ cloneSource: 'n3', catalog: { kind: 'noStore' } }), { source: 'n3' }, 'from the clone source given');
});

test('while the catalog is being read there is no plan yet, unless the member cannot restore anyway', (t) => {
  t.is(decideBootstrap(input(MIB, { catalog: { kind: 'pending' } })), null);
  t.like(decideBootstrap(input(MIB, { catalog: { kind: 'pending' }, memberStore: { configured: false, failure: null } })), { method: 'basebackup' });
});

test('a backup of another database system is never used; an older one of this system is', (t) => {
  const foreign = backup({ id: ID2, systemIdentifier: '7399999999999999999' });
  const older = backup({ id: ID1, startLsn: '0/F0000000', stopLsn: '0/F0001000', dataBytes: GIB });
  const plan = decideBootstrap(input(MIB, { catalog: { kind: 'read', backups: [older, foreign] } }))!;
  t.like(plan, { method: 's3', source: ID1, walBytesSinceBackup: 0x1000_0000 + MIB, backupBytes: GIB });
  t.regex(plan.reason, new RegExp(`^backup ${ID1} \\(the latest, ${ID2}, is of database system 7399999999999999999, this cluster is ${SYSID}\\): 257\\.0 MiB of WAL`));
  const none = decideBootstrap(input(MIB, { catalog: { kind: 'read', backups: [foreign] } }))!;
  t.deepEqual(none, {
    method: 'basebackup',
    source: 'n1',
    reason: `no usable base backup: the latest, ${ID2}, is of database system 7399999999999999999, this cluster is ${SYSID}`,
    walBytesSinceBackup: null,
    backupBytes: null,
  });
  const two = decideBootstrap(input(MIB, { catalog: { kind: 'read', backups: [backup({ id: ID1, systemIdentifier: '42' }), foreign] } }))!;
  t.regex(two.reason, /\(nor is the older one\)$/);
});

test('timelines: only the cluster history, and a backup of an old timeline only if it ended before the fork', (t) => {
  const onTimeline2 = { primaryTimeline: 2, history: [entry(2, '1/800000')] };
  const cluster = { systemIdentifier: SYSID, primaryLsn: '2/0', ...onTimeline2 };
  t.is(backupProblem(backup({ stopLsn: '1/7FFFFF' }), cluster), null, 'ended before timeline 1 forked off');
  t.is(backupProblem(backup({ stopLsn: '1/800000' }), cluster), null, 'ended exactly at the fork');
  t.is(backupProblem(backup({ stopLsn: '1/800001' }), cluster), "ends at 1/800001 on timeline 1, past where that timeline forked off (1/800000)");
  t.is(backupProblem(backup({ timeline: 2, stopTimeline: 2, startLsn: '1/900000', stopLsn: '1/A00000' }), cluster), null, 'the primary timeline');
  t.is(backupProblem(backup({ timeline: 3, stopTimeline: 3 }), cluster), "is on timeline 3, which is not in this cluster's history (the primary is on 2)");
  t.is(backupProblem(backup({ timeline: 2, stopTimeline: 2 }), { ...cluster, primaryTimeline: 4, history: [entry(3, '1/0'), entry(4, '1/100')] }), "is on timeline 2, which is not in this cluster's history (the primary is on 4)");
  t.is(backupProblem(backup({ timeline: 1, stopTimeline: 2, stopLsn: '1/900000' }), cluster), null, 'a standby backup across the switch');
  t.is(backupProblem(backup({ timeline: 1, stopTimeline: 3 }), cluster), "is on timeline 3, which is not in this cluster's history (the primary is on 2)");
  t.is(backupProblem(backup({ startLsn: '2/1', stopLsn: '2/2', timeline: 2, stopTimeline: 2 }), cluster), "starts at 2/1, past the primary's position 2/0");
  // Through the rule: a backup that fails the timeline check is never planned.
  const plan = decideBootstrap(input(MIB, { ...onTimeline2, catalog: { kind: 'read', backups: [backup({ stopLsn: '1/800001' })] } }))!;
  t.like(plan, { method: 'basebackup', walBytesSinceBackup: null });
  t.regex(plan.reason, /^no usable base backup: the latest, .*, ends at 1\/800001 on timeline 1, past where that timeline forked off \(1\/800000\)$/);
});

test('a restored cluster never uses the backups of the cluster it was restored from (they may run past its fork)', (t) => {
  // Restored from a timeline-1 backup and promoted on timeline 2; the source went on writing timeline 1 after the fork.
  const restored = { systemIdentifier: SYSID, primaryLsn: '3/0', primaryTimeline: 2, history: [], firstTimeline: 2 };
  t.is(backupProblem(backup({ startLsn: '2/0', stopLsn: '2/1000' }), restored), 'was taken on timeline 1 by the cluster this one was restored from (this cluster began on timeline 2)');
  t.is(backupProblem(backup({ timeline: 2, stopTimeline: 2, startLsn: '2/800000', stopLsn: '2/900000' }), restored), null, 'its own backup');
  t.is(backupProblem(backup({ startLsn: '2/0', stopLsn: '2/1000' }), { ...restored, firstTimeline: undefined }), null, 'initdb clusters: timeline 1 is their own');
  const plan = decideBootstrap(input(MIB, { ...restored, primaryLsn: lsnAt(0x1_0000_0000 + MIB) }))!;
  t.like(plan, { method: 'basebackup', walBytesSinceBackup: null });
  t.regex(plan.reason, /^no usable base backup: the latest, .*, was taken on timeline 1 by the cluster this one was restored from/);
});

test('the actual ratio is printed with the decimals it takes not to look equal to the limit', (t) => {
  const data = 10_000;
  const at = (wal: number) => decideBootstrap(input(wal, { catalog: { kind: 'read', backups: [backup({ dataBytes: data })] } }))!.reason;
  t.regex(at(3004), /\(0\.3004 of its 9\.8 KiB\) is within 1\.0 GiB and more than bootstrap_s3_max_wal_ratio 0\.3$/);
  t.regex(at(3000), /\(0\.30 of its 9\.8 KiB\) is within 1\.0 GiB and within 0\.3$/);
  t.regex(at(2500), /\(0\.25 of its/);
});

// ---- who pg_basebackup copies from

const registration = (name: string, clonefrom = false) => ({ raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: { ...DEFAULT_TAGS, clonefrom }, registeredAtMs: 1 });
const replica = (overrides: Partial<MemberStatus> = {}): MemberStatus => ({ role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/5000000', replayLsn: '0/5000000', flushLsn: '0/5000000', lagBytes: 0, archive: null, reportedAtMs: 1, ...overrides });

function cluster(members: Record<string, { clonefrom?: boolean; status?: MemberStatus | null }>): ClusterState {
  return {
    ...initialClusterState(),
    members: Object.fromEntries(Object.entries(members).map(([name, m]) => [name, { registration: registration(name, m.clonefrom ?? false), status: m.status ?? null }])),
    epoch: 1,
    leader: { member: 'n1', epoch: 1, timeline: 1, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } },
    slots: { n4: { slotName: 'pgherd_n4', createdAtLsn: '0/4000000', createdByEpoch: 1 } },
  };
}

test('clone source: the primary, unless a clonefrom replica on its timeline replayed past the new slot; least lag, then name', (t) => {
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { status: replica() }, n4: {} }), 'n4'), 'n1', 'no clonefrom tag');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica() }, n4: {} }), 'n4'), 'n2');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ lagBytes: 500 }) }, n3: { clonefrom: true, status: replica({ lagBytes: 10 }) }, n4: {} }), 'n4'), 'n3', 'least lag');
  t.is(chooseCloneSource(cluster({ n1: {}, n3: { clonefrom: true, status: replica() }, n2: { clonefrom: true, status: replica() }, n4: {} }), 'n4'), 'n2', 'then by name');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ lagBytes: null }) }, n3: { clonefrom: true, status: replica({ lagBytes: 1 }) }, n4: {} }), 'n4'), 'n3', 'an unknown lag counts as the most');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ replayLsn: '0/3FFFFFF' }) }, n4: {} }), 'n4'), 'n1', 'replayed short of the slot');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ replayLsn: '0/4000000' }) }, n4: {} }), 'n4'), 'n2', 'exactly at the slot');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ timeline: 2 }) }, n4: {} }), 'n4'), 'n1', 'another timeline');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true, status: replica({ role: 'stopped' }) }, n4: {} }), 'n4'), 'n1', 'not a running replica');
  t.is(chooseCloneSource(cluster({ n1: {}, n2: { clonefrom: true }, n4: {} }), 'n4'), 'n1', 'never reported');
  t.is(chooseCloneSource(cluster({ n1: { clonefrom: true }, n4: { clonefrom: true, status: replica() } }), 'n4'), 'n1', 'never itself');
  t.is(chooseCloneSource({ ...cluster({ n1: {}, n2: { clonefrom: true, status: replica() }, n4: {} }), slots: {} }, 'n4'), 'n1', 'no slot recorded: the primary');
  t.is(chooseCloneSource({ ...cluster({ n1: {} }), leader: null }, 'n4'), null);
});

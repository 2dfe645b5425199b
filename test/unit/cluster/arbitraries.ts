import fc from 'fast-check';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { formatLsn, LSN_MAX } from '../../../src/cluster/lsn.js';
import { TEST_CREDENTIALS } from './helpers.js';

/** Small pools, so that random sequences hit the success paths as well as every refusal. */
const member = fc.constantFrom('n1', 'n2', 'n3', 'n4', 'constructor');
const actionMember = fc.constantFrom('n2', 'n3');
const atMs = fc.integer({ min: 0, max: 2_000_000_000_000 });
const epoch = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 6 }), weight: 1 });
const timeline = fc.integer({ min: 1, max: 8 });
const lsn = fc.oneof(fc.bigInt({ min: 0n, max: LSN_MAX }), fc.bigInt({ min: 1n << 53n, max: (1n << 53n) + 4n })).map(formatLsn);
const bytes = fc.option(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { nil: null });
const text = fc.string({ maxLength: 12 });
const tags = fc.record(
  { nofailover: fc.boolean(), noloadbalance: fc.boolean(), clonefrom: fc.boolean(), nosync: fc.boolean(), failover_priority: fc.integer({ min: 0, max: 3 }) },
  { requiredKeys: [] },
);

const commandArbitraries: fc.Arbitrary<ClusterCommandInput>[] = [
  fc.record({ type: fc.constant('initializeClaim' as const), atMs, member }),
  fc.record({
    type: fc.constant('initializeDone' as const),
    atMs,
    member,
    systemIdentifier: fc.constantFrom('7301234567890123456', '18446744073709551615'),
    credentials: fc.constant(TEST_CREDENTIALS),
    restoredFrom: fc.option(fc.record({ backupId: fc.constant('20261126T181500Z-3fa9c2'), timeline: fc.integer({ min: 1, max: 9 }), targetTimeMs: fc.option(atMs, { nil: null }) }), { nil: null }),
  }),
  fc.record({
    type: fc.constant('registerMember' as const),
    atMs,
    member,
    raftAddress: fc.constant('h:7400'),
    postgresHost: fc.constant('h'),
    postgresPort: fc.integer({ min: 1, max: 65_535 }),
    httpAddress: fc.constant('h:8008'),
    tags,
  }),
  fc.record({
    type: fc.constant('updateMemberStatus' as const),
    atMs,
    member,
    role: fc.constantFrom('primary', 'replica', 'starting', 'stopped', 'crashed', 'unknown'),
    state: text,
    timeline: fc.option(timeline, { nil: null }),
    receiveLsn: fc.option(lsn, { nil: null }),
    replayLsn: fc.option(lsn, { nil: null }),
    flushLsn: fc.option(lsn, { nil: null }),
    lagBytes: bytes,
  }),
  fc.record({ type: fc.constant('removeMember' as const), atMs, member }),
  fc.record({ type: fc.constant('renewLease' as const), atMs, member, epoch }),
  fc.record({
    type: fc.constant('promote' as const),
    atMs,
    candidate: member,
    expectedEpoch: epoch,
    timeline,
    reason: text,
    kind: fc.constantFrom('failover', 'switchover', 'manual'),
    switchLsn: lsn,
  }),
  fc.record({ type: fc.constant('releaseLeader' as const), atMs, member, epoch }),
  fc.record({ type: fc.constant('setSync' as const), atMs, members: fc.uniqueArray(member, { maxLength: 3 }), expectedEpoch: epoch, leaderEpoch: epoch }),
  fc.record({ type: fc.constant('recordSlot' as const), atMs, member, createdAtLsn: lsn, leaderEpoch: epoch }),
  fc.record({ type: fc.constant('dropSlot' as const), atMs, member, leaderEpoch: epoch }),
  fc.record({
    type: fc.constant('recordBootstrapPlan' as const),
    atMs,
    member,
    method: fc.constantFrom('s3', 'basebackup'),
    source: fc.constantFrom('n1', 'backup-1'),
    reason: text,
    walBytesSinceBackup: bytes,
    backupBytes: bytes,
    leaderEpoch: epoch,
  }),
  fc.record({ type: fc.constant('bootstrapFallback' as const), atMs, member: actionMember, backupId: fc.constantFrom('backup-1', 'backup-2'), source: member, reason: text }),
  fc.record({
    type: fc.constant('patchConfig' as const),
    atMs,
    expectedVersion: fc.integer({ min: 0, max: 4 }),
    patch: fc.record(
      {
        ttl_ms: fc.option(fc.integer({ min: 1000, max: 8000 }), { nil: null }),
        loop_wait_ms: fc.integer({ min: 100, max: 4000 }),
        synchronous_mode: fc.constantFrom('off', 'on', 'strict'),
        postgresql_parameters: fc.dictionary(fc.constantFrom('work_mem', 'max_connections', 'port'), fc.option(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { nil: null })),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({ type: fc.constant('requestSwitchover' as const), atMs, from: member, to: fc.option(member, { nil: null }), scheduledAtMs: fc.option(atMs, { nil: null }) }),
  fc.record({ type: fc.constant('cancelSwitchover' as const), atMs }),
  fc.record({ type: fc.constant('setPause' as const), atMs, paused: fc.boolean(), by: fc.constantFrom('operator', 'n1') }),
  fc.record({
    type: fc.constant('setMembership' as const),
    atMs,
    member: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
    target: fc.constantFrom('member', 'removed'),
    raftAddress: fc.option(fc.constantFrom('n4:7400', 'n2:7401'), { nil: null }),
    source: fc.constantFrom('operator', 'join'),
    by: fc.constantFrom('operator', 'n4'),
  }),
  // Replicas of the bootstrap sequence and one id: so that updates often find the action a request recorded.
  fc.record({
    type: fc.constant('requestMemberAction' as const),
    atMs,
    member: actionMember,
    id: fc.constant('a1'),
    kind: fc.constantFrom('restart', 'reload', 'reinit'),
    pendingOnly: fc.boolean(),
    scheduledAtMs: fc.option(atMs, { nil: null }),
    by: fc.constant('operator'),
  }),
  fc.record({ type: fc.constant('updateMemberAction' as const), atMs, member: actionMember, id: fc.constantFrom('a1', 'b2'), status: fc.constantFrom('running', 'done', 'failed', 'skipped', 'cancelled'), detail: text }),
  // Two run ids and the bootstrap members: so that updates often find the run a request recorded.
  fc.oneof(
    fc.record({
      type: fc.constant('requestBackup' as const),
      atMs,
      id: fc.constantFrom('0000aaaa', '0000bbbb'),
      trigger: fc.constant('operator' as const),
      by: fc.constant('operator'),
      label: fc.constantFrom('', 'weekly'),
      member: fc.option(actionMember, { nil: null }),
      fireAtMs: fc.constant(null),
    }),
    fc.record({ type: fc.constant('requestBackup' as const), atMs, id: fc.constant('0000cccc'), trigger: fc.constant('schedule' as const), by: fc.constant('schedule'), fireAtMs: atMs }),
  ),
  fc.record({
    type: fc.constant('updateBackup' as const),
    atMs,
    id: fc.constantFrom('0000aaaa', '0000bbbb', '0000cccc'),
    member: actionMember,
    status: fc.constantFrom('running', 'done', 'failed', 'cancelled'),
    backupId: fc.constantFrom(null, '20261126T181500Z-3fa9c2'),
    detail: text,
  }),
];

export const commandArbitrary: fc.Arbitrary<ClusterCommandInput> = fc.oneof(...commandArbitraries);

/** A running three-member cluster to start random sequences from (so they reach deep states). */
export const BOOTSTRAP_SEQUENCE: readonly ClusterCommandInput[] = [
  ...['n1', 'n2', 'n3'].map((m) => ({ type: 'registerMember' as const, atMs: 1, member: m, raftAddress: `${m}:7400`, postgresHost: m, postgresPort: 5432, httpAddress: `${m}:8008` })),
  { type: 'initializeClaim', atMs: 2, member: 'n1' },
  { type: 'initializeDone', atMs: 3, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS },
  { type: 'promote', atMs: 4, candidate: 'n1', expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' },
  // A slot and an S3 plan already recorded: random sequences then often reach dropSlot and bootstrapFallback.
  { type: 'recordSlot', atMs: 5, member: 'n2', createdAtLsn: '0/3000000', leaderEpoch: 1 },
  { type: 'recordBootstrapPlan', atMs: 5, member: 'n3', method: 's3', source: 'backup-1', reason: 'within both limits', walBytesSinceBackup: 1, backupBytes: 10, leaderEpoch: 1 },
];

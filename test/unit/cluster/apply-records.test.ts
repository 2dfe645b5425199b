import test from 'ava';
import { slotNameFor } from '../../../src/cluster/state.js';
import { applyOk, expectOk, expectRefused, register, runningCluster, T0_MS } from './helpers.js';

test('slot names: pgherd_ + the member name lower-cased, other characters as _', (t) => {
  t.is(slotNameFor('n1'), 'pgherd_n1');
  t.is(slotNameFor('DB-2.eu'), 'pgherd_db_2_eu');
  t.true(slotNameFor('a'.repeat(56)).length <= 63);
});

test('recordSlot: the primary records a slot; refused at a stale epoch, for unknown members and on a name clash', (t) => {
  const state = applyOk(runningCluster(), [register('a_b'), register('a-b')]);
  const record = { type: 'recordSlot', atMs: T0_MS, member: 'n2', createdAtLsn: '1/0000A0', leaderEpoch: 1 } as const;
  const { state: next } = expectOk(t, state, record);
  t.deepEqual(next.slots.n2, { slotName: 'pgherd_n2', createdAtLsn: '1/A0', createdByEpoch: 1 });
  const recreated = expectOk(t, next, { ...record, createdAtLsn: '2/0' }).state;
  t.is(recreated.slots.n2?.createdAtLsn, '2/0');
  expectRefused(t, state, { ...record, leaderEpoch: 0 }, 'EPOCH_MISMATCH');
  expectRefused(t, state, { ...record, member: 'n9' }, 'UNKNOWN_MEMBER');
  const withUnderscore = applyOk(state, [{ ...record, member: 'a_b' }]);
  const clash = expectRefused(t, withUnderscore, { ...record, member: 'a-b' }, 'SLOT_NAME_CONFLICT');
  t.regex(clash.reason, /pgherd_a_b already belongs to a_b/);
});

test('dropSlot: removes the record, also after the member is gone; unknown slots refused', (t) => {
  const state = applyOk(runningCluster(), [
    { type: 'recordSlot', atMs: T0_MS, member: 'n3', createdAtLsn: '0/100', leaderEpoch: 1 },
    { type: 'removeMember', atMs: T0_MS, member: 'n3' },
  ]);
  const drop = { type: 'dropSlot', atMs: T0_MS, member: 'n3', leaderEpoch: 1 } as const;
  expectRefused(t, state, { ...drop, leaderEpoch: 3 }, 'EPOCH_MISMATCH');
  const dropped = expectOk(t, state, drop).state;
  t.deepEqual(dropped.slots, {});
  expectRefused(t, dropped, drop, 'UNKNOWN_SLOT');
});

test('recordBootstrapPlan: s3 plans carry the numbers; basebackup plans may not', (t) => {
  const state = runningCluster();
  const s3 = {
    type: 'recordBootstrapPlan',
    atMs: T0_MS + 4,
    member: 'n3',
    method: 's3',
    source: 'base_000000010000000000000004',
    reason: 'WAL since backup within limits',
    walBytesSinceBackup: 5 * 1024 ** 3,
    backupBytes: 20 * 1024 ** 3,
    leaderEpoch: 1,
  } as const;
  const { state: next } = expectOk(t, state, s3);
  t.deepEqual(next.bootstrap.n3, {
    method: 's3',
    source: 'base_000000010000000000000004',
    reason: 'WAL since backup within limits',
    walBytesSinceBackup: 5 * 1024 ** 3,
    backupBytes: 20 * 1024 ** 3,
    decidedAtMs: T0_MS + 4,
  });
  expectRefused(t, state, { ...s3, backupBytes: null }, 'INVALID');
  expectOk(t, state, { ...s3, method: 'basebackup', source: 'n1', reason: 'no backup', walBytesSinceBackup: null, backupBytes: null });
  expectRefused(t, state, { ...s3, member: 'n9' }, 'UNKNOWN_MEMBER');
  expectRefused(t, state, { ...s3, leaderEpoch: 2 }, 'EPOCH_MISMATCH');
});

test('bootstrapFallback: an s3 plan that failed becomes pg_basebackup from the source, keeping its numbers; only that plan', (t) => {
  const id = '20261126T181500Z-3fa9c2';
  const s3 = { type: 'recordBootstrapPlan', atMs: T0_MS + 4, member: 'n3', method: 's3', source: id, reason: 'within both limits', walBytesSinceBackup: 5 * 1024 ** 2, backupBytes: 20 * 1024 ** 2, leaderEpoch: 1 } as const;
  const planned = expectOk(t, runningCluster(), s3).state;
  const fallback = { type: 'bootstrapFallback', atMs: T0_MS + 9, member: 'n3', backupId: id, source: 'n1', reason: `S3 restore of ${id} failed: sha256 mismatch; pg_basebackup from n1` } as const;
  const { state: next } = expectOk(t, planned, fallback);
  t.deepEqual(next.bootstrap.n3, {
    method: 'basebackup',
    source: 'n1',
    reason: `S3 restore of ${id} failed: sha256 mismatch; pg_basebackup from n1`,
    walBytesSinceBackup: 5 * 1024 ** 2,
    backupBytes: 20 * 1024 ** 2,
    decidedAtMs: T0_MS + 9,
  });
  t.regex(expectRefused(t, next, fallback, 'PLAN_CHANGED').reason, /the plan of n3 is basebackup from n1, not the restore of 20261126T181500Z-3fa9c2/, 'a repeated report finds the fallback recorded');
  expectRefused(t, planned, { ...fallback, backupId: '20261126T181500Z-000000' }, 'PLAN_CHANGED');
  t.is(expectRefused(t, runningCluster(), fallback, 'PLAN_CHANGED').reason, `n3 has no bootstrap plan, not the restore of ${id}`);
  expectRefused(t, planned, { ...fallback, member: 'n9' }, 'UNKNOWN_MEMBER');
  expectRefused(t, planned, { ...fallback, source: 'n9' }, 'UNKNOWN_MEMBER');
  expectRefused(t, planned, { ...fallback, source: 'n3' }, 'INVALID');
  t.is(expectOk(t, planned, { ...fallback, source: 'n2' }).state.bootstrap.n3?.source, 'n2', 'from a clonefrom replica');
  t.throws(() => expectOk(t, planned, { ...fallback, reason: 'x'.repeat(2000) }), { message: /reason/ }, 'the reason is bounded like every text');
});

test('setPause: records who and when; repeating the current value changes nothing', (t) => {
  const state = runningCluster();
  const paused = expectOk(t, state, { type: 'setPause', atMs: T0_MS + 9, paused: true, by: 'operator' });
  t.true(paused.result.changed);
  t.deepEqual(paused.state.pause, { paused: true, by: 'operator', atMs: T0_MS + 9 });
  const again = expectOk(t, paused.state, { type: 'setPause', atMs: T0_MS + 10, paused: true, by: 'n2' });
  t.false(again.result.changed);
  t.is(again.state, paused.state);
  t.deepEqual(expectOk(t, paused.state, { type: 'setPause', atMs: T0_MS + 11, paused: false, by: 'n2' }).state.pause, { paused: false, by: 'n2', atMs: T0_MS + 11 });
});

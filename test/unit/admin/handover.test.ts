import test from 'ava';
import { AdminRefusal } from '../../../src/admin/errors.js';
import { checkHandover, handoverProgress, membersToAsk, type TrackedHandover } from '../../../src/admin/handover.js';
import type { HandoverRequest } from '../../../src/admin/requests.js';
import { applyOk, register, runningCluster, T0_MS } from '../cluster/helpers.js';
import { applyCommand } from '../../../src/cluster/apply.js';

const request = (candidate: string | null, kind: HandoverRequest['kind'] = 'switchover'): HandoverRequest => ({ kind, candidate, scheduledAtMs: null, waitMs: 1_000, by: 'test' });
const recorded = { from: 'n1', to: 'n2', scheduledAtMs: null, requestedAtMs: T0_MS + 50 };
const tracked: TrackedHandover = { request: recorded, epoch: 1 };
const withRequest = () => applyOk(runningCluster(), [{ type: 'requestSwitchover', atMs: T0_MS + 50, from: 'n1', to: 'n2', scheduledAtMs: null }]);

test('checkHandover: the primary and its epoch, or the first problem an operator must fix', (t) => {
  t.deepEqual(checkHandover(runningCluster(), request('n2')), { from: 'n1', epoch: 1 });
  const reasonOf = (fn: () => unknown): string => (t.throws(fn, { instanceOf: AdminRefusal }) as AdminRefusal).reason;
  const released = applyOk(runningCluster(), [{ type: 'releaseLeader', atMs: T0_MS + 9, member: 'n1', epoch: 1 }]);
  t.is(reasonOf(() => checkHandover(released, request('n9'))), 'NO_PRIMARY', 'no primary comes before an unknown candidate');
  t.is(reasonOf(() => checkHandover(runningCluster(), request('n9'))), 'UNKNOWN_CANDIDATE');
  t.is(reasonOf(() => checkHandover(runningCluster(), request('n1'))), 'CANDIDATE_IS_PRIMARY');
  t.is(reasonOf(() => checkHandover(withRequest(), request('n3', 'failover'))), 'SWITCHOVER_PENDING');
});

test('membersToAsk: the named candidate, or every member but the primary, sorted', (t) => {
  const state = applyCommand(runningCluster(), register('a0')).state;
  t.deepEqual(membersToAsk(state, 'n1', null), ['a0', 'n2', 'n3']);
  t.deepEqual(membersToAsk(state, 'n1', 'n3'), ['n3']);
});

test('handoverProgress: pending while the request is there, or not yet known to be applied here', (t) => {
  t.deepEqual(handoverProgress(withRequest(), tracked, true), { kind: 'pending' });
  // Not synced: the local state may simply not have applied the request yet.
  t.deepEqual(handoverProgress(runningCluster(), tracked, false), { kind: 'pending' });
});

test('handoverProgress: completed once another member, whoever it is, was promoted at a higher epoch and runs as the primary', (t) => {
  const granted = (candidate: string) =>
    applyOk(withRequest(), [{ type: 'promote', atMs: T0_MS + 60, candidate, expectedEpoch: 1, timeline: 2, reason: 'switchover', kind: 'switchover', switchLsn: '0/3000000' }]);
  const report = (member: string, role: 'primary' | 'replica', timeline: number) =>
    ({ type: 'updateMemberStatus', atMs: T0_MS + 65, member, role, state: 'running', timeline, receiveLsn: null, replayLsn: null, flushLsn: '0/3000100', lagBytes: 0 }) as const;
  const promoted = (candidate: string) => applyOk(granted(candidate), [report(candidate, 'primary', 2)]);
  t.deepEqual(handoverProgress(granted('n2'), tracked, true), { kind: 'pending' }, 'granted the key, not yet promoted: clients cannot write yet');
  t.deepEqual(handoverProgress(applyOk(granted('n2'), [report('n2', 'replica', 1)]), tracked, true), { kind: 'pending' });
  t.deepEqual(handoverProgress(promoted('n2'), tracked, false), { kind: 'completed', member: 'n2', epoch: 2, timeline: 2 });
  t.deepEqual(handoverProgress(promoted('n3'), tracked, true), { kind: 'completed', member: 'n3', epoch: 2, timeline: 2 });
  // The new primary already gave the key back: still a completed handover.
  const released = applyOk(promoted('n2'), [{ type: 'releaseLeader', atMs: T0_MS + 70, member: 'n2', epoch: 2 }]);
  t.deepEqual(handoverProgress(released, tracked, true), { kind: 'completed', member: 'n2', epoch: 2, timeline: 2 });
});

test('handoverProgress: withdrawn when synced and the request is gone or replaced, without a new primary', (t) => {
  const cancelled = applyOk(withRequest(), [{ type: 'cancelSwitchover', atMs: T0_MS + 60 }]);
  t.deepEqual(handoverProgress(cancelled, tracked, true), { kind: 'withdrawn' });
  const replaced = applyOk(cancelled, [{ type: 'requestSwitchover', atMs: T0_MS + 70, from: 'n1', to: 'n2', scheduledAtMs: null }]);
  t.deepEqual(handoverProgress(replaced, tracked, true), { kind: 'withdrawn' }, 'another request (a later time) is not ours');
});

import test from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { decodeState, encodeState } from '../../../src/cluster/snapshot.js';
import { applyOk, expectOk, expectRefused, runningCluster, T0_MS } from './helpers.js';

/** n1 is the primary (runningCluster); n2 and n3 replicas. */
const request = (over: Partial<Extract<ClusterCommandInput, { type: 'requestMemberAction' }>> = {}): ClusterCommandInput => ({
  type: 'requestMemberAction',
  atMs: T0_MS + 100,
  member: 'n2',
  id: 'r1',
  kind: 'restart',
  by: 'alice',
  ...over,
});
const update = (status: 'running' | 'done' | 'failed' | 'skipped' | 'cancelled', over: Record<string, unknown> = {}): ClusterCommandInput => ({
  type: 'updateMemberAction',
  atMs: T0_MS + 200,
  member: 'n2',
  id: 'r1',
  status,
  detail: `it is ${status}`,
  ...over,
});

test('a request is recorded pending for the member, with who asked and when; defaults: not pending-only, now', (t) => {
  const { state } = expectOk(t, runningCluster(), request());
  t.deepEqual(state.actions['n2'], {
    id: 'r1',
    kind: 'restart',
    pendingOnly: false,
    scheduledAtMs: null,
    requestedAtMs: T0_MS + 100,
    by: 'alice',
    status: 'pending',
    startedAtMs: null,
    finishedAtMs: null,
    detail: '',
  });
  const scheduled = expectOk(t, runningCluster(), request({ pendingOnly: true, scheduledAtMs: T0_MS + 60_000 })).state.actions['n2'];
  t.like(scheduled, { pendingOnly: true, scheduledAtMs: T0_MS + 60_000 });
});

test('refused requests change nothing: unknown member, one still open, bad combinations, reinit of the leader holder', (t) => {
  const base = runningCluster();
  expectRefused(t, base, request({ member: 'n9' }), 'UNKNOWN_MEMBER');
  const pending = applyOk(base, [request()]);
  const again = expectRefused(t, pending, request({ id: 'r2', kind: 'reload' }), 'ACTION_PENDING');
  t.regex(again.reason, /n2 already has a pending restart \(r1, requested by alice\)/);
  const running = applyOk(pending, [update('running')]);
  expectRefused(t, running, request({ id: 'r2' }), 'ACTION_PENDING');
  expectRefused(t, base, request({ kind: 'reload', pendingOnly: true }), 'INVALID');
  expectRefused(t, base, request({ kind: 'reinit', scheduledAtMs: T0_MS + 60_000 }), 'INVALID');
  expectRefused(t, base, request({ scheduledAtMs: T0_MS + 100 }), 'INVALID');
  const leader = expectRefused(t, base, request({ member: 'n1', kind: 'reinit' }), 'MEMBER_IS_LEADER');
  t.regex(leader.reason, /n1 holds the leader key: reinit re-clones a replica from the primary; switch over first/);
  // The primary may restart and reload: it keeps the leader key meanwhile.
  expectOk(t, base, request({ member: 'n1' }));
  expectOk(t, base, request({ member: 'n1', kind: 'reload' }));
});

test('the member moves its action on: pending → running → done, with times and the detail; then a new one may be asked', (t) => {
  let state = applyOk(runningCluster(), [request()]);
  state = expectOk(t, state, update('running', { atMs: T0_MS + 150, detail: '' })).state;
  t.like(state.actions['n2'], { status: 'running', startedAtMs: T0_MS + 150, finishedAtMs: null });
  state = expectOk(t, state, update('done', { atMs: T0_MS + 250 })).state;
  t.like(state.actions['n2'], { status: 'done', startedAtMs: T0_MS + 150, finishedAtMs: T0_MS + 250, detail: 'it is done' });
  state = expectOk(t, state, request({ id: 'r2', kind: 'reinit', atMs: T0_MS + 300 })).state;
  t.like(state.actions['n2'], { id: 'r2', kind: 'reinit', status: 'pending', detail: '' });
});

test('only open actions move on: a pending one may be cancelled or ended at once, a running one neither cancelled nor started again', (t) => {
  const pending = applyOk(runningCluster(), [request()]);
  t.like(expectOk(t, pending, update('cancelled')).state.actions['n2'], { status: 'cancelled', finishedAtMs: T0_MS + 200, startedAtMs: null });
  t.like(expectOk(t, pending, update('failed')).state.actions['n2'], { status: 'failed' });
  const running = applyOk(pending, [update('running')]);
  t.regex(expectRefused(t, running, update('cancelled'), 'ACTION_RUNNING').reason, /is running: it can no longer be cancelled/);
  expectRefused(t, running, update('running'), 'ACTION_RUNNING');
  const done = applyOk(running, [update('skipped')]);
  t.regex(expectRefused(t, done, update('done'), 'NO_ACTION').reason, /already ended \(skipped\)/);
  expectRefused(t, pending, update('done', { id: 'other' }), 'NO_ACTION');
  expectRefused(t, pending, update('done', { member: 'n3' }), 'NO_ACTION');
});

test('removing a member forgets its action; the snapshot round-trips actions and reads one written before they existed', (t) => {
  const state = applyOk(runningCluster(), [request(), request({ member: 'n3', id: 'r3', kind: 'reload' })]);
  const removed = expectOk(t, state, { type: 'removeMember', atMs: T0_MS + 300, member: 'n3' }).state;
  t.deepEqual(Object.keys(removed.actions), ['n2']);
  t.deepEqual(decodeState(encodeState(state)), state);
  const old = JSON.parse(new TextDecoder().decode(encodeState(runningCluster()))) as { state: Record<string, unknown> };
  delete old.state['actions'];
  t.deepEqual(decodeState(new TextEncoder().encode(JSON.stringify(old))).actions, {});
});

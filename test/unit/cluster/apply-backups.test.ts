import test from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { decodeState, encodeState } from '../../../src/cluster/snapshot.js';
import { BACKUP_STALE_MS } from '../../../src/cluster/state.js';
import { applyOk, expectOk, expectRefused, runningCluster, T0_MS } from './helpers.js';

/** n1 is the primary (runningCluster); n2 and n3 replicas. */
const request = (over: Partial<Extract<ClusterCommandInput, { type: 'requestBackup' }>> = {}): ClusterCommandInput => ({
  type: 'requestBackup',
  atMs: T0_MS + 100,
  id: '0000aaaa',
  trigger: 'operator',
  by: 'alice',
  ...over,
});
const update = (status: 'running' | 'done' | 'failed' | 'cancelled', over: Partial<Extract<ClusterCommandInput, { type: 'updateBackup' }>> = {}): ClusterCommandInput => ({
  type: 'updateBackup',
  atMs: T0_MS + 200,
  id: '0000aaaa',
  member: 'n1',
  status,
  detail: `it is ${status}`,
  ...over,
});
const BACKUP_ID = '20261126T181500Z-3fa9c2';

test('a request is recorded pending with who asked; one at a time', (t) => {
  const { state } = expectOk(t, runningCluster(), request({ label: 'before upgrade' }));
  t.deepEqual(state.backup.current, {
    id: '0000aaaa',
    trigger: 'operator',
    by: 'alice',
    label: 'before upgrade',
    member: null,
    requestedAtMs: T0_MS + 100,
    status: 'pending',
    takenBy: null,
    startedAtMs: null,
    heartbeatAtMs: null,
    finishedAtMs: null,
    backupId: null,
    detail: '',
  });
  t.regex(expectRefused(t, state, request({ id: '0000bbbb' }), 'BACKUP_PENDING').reason, /0000aaaa is pending \(requested by alice\)/);
  expectRefused(t, runningCluster(), request({ member: 'n9' }), 'UNKNOWN_MEMBER');
});

test('the taker starts, heartbeats and ends it; the run moves to last with the store id', (t) => {
  let state = applyOk(runningCluster(), [request(), update('running', { detail: 'started' })]);
  t.like(state.backup.current, { status: 'running', takenBy: 'n1', startedAtMs: T0_MS + 200, heartbeatAtMs: T0_MS + 200 });
  state = applyOk(state, [update('running', { atMs: T0_MS + 60_200, detail: 'uploading' })]);
  t.like(state.backup.current, { startedAtMs: T0_MS + 200, heartbeatAtMs: T0_MS + 60_200, detail: 'uploading' });
  expectRefused(t, state, update('running', { member: 'n2' }), 'BACKUP_RUNNING');
  expectRefused(t, state, update('done', { member: 'n2', backupId: BACKUP_ID }), 'NOT_TAKER');
  expectRefused(t, state, update('done'), 'INVALID');
  expectRefused(t, state, update('cancelled'), 'BACKUP_RUNNING');
  state = applyOk(state, [update('done', { atMs: T0_MS + 90_000, backupId: BACKUP_ID, detail: '1 GiB in 30 s' })]);
  t.is(state.backup.current, null);
  t.like(state.backup.last, { id: '0000aaaa', status: 'done', takenBy: 'n1', finishedAtMs: T0_MS + 90_000, backupId: BACKUP_ID, detail: '1 GiB in 30 s' });
  expectRefused(t, state, update('failed'), 'NO_BACKUP');
  t.deepEqual(decodeState(encodeState(state)), state, 'the snapshot round-trips');
});

test('a run that names a member is taken only by it', (t) => {
  const state = applyOk(runningCluster(), [request({ member: 'n2' })]);
  expectRefused(t, state, update('running'), 'NOT_ASKED');
  t.like(applyOk(state, [update('running', { member: 'n2' })]).backup.current, { takenBy: 'n2' });
});

test('a pending run can be cancelled or failed by anyone; a running one is failed by another member only once its heartbeat is stale', (t) => {
  const pending = applyOk(runningCluster(), [request()]);
  t.like(applyOk(pending, [update('cancelled', { member: 'n3' })]).backup.last, { status: 'cancelled', takenBy: null });
  t.like(applyOk(pending, [update('failed', { detail: 'no backup store is configured on n1' })]).backup.last, { status: 'failed', takenBy: 'n1' });
  const running = applyOk(pending, [update('running')]);
  expectRefused(t, running, update('failed', { member: 'n2', atMs: T0_MS + 200 + BACKUP_STALE_MS - 1 }), 'BACKUP_RUNNING');
  t.like(applyOk(running, [update('failed', { member: 'n2', atMs: T0_MS + 200 + BACKUP_STALE_MS, detail: 'abandoned' })]).backup.last, { status: 'failed', takenBy: 'n1', detail: 'abandoned' });
  t.like(applyOk(running, [update('failed', { detail: 'pg_basebackup exited 1' })]).backup.last, { status: 'failed', takenBy: 'n1' });
});

test('a scheduled request names its schedule time, later than the last one asked for', (t) => {
  const scheduled = (over: Partial<Extract<ClusterCommandInput, { type: 'requestBackup' }>> = {}): ClusterCommandInput => request({ trigger: 'schedule', by: 'schedule', fireAtMs: T0_MS, ...over });
  const state = applyOk(runningCluster(), [scheduled()]);
  t.is(state.backup.lastScheduledFireMs, T0_MS);
  const ended = applyOk(state, [update('failed')]);
  expectRefused(t, ended, scheduled({ id: '0000bbbb' }), 'ALREADY_SCHEDULED');
  t.is(applyOk(ended, [scheduled({ id: '0000bbbb', fireAtMs: T0_MS + 86_400_000 })]).backup.lastScheduledFireMs, T0_MS + 86_400_000);
  t.is(applyOk(ended, [request({ id: '0000bbbb' })]).backup.lastScheduledFireMs, T0_MS, 'an operator request leaves the schedule alone');
  expectRefused(t, runningCluster(), request({ trigger: 'schedule' }), 'INVALID');
  expectRefused(t, runningCluster(), request({ fireAtMs: T0_MS }), 'INVALID');
});

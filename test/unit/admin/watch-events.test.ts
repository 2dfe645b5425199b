/** The Watch events of single commands, pure (the gRPC stream: watch.test.ts). */
import test from 'ava';
import { applyCommand } from '../../../src/cluster/apply.js';
import { WATCH_EVENT_TYPES, watchEventsOf } from '../../../src/admin/watch-events.js';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { initialClusterState, type ClusterState } from '../../../src/cluster/state.js';
import { applyOk, cmd, register, runningCluster, T0_MS, TEST_CREDENTIALS } from '../cluster/helpers.js';

function eventsOf(before: ClusterState, input: ClusterCommandInput, index = 7) {
  const command = cmd(input);
  const { state, result } = applyCommand(before, command);
  return watchEventsOf(before, state, { command, result, index });
}

// The types are API: pgherdctl watch --types and scripts name them. Add, never rename.
test('the event types are stable', (t) => {
  t.deepEqual([...WATCH_EVENT_TYPES], [
    'snapshot', 'initialized', 'leader_changed', 'leader_released', 'member_joined', 'member_updated', 'member_left', 'member_status', 'config_changed',
    'paused', 'resumed', 'switchover_requested', 'switchover_cancelled', 'sync_changed', 'action_requested', 'action_started', 'action_ended',
  ]);
});

test('removing the candidate of a pending switchover: member_left, then the switchover withdrawn saying why', (t) => {
  const state = applyOk(runningCluster(), [{ type: 'requestSwitchover', atMs: T0_MS + 10, from: 'n1', to: 'n3', scheduledAtMs: T0_MS + 3_600_000 }]);
  const events = eventsOf(state, { type: 'removeMember', atMs: T0_MS + 20, member: 'n3' });
  t.deepEqual(events.map((e) => [e.type, e.member, e.atMs, e.index]), [['member_left', 'n3', T0_MS + 20, 7], ['switchover_cancelled', 'n3', T0_MS + 20, 7]]);
  t.deepEqual(events[1]!.details, { from: 'n1', to: 'n3', scheduledAt: new Date(T0_MS + 3_600_000).toISOString(), requestedAt: new Date(T0_MS + 10).toISOString(), why: 'its candidate n3 was removed' });
});

test('a refused command, an undecodable entry and a lease renewal give no event', (t) => {
  const state = runningCluster();
  t.deepEqual(eventsOf(state, { type: 'removeMember', atMs: T0_MS + 20, member: 'n1' }), [], 'MEMBER_IS_LEADER');
  t.deepEqual(watchEventsOf(state, state, { command: null, result: { ok: false, code: 'MALFORMED_COMMAND', reason: 'x' }, index: 3 }), []);
  t.deepEqual(eventsOf(state, { type: 'renewLease', atMs: T0_MS + 20, member: 'n1', epoch: 1 }), []);
});

test('initialization and the first primary; never the credentials', (t) => {
  let state = applyCommand(initialClusterState(), register('n1')).state;
  state = applyOk(state, [{ type: 'initializeClaim', atMs: T0_MS + 1, member: 'n1' }]);
  const done = eventsOf(state, { type: 'initializeDone', atMs: T0_MS + 2, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS });
  t.deepEqual(done.map((e) => [e.type, e.member, e.text]), [['initialized', 'n1', 'n1 initialized the database (system identifier 7301234567890123456)']]);
  t.false(JSON.stringify(done).includes('password'));
  const restoredFrom = { backupId: '20261126T181500Z-3fa9c2', timeline: 2, targetTimeMs: Date.UTC(2026, 10, 26, 19, 30) };
  const restored = eventsOf(state, { type: 'initializeDone', atMs: T0_MS + 2, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS, restoredFrom });
  t.is(restored[0]!.text, 'n1 restored the database from backup 20261126T181500Z-3fa9c2 to 2026-11-26T19:30:00.000Z, timeline 2 (system identifier 7301234567890123456)');
  t.deepEqual(restored[0]!.details, { systemIdentifier: '7301234567890123456', restoredFrom });
  state = applyOk(state, [{ type: 'initializeDone', atMs: T0_MS + 2, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS }]);
  t.deepEqual(eventsOf(state, { type: 'initializeDone', atMs: T0_MS + 3, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS }), [], 'a retry changes nothing');
  const first = eventsOf(state, { type: 'promote', atMs: T0_MS + 4, candidate: 'n1', expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' });
  t.is(first[0]!.text, 'n1 is the primary (manual): epoch 1, timeline 1; bootstrap');
  t.like(first[0]!.details, { from: null, previousTimeline: null, switchoverSettled: false });
});

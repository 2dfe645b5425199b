import test from 'ava';
import { encodeCommand, type ClusterCommandInput } from '../../../src/cluster/commands.js';
import { encodeState } from '../../../src/cluster/snapshot.js';
import { ClusterStateMachine, type AppliedEvent } from '../../../src/cluster/state-machine.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import type { Entry } from '../../../src/raft/core/types.js';
import { register, runningCluster } from './helpers.js';

const entry = (index: number, data: Uint8Array): Entry => ({ index, term: 1, type: 'normal', data });

test('applies decoded entries, returns the result and emits one event per entry in order', (t) => {
  const machine = new ClusterStateMachine();
  const events: AppliedEvent[] = [];
  machine.on('applied', (event) => events.push(event));
  const good = register('n1') as ClusterCommandInput;
  t.deepEqual(machine.apply(entry(1, encodeCommand(good))), { ok: true, created: true });
  const refused = machine.apply(entry(2, encodeCommand({ type: 'removeMember', atMs: 1, member: 'n2' })));
  t.is(refused.ok ? '' : refused.code, 'UNKNOWN_MEMBER');
  t.deepEqual(events.map((e) => [e.index, e.command?.type, e.result.ok]), [
    [1, 'registerMember', true],
    [2, 'removeMember', false],
  ]);
  t.truthy(machine.state.members.n1);
});

test('an entry that does not decode is refused, not fatal, and changes nothing', (t) => {
  const machine = new ClusterStateMachine();
  const before = machine.state;
  let seen: AppliedEvent | undefined;
  machine.on('applied', (event) => (seen = event));
  const result = machine.apply(entry(7, new TextEncoder().encode('{"v":1,"command":{"type":"nope"}}')));
  t.is(result.ok ? '' : result.code, 'MALFORMED_COMMAND');
  t.is(seen?.command, null);
  t.is(seen?.index, 7);
  t.is(machine.state, before);
});

test('snapshot and restore; empty data restores the initial state', (t) => {
  const source = new ClusterStateMachine(runningCluster());
  const target = new ClusterStateMachine();
  let restored = 0;
  target.on('restored', () => restored++);
  target.restore(source.snapshot());
  t.deepEqual(target.state, source.state);
  t.deepEqual(encodeState(target.state), encodeState(source.state));
  target.restore(new Uint8Array());
  t.deepEqual(target.state, initialClusterState());
  t.is(restored, 2);
  t.throws(() => target.restore(new TextEncoder().encode('{}')), { code: 'PGHERD_CLUSTER_DECODE_FAILED' });
});

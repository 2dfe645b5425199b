import test from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { expectOk, expectRefused, register, runningCluster, step, T0_MS } from './helpers.js';

const request = (member: string, target: 'member' | 'removed', extra: Partial<Extract<ClusterCommandInput, { type: 'setMembership' }>> = {}): ClusterCommandInput => ({
  type: 'setMembership',
  atMs: T0_MS + 50,
  member,
  target,
  raftAddress: target === 'member' ? `${member}:7400` : null,
  source: 'operator',
  by: 'operator',
  ...extra,
});

test('setMembership: records the intent; repeating it changes nothing', (t) => {
  const state = runningCluster();
  const added = expectOk(t, state, request('n4', 'member'));
  t.true(added.result.changed);
  t.deepEqual(added.state.membership['n4'], { target: 'member', raftAddress: 'n4:7400', source: 'operator', by: 'operator', atMs: T0_MS + 50 });
  const again = expectOk(t, added.state, request('n4', 'member', { by: 'n4', source: 'join' }));
  t.false(again.result.changed);
  t.is(again.state, added.state);
  // A new address is a change.
  t.true(expectOk(t, added.state, request('n4', 'member', { raftAddress: 'n4:7401' })).result.changed);
});

test('setMembership: adding needs an address; the primary cannot be removed', (t) => {
  const state = runningCluster();
  const refused = expectRefused(t, state, request('n4', 'member', { raftAddress: null }), 'INVALID');
  t.is(refused.key, 'raftAddress');
  const leader = state.leader!.member;
  const notLeader = expectRefused(t, state, request(leader, 'removed'), 'MEMBER_IS_LEADER');
  t.regex(notLeader.reason, /switch over/);
  t.is(expectOk(t, state, request('n2', 'removed')).state.membership['n2']!.target, 'removed');
});

test('a removed name cannot join or register by itself; an operator can add it back', (t) => {
  const removed = expectOk(t, runningCluster(), request('n3', 'removed')).state;
  expectRefused(t, removed, request('n3', 'member', { source: 'join', by: 'n3' }), 'MEMBER_REMOVED');
  const registration = step(removed, register('n3'));
  t.false(registration.result.ok);
  t.is(registration.result.ok ? '' : registration.result.code, 'MEMBER_REMOVED');
  const back = expectOk(t, removed, request('n3', 'member')).state;
  t.is(back.membership['n3']!.target, 'member');
  t.true(step(back, register('n3')).result.ok);
});

/** Leadership transfer (thesis §3.10): catch the transferee up, TimeoutNow, forced election. */
import test from 'ava';
import { NotLeaderError, ProposalDroppedError } from '../../../src/lib/errors.js';
import { Network, bytes, ids, msg } from './helpers.js';

test('transfer to an up-to-date follower: it campaigns at once (forced through leases) and wins', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.raw('n1').transferLeadership('n2');
  net.flush();
  const timeoutNow = net.sent.filter((m) => m.type === 'timeoutNow');
  t.deepEqual(timeoutNow.map((m) => [m.from, m.to]), [['n1', 'n2']]);
  const votes = net.sent.filter((m) => m.type === 'vote' && m.from === 'n2');
  t.true(votes.length > 0 && votes.every((m) => m.force === true), 'vote requests are forced');
  t.false(net.sent.some((m) => m.type === 'preVote' && m.from === 'n2'), 'no pre-vote for a transfer');
  t.like(net.raw('n2').status(), { role: 'leader', term: 2 });
  t.like(net.raw('n1').status(), { role: 'follower', leader: 'n2', leadTransferee: '' });
  net.propose('n2', 'b');
  for (const id of ids(3)) t.deepEqual(net.node(id).state, ['a', 'b']);
});

test('transfer to a lagging follower: the leader first catches it up, then sends TimeoutNow', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n3');
  for (let i = 0; i < 5; i++) net.propose('n1', `e${i}`);
  net.recover();
  const before = net.sent.length;
  net.raw('n1').transferLeadership('n3');
  net.flush();
  const after = net.sent.slice(before);
  const firstTimeoutNow = after.findIndex((m) => m.type === 'timeoutNow');
  const lastAppendToN3 = after.map((m) => m.type === 'app' && m.to === 'n3').lastIndexOf(true);
  t.true(firstTimeoutNow > 0 && lastAppendToN3 < firstTimeoutNow, 'appends first, then TimeoutNow');
  t.like(net.raw('n3').status(), { role: 'leader', term: 2 });
  t.deepEqual(net.node('n3').state, ['e0', 'e1', 'e2', 'e3', 'e4']);
});

test('during a transfer the leader drops proposals (ProposalDroppedError)', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n3');
  net.raw('n1').transferLeadership('n3');
  net.flush();
  t.is(net.raw('n1').status().leadTransferee, 'n3');
  const error = t.throws(() => net.raw('n1').propose(bytes('x')), { instanceOf: ProposalDroppedError });
  t.is(error?.code, 'PGHERD_RAFT_PROPOSAL_DROPPED');
  t.throws(() => net.raw('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' }), { instanceOf: ProposalDroppedError });
});

test('a transfer that does not complete within an election timeout is aborted and the leader leads on', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n3');
  net.raw('n1').transferLeadership('n3');
  net.flush();
  net.tick('n1', 9);
  t.is(net.raw('n1').status().leadTransferee, 'n3');
  net.tick('n1');
  t.like(net.raw('n1').status(), { role: 'leader', leadTransferee: '', term: 1 });
  t.notThrows(() => net.propose('n1', 'after abort'));
  t.deepEqual(net.node('n2').state, ['after abort']);
});

test('a new transfer supersedes one in progress; repeating the same one is a no-op', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n3');
  net.raw('n1').transferLeadership('n3');
  net.raw('n1').transferLeadership('n3');
  net.flush();
  t.is(net.sent.filter((m) => m.type === 'timeoutNow').length, 1);
  net.raw('n1').transferLeadership('n2');
  net.flush();
  t.like(net.raw('n2').status(), { role: 'leader', term: 2 });
});

test('transfer requests that make no sense: to self (no-op), to a non-voter or learner (refused), on a follower (NotLeaderError)', (t) => {
  const net = Network.create(ids(3), {}, ['n4']);
  net.campaign('n1');
  net.raw('n1').transferLeadership('n1');
  net.flush();
  t.like(net.raw('n1').status(), { role: 'leader', leadTransferee: '' });
  t.throws(() => net.raw('n1').transferLeadership('n4'), { instanceOf: ProposalDroppedError });
  t.throws(() => net.raw('n1').transferLeadership('n9'), { instanceOf: ProposalDroppedError });
  const error = t.throws(() => net.raw('n2').transferLeadership('n3'), { instanceOf: NotLeaderError });
  t.is(error?.leaderId, 'n1');
});

test('a learner ignores TimeoutNow (it never campaigns)', (t) => {
  const net = Network.create(ids(3), {}, ['n4']);
  net.campaign('n1');
  net.deliver([msg({ type: 'timeoutNow', from: 'n1', to: 'n4', term: 1 })]);
  t.like(net.raw('n4').status(), { role: 'follower', term: 1, leader: 'n1' });
  t.like(net.raw('n1').status(), { role: 'leader', term: 1 });
});

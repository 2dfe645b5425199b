/**
 * Pre-vote (thesis §9.6), check-quorum and leader leases (§6.2 / §4.2.3), and
 * their combination in partition scenarios (after etcd-io/raft's raft_test.go).
 */
import test from 'ava';
import type { NodeId } from '../../../src/raft/core/types.js';
import { Network, TestNode, bootstrapStorage, ids, msg, storageWithLog, type NodeOptions } from './helpers.js';

const PRE_VOTE: NodeOptions = { preVote: true, checkQuorum: false };
const CHECK_QUORUM: NodeOptions = { preVote: false, checkQuorum: true };
const BOTH: NodeOptions = { preVote: true, checkQuorum: true };
const NEITHER: NodeOptions = { preVote: false, checkQuorum: false };

function leaderOf(net: Network): NodeId[] {
  return [...net.nodes.values()].filter((n) => n.node.status().role === 'leader').map((n) => n.id);
}

/** Tick everyone until some node leads (bounded). */
function tickUntilLeader(net: Network, maxTicks = 200): void {
  for (let i = 0; i < maxTicks && leaderOf(net).length === 0; i++) net.tickAll();
}

test('pre-vote: an isolated node keeps its term while campaigning (no term inflation)', (t) => {
  const net = Network.create(ids(3), PRE_VOTE);
  net.campaign('n1');
  net.isolate('n3');
  net.tick('n3', 100);
  t.like(net.raw('n3').status(), { term: 1, role: 'preCandidate' });
});

test('pre-vote: a rejoining partitioned node does not disrupt the leader', (t) => {
  const net = Network.create(ids(3), PRE_VOTE);
  net.campaign('n1');
  net.isolate('n3');
  net.tick('n3', 100);
  net.recover();
  net.tickAll(30);
  t.like(net.raw('n1').status(), { role: 'leader', term: 1 });
  t.like(net.raw('n3').status(), { role: 'follower', leader: 'n1', term: 1 });
});

test('without pre-vote a rejoining partitioned node disrupts the leader (the problem pre-vote solves)', (t) => {
  const net = Network.create(ids(3), NEITHER);
  net.campaign('n1');
  net.isolate('n3');
  net.tick('n3', 100);
  const inflated = net.raw('n3').status().term;
  t.true(inflated > 1);
  net.recover();
  net.tick('n3', 30);
  t.not(net.raw('n1').status().term, 1, 'the old leader was deposed by the higher term');
});

test('pre-vote: after the leader dies the survivors elect a new leader with a single term increase', (t) => {
  const net = Network.create(ids(3), PRE_VOTE);
  net.campaign('n1');
  net.isolate('n1');
  for (let i = 0; i < 100 && !['n2', 'n3'].some((id) => net.raw(id).status().role === 'leader'); i++) {
    net.tick('n2');
    net.tick('n3');
  }
  const leader = ['n2', 'n3'].find((id) => net.raw(id).status().role === 'leader');
  t.truthy(leader);
  t.is(net.raw(leader!).status().term, 2);
});

test('pre-vote: a node answers a pre-vote for a later term without changing its own term', (t) => {
  const tn = new TestNode('n1', storageWithLog(ids(3), [1], { term: 1, vote: '', commit: 0 }), PRE_VOTE);
  tn.node.step(msg({ type: 'preVote', from: 'n2', to: 'n1', term: 3, index: 1, logTerm: 1 }));
  const out = tn.drain();
  t.deepEqual(out.map((m) => [m.type, m.term, m.reject]), [['preVoteResp', 3, false]]);
  t.like(tn.node.status(), { term: 1, vote: '' });
});

test('pre-vote: a pre-vote from a lower term is rejected with our term, and the pre-candidate adopts it', (t) => {
  const behind = new TestNode('n1', bootstrapStorage(ids(3)), PRE_VOTE);
  const ahead = new TestNode('n2', storageWithLog(ids(3), [], { term: 5, vote: '', commit: 0 }), PRE_VOTE);
  behind.node.campaign();
  const preVotes = behind.drain().filter((m) => m.to === 'n2');
  t.deepEqual(preVotes.map((m) => [m.type, m.term]), [['preVote', 1]]);
  ahead.node.step(preVotes[0]!);
  const answers = ahead.drain();
  t.deepEqual(answers.map((m) => [m.type, m.term, m.reject]), [['preVoteResp', 5, true]]);
  behind.node.step(answers[0]!);
  behind.drain();
  t.like(behind.node.status(), { role: 'follower', term: 5 });
});

test('pre-vote: a pre-candidate needs a majority of granted pre-votes before incrementing its term', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(5)), PRE_VOTE);
  tn.node.campaign();
  tn.drain();
  t.like(tn.node.status(), { role: 'preCandidate', term: 0 });
  tn.node.step(msg({ type: 'preVoteResp', from: 'n2', to: 'n1', term: 1 }));
  tn.drain();
  t.like(tn.node.status(), { role: 'preCandidate', term: 0 });
  tn.node.step(msg({ type: 'preVoteResp', from: 'n3', to: 'n1', term: 1 }));
  const out = tn.drain();
  t.like(tn.node.status(), { role: 'candidate', term: 1, vote: 'n1' });
  t.deepEqual(out.filter((m) => m.type === 'vote').map((m) => m.to), ['n2', 'n3', 'n4', 'n5']);
});

test('check-quorum: a leader that hears from no quorum for a whole election timeout steps down', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  net.isolate('n1');
  // The first check still counts the answers to the election's appends.
  net.tick('n1', 10);
  t.is(net.raw('n1').status().role, 'leader');
  net.tick('n1', 10);
  t.like(net.raw('n1').status(), { role: 'follower', leader: '', term: 1 });
});

test('check-quorum: a leader in contact with a quorum stays leader', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  net.isolate('n3');
  net.tick('n1', 55);
  t.like(net.raw('n1').status(), { role: 'leader', term: 1 });
});

test('leader lease: a follower that heard from the leader recently ignores a higher-term vote request', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  const n2 = net.node('n2');
  n2.node.step(msg({ type: 'vote', from: 'n3', to: 'n2', term: 5, index: 9, logTerm: 4 }));
  t.deepEqual(n2.drain(), [], 'no answer');
  t.like(n2.node.status(), { term: 1, leader: 'n1', vote: 'n1' });
});

test('leader lease: a forced vote (leadership transfer) bypasses the lease', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  const n2 = net.node('n2');
  n2.node.step(msg({ type: 'vote', from: 'n3', to: 'n2', term: 5, index: 9, logTerm: 4, force: true }));
  t.deepEqual(n2.drain().map((m) => [m.type, m.term, m.reject]), [['voteResp', 5, false]]);
  t.like(n2.node.status(), { term: 5, vote: 'n3' });
});

test('leader lease: once the election timeout passed without the leader, the vote is considered', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  const n2 = net.node('n2');
  for (let i = 0; i < 10; i++) n2.node.tick();
  n2.drain();
  n2.node.step(msg({ type: 'vote', from: 'n3', to: 'n2', term: 5, index: 9, logTerm: 4 }));
  t.deepEqual(n2.drain().map((m) => [m.type, m.term, m.reject]), [['voteResp', 5, false]]);
});

test('check-quorum: a node with a higher term answers a stale leader, which steps down (a stuck candidate is freed)', (t) => {
  const net = Network.create(ids(3), CHECK_QUORUM);
  net.campaign('n1');
  net.isolate('n1');
  // n3 campaigns alone while cut off from the old leader; n2 cannot hear from n1 either.
  net.recover();
  net.isolate('n3');
  net.tick('n3', 50);
  const stuckTerm = net.raw('n3').status().term;
  t.true(stuckTerm > 2);
  t.is(net.raw('n3').status().role, 'candidate');
  net.recover();
  // The leader's heartbeat reaches n3, whose answer carries its higher term.
  net.tick('n1');
  t.like(net.raw('n1').status(), { role: 'follower', term: stuckTerm });
  tickUntilLeader(net);
  t.is(leaderOf(net).length, 1);
  t.true(net.raw(leaderOf(net)[0]!).status().term > stuckTerm);
});

test('check-quorum or pre-vote: a stale AppendEntries is answered with our term; without either it is ignored', (t) => {
  for (const [options, answered] of [[CHECK_QUORUM, true], [PRE_VOTE, true], [NEITHER, false]] as const) {
    const tn = new TestNode('n2', storageWithLog(ids(3), [], { term: 5, vote: '', commit: 0 }), options);
    tn.node.step(msg({ type: 'heartbeat', from: 'n1', to: 'n2', term: 3 }));
    tn.node.step(msg({ type: 'app', from: 'n1', to: 'n2', term: 3 }));
    const out = tn.drain();
    t.deepEqual(out.map((m) => [m.type, m.to, m.term]), answered ? [['appResp', 'n1', 5], ['appResp', 'n1', 5]] : [], JSON.stringify(options));
    t.is(tn.node.status().term, 5);
  }
});

test('pre-vote + check-quorum: a partitioned node rejoining does not disrupt the leader', (t) => {
  const net = Network.create(ids(3), BOTH);
  net.campaign('n1');
  net.propose('n1', 'a');
  net.isolate('n3');
  net.tick('n3', 60);
  for (let i = 0; i < 60; i++) {
    net.tick('n1');
    net.tick('n2');
  }
  net.propose('n1', 'b');
  net.recover();
  for (let i = 0; i < 60; i++) net.tickAll();
  t.like(net.raw('n1').status(), { role: 'leader', term: 1 });
  t.like(net.raw('n3').status(), { role: 'follower', leader: 'n1', term: 1 });
  t.deepEqual(net.node('n3').state, ['a', 'b']);
});

test('pre-vote + check-quorum: a minority partition cannot elect, the majority keeps or re-elects a leader', (t) => {
  const net = Network.create(ids(5), BOTH);
  net.campaign('n1');
  net.partition(['n1', 'n2'], ['n3', 'n4', 'n5']);
  for (let i = 0; i < 100; i++) net.tickAll();
  t.not(net.raw('n1').status().role, 'leader', 'the minority leader stepped down (check-quorum)');
  const majorityLeaders = ['n3', 'n4', 'n5'].filter((id) => net.raw(id).status().role === 'leader');
  t.is(majorityLeaders.length, 1);
  t.is(net.raw('n2').status().term, 1, 'the minority never raised its term (pre-vote)');
  net.recover();
  for (let i = 0; i < 40; i++) net.tickAll();
  const leaders = leaderOf(net);
  t.deepEqual(leaders, majorityLeaders);
  for (const id of ids(5)) t.is(net.raw(id).status().leader, leaders[0]);
});

test('pre-vote + check-quorum: a node with a higher term but a stale log does not block the cluster', (t) => {
  const net = new Network();
  net.add(new TestNode('n1', storageWithLog(ids(3), [1, 1, 1], { term: 2, vote: '', commit: 3 }), BOTH));
  net.add(new TestNode('n2', storageWithLog(ids(3), [1, 1, 1], { term: 2, vote: '', commit: 3 }), BOTH));
  net.add(new TestNode('n3', storageWithLog(ids(3), [1], { term: 7, vote: '', commit: 1 }), BOTH));
  tickUntilLeader(net);
  const leaders = leaderOf(net);
  t.is(leaders.length, 1);
  t.not(leaders[0], 'n3', 'the stale log cannot win');
  t.true(net.raw(leaders[0]!).status().term > 7, 'the cluster moved past the stale node\'s term');
});

test('a member ignores vote requests from a non-member (a removed node cannot disrupt)', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(3)), NEITHER);
  tn.node.step(msg({ type: 'vote', from: 'n9', to: 'n1', term: 10, index: 5, logTerm: 5 }));
  tn.node.step(msg({ type: 'preVote', from: 'n9', to: 'n1', term: 10, index: 5, logTerm: 5 }));
  t.deepEqual(tn.drain(), []);
  t.is(tn.node.status().term, 0);
});

test('regression (sim seed 554): without pre-vote, a stale candidate with a fast clock cannot keep the viable candidate from campaigning', (t) => {
  // Two voters: n1 holds the committed log, n2 is behind and its clock runs twice as fast.
  // Only a vote we grant (or the leader) resets our election timer (Figure 2): adopting the
  // term of a candidate we refuse must not, or n1 would never time out before n2's next try.
  const net = new Network();
  const options = { preVote: false, checkQuorum: true };
  net.add(new TestNode('n1', storageWithLog(['n1', 'n2'], [1, 1, 1], { term: 1, vote: '', commit: 1 }), options));
  net.add(new TestNode('n2', storageWithLog(['n1', 'n2'], [1], { term: 1, vote: '', commit: 1 }), options));
  for (let i = 0; i < 200 && net.raw('n1').status().role !== 'leader'; i++) {
    net.tick('n2', 2);
    net.tick('n1');
  }
  t.is(net.raw('n1').status().role, 'leader');
  t.true(net.raw('n2').status().term > 1, 'n2 did keep campaigning meanwhile');
});

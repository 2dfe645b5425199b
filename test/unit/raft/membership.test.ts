/** Learners and one-at-a-time membership changes that take effect when applied. */
import test from 'ava';
import { NotLeaderError, ProposalDroppedError } from '../../../src/lib/errors.js';
import { encodeConfChange } from '../../../src/raft/core/conf-change.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { NodeId } from '../../../src/raft/core/types.js';
import { Network, TestNode, bootstrapStorage, bytes, entry, ids, msg, storageWithLog } from './helpers.js';

function votesFrom(net: Network, id: NodeId, sinceIndex = 0): number {
  return net.sent.slice(sinceIndex).filter((m) => m.from === id && (m.type === 'vote' || m.type === 'preVote')).length;
}

test('learners: a candidate does not count a learner\'s vote', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(3), ['n4']), { preVote: false });
  tn.node.campaign();
  const requests = tn.drain().filter((m) => m.type === 'vote');
  t.deepEqual(requests.map((m) => m.to), ['n2', 'n3'], 'learners are not asked');
  tn.node.step(msg({ type: 'voteResp', from: 'n4', to: 'n1', term: 1 }));
  tn.drain();
  t.is(tn.node.status().role, 'candidate');
});

test('learners: a learner never campaigns, even cut off from the leader for long', (t) => {
  const net = Network.create(ids(3), {}, ['n4']);
  net.campaign('n1');
  const mark = net.sent.length;
  net.isolate('n4');
  net.tick('n4', 200);
  net.raw('n4').campaign();
  net.flush();
  t.is(votesFrom(net, 'n4', mark), 0);
  t.like(net.raw('n4').status(), { role: 'follower', term: 1 });
});

test('learners: replicated to, but never counted for the commit quorum', (t) => {
  const net = Network.create(['n1', 'n2'], {}, ['n3']);
  net.campaign('n1');
  net.propose('n1', 'a');
  t.deepEqual(net.node('n3').state, ['a'], 'the learner receives and applies entries');
  t.like(net.raw('n1').status().progress.n3, { learner: true, match: 2 });
  net.cut('n1', 'n2');
  const { index } = net.propose('n1', 'b');
  t.is(net.raw('n1').status().progress.n3?.match, index, 'the learner has it');
  t.true(net.raw('n1').status().commit < index, 'but leader + learner is not a majority of the voters');
});

test('learners: a learner answers a vote request (it may have been promoted without knowing it yet)', (t) => {
  const tn = new TestNode('n4', bootstrapStorage(ids(3), ['n4']), { preVote: false });
  tn.node.step(msg({ type: 'vote', from: 'n2', to: 'n4', term: 2 }));
  t.deepEqual(tn.drain().map((m) => [m.type, m.reject]), [['voteResp', false]]);
});

test('conf changes: only one at a time; the next is refused until the previous is applied', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n2');
  net.isolate('n3');
  net.raw('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  net.flush();
  t.throws(() => net.raw('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n5' }), {
    instanceOf: ProposalDroppedError,
    message: /may not be applied yet/,
  });
  net.recover();
  net.tick('n1');
  t.deepEqual(net.raw('n1').status().confState.learners, ['n4']);
  t.notThrows(() => net.raw('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n5' }));
});

test('conf changes: refused while committed but not yet applied', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(['n1']));
  tn.node.campaign();
  tn.drain();
  tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n2' });
  const ready = tn.node.ready();
  t.deepEqual(ready.committedEntries.map((e) => e.type), ['conf'], 'a single voter commits at once');
  tn.storage.append(ready.entries);
  t.throws(() => tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n3' }), { instanceOf: ProposalDroppedError });
  tn.node.applyConfChange({ type: 'addLearner', nodeId: 'n2' });
  tn.node.advance(ready);
  t.notThrows(() => tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n3' }));
});

test('conf changes: a change takes effect only when the driver applies it', (t) => {
  const net = Network.create(ids(3));
  net.node('n1').applyConfChanges = false;
  net.campaign('n1');
  const { index } = net.raw('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4' });
  net.flush();
  t.true(net.raw('n1').status().commit >= index, 'committed');
  t.deepEqual(net.raw('n1').status().confState.voters, ['n1', 'n2', 'n3'], 'but not in force on n1');
  t.deepEqual(net.raw('n2').status().confState.voters, ['n1', 'n2', 'n3', 'n4'], 'n2 applied it');
  const confState = net.raw('n1').applyConfChange({ type: 'addVoter', nodeId: 'n4' });
  t.deepEqual(confState.voters, ['n1', 'n2', 'n3', 'n4']);
  net.flush();
  net.isolate('n3');
  const next = net.propose('n1', 'x');
  t.true(net.raw('n1').status().commit < next.index, 'n1 + n2 is not a majority of four (n4 never answers)');
});

test('conf changes: a new node joins as a learner from an empty storage, catches up, and is promoted', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.propose('n1', 'b');
  const joiner = net.add(new TestNode('n4', new MemoryStorage()));
  t.deepEqual(joiner.node.status().confState, { voters: [], learners: [] });
  net.raw('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4', context: bytes('10.0.0.4:7400') });
  net.flush();
  net.tick('n1');
  t.true(net.sent.some((m) => m.type === 'snap' && m.to === 'n4'), 'the initial configuration came as the bootstrap snapshot');
  t.deepEqual(joiner.state, ['a', 'b']);
  t.deepEqual(joiner.node.status().confState, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
  t.like(net.raw('n1').status().progress.n4, { learner: true, state: 'replicate' });

  net.raw('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4' });
  net.flush();
  net.tick('n1');
  for (const id of ids(4)) t.deepEqual(net.raw(id).status().confState, { voters: ids(4), learners: [] }, id);
  net.cut('n1', 'n2');
  net.cut('n1', 'n3');
  const { index } = net.propose('n1', 'c');
  t.true(net.raw('n1').status().commit < index, 'n1 + n4 is not a majority of four');
  net.recover();
  net.tick('n1');
  t.true(net.raw('n1').status().commit >= index, 'n4 counts now');
  t.deepEqual(joiner.state, ['a', 'b', 'c']);
});

test('conf changes: a removed follower stops campaigning', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.raw('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n3' });
  net.flush();
  net.tick('n1');
  t.deepEqual(net.raw('n3').status().confState.voters, ['n1', 'n2'], 'n3 applied its own removal');
  const mark = net.sent.length;
  net.isolate('n3');
  net.tick('n3', 100);
  t.is(votesFrom(net, 'n3', mark), 0);
  t.false('n3' in net.raw('n1').status().progress);
});

test('conf changes: removing the leader makes it step down after applying, handing over to a caught-up voter', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.raw('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n1' });
  net.flush();
  net.tick('n1');
  t.like(net.raw('n1').status(), { role: 'follower', confState: { voters: ['n2', 'n3'], learners: [] } });
  const leaders = ['n2', 'n3'].filter((id) => net.raw(id).status().role === 'leader');
  t.is(leaders.length, 1, 'TimeoutNow made a successor campaign without waiting for a timeout');
  const leader = leaders[0]!;
  t.is(net.raw(leader).status().term, 2);
  const mark = net.sent.length;
  net.tickAll(100);
  t.is(votesFrom(net, 'n1', mark), 0, 'the removed leader never campaigns');
  net.propose(leader, 'b');
  t.deepEqual(net.node(leader === 'n2' ? 'n3' : 'n2').state, ['a', 'b']);
});

test('conf changes: removing (or demoting) the last voter is refused; no-ops are refused', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(['n1']));
  tn.node.campaign();
  tn.drain();
  t.throws(() => tn.node.proposeConfChange({ type: 'removeNode', nodeId: 'n1' }), { instanceOf: ProposalDroppedError, message: /last voter/ });
  t.throws(() => tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n1' }), { instanceOf: ProposalDroppedError, message: /last voter/ });
  t.throws(() => tn.node.proposeConfChange({ type: 'addVoter', nodeId: 'n1' }), { instanceOf: ProposalDroppedError, message: /already a voter/ });
  t.throws(() => tn.node.proposeConfChange({ type: 'removeNode', nodeId: 'n7' }), { instanceOf: ProposalDroppedError, message: /not a member/ });
});

test('conf changes: followers cannot propose them (NotLeaderError with the leader hint)', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  const error = t.throws(() => net.raw('n2').proposeConfChange({ type: 'addLearner', nodeId: 'n4' }), { instanceOf: NotLeaderError });
  t.is(error?.leaderId, 'n1');
});

test('conf changes: a new leader refuses changes until the entries it inherited are applied', (t) => {
  const tn = new TestNode('n1', storageWithLog(ids(3), [1, 1], { term: 1, vote: '', commit: 0 }), { preVote: false });
  tn.node.campaign();
  tn.drain();
  tn.node.step(msg({ type: 'voteResp', from: 'n2', to: 'n1', term: 2 }));
  tn.drain();
  t.is(tn.node.status().role, 'leader');
  t.throws(() => tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n4' }), { instanceOf: ProposalDroppedError });
  tn.node.step(msg({ type: 'appResp', from: 'n2', to: 'n1', term: 2, index: 3 }));
  tn.drain();
  t.is(tn.node.status().applied, 3);
  t.notThrows(() => tn.node.proposeConfChange({ type: 'addLearner', nodeId: 'n4' }));
});

test('conf changes: a node with a committed, unapplied conf change does not campaign', (t) => {
  const tn = new TestNode('n2', bootstrapStorage(ids(3)), { preVote: false });
  const conf = { ...entry(1, 1), type: 'conf' as const, data: encodeConfChange({ type: 'addLearner', nodeId: 'n4' }) };
  tn.node.step(msg({ type: 'app', from: 'n1', to: 'n2', term: 1, entries: [conf], commit: 1 }));
  const ready = tn.node.ready();
  t.is(ready.committedEntries.length, 1);
  tn.node.campaign();
  t.is(tn.node.status().role, 'follower', 'refused: the configuration it would campaign with is stale');
  tn.storage.append(ready.entries);
  tn.node.applyConfChange({ type: 'addLearner', nodeId: 'n4' });
  tn.node.advance(ready);
  tn.node.campaign();
  t.is(tn.node.status().role, 'candidate');
});

/** The Ready/advance contract, status, role-change logging, determinism and purity of the core. */
import test from 'ava';
import { AssertionFailedError, ConfigError } from '../../../src/lib/errors.js';
import { SeededRng } from '../../../src/lib/random.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { resolveRaftOptions } from '../../../src/raft/core/config.js';
import { Raft } from '../../../src/raft/core/raft.js';
import { RawNode } from '../../../src/raft/core/raw-node.js';
import { Network, TestNode, bootstrapStorage, bytes, entry, ids, msg, recordingLogger, storageWithLog } from './helpers.js';

test('a fresh node has nothing to do', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(3)));
  t.false(tn.node.hasReady());
});

test('a term or vote change comes as hardState with mustSync; a later Ready without changes has no hardState', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(3)), { preVote: false });
  tn.node.campaign();
  const first = tn.handleReady();
  t.deepEqual(first.hardState, { term: 1, vote: 'n1', commit: 0 });
  t.true(first.mustSync);
  t.deepEqual(first.softState, { role: 'candidate', leader: '' });
  t.deepEqual(first.messages.map((m) => m.type), ['vote', 'vote']);
  tn.node.step(msg({ type: 'vote', from: 'n2', to: 'n1', term: 1 }));
  const second = tn.handleReady();
  t.is(second.hardState, undefined);
  t.is(second.softState, undefined);
  t.false(second.mustSync);
  t.deepEqual(second.messages.map((m) => [m.type, m.reject]), [['voteResp', true]]);
});

test('a vote alone (same term) also needs mustSync: it must be durable before the answer leaves', (t) => {
  const tn = new TestNode('n1', storageWithLog(ids(3), [], { term: 1, vote: '', commit: 0 }), { preVote: false });
  tn.node.step(msg({ type: 'vote', from: 'n2', to: 'n1', term: 1 }));
  const ready = tn.handleReady();
  t.deepEqual(ready.hardState, { term: 1, vote: 'n2', commit: 0 });
  t.true(ready.mustSync);
  t.deepEqual(ready.messages.map((m) => [m.type, m.reject]), [['voteResp', false]]);
});

test('a commit-only change comes as hardState without mustSync', (t) => {
  const tn = new TestNode('n2', storageWithLog(ids(3), [1], { term: 1, vote: '', commit: 0 }));
  tn.node.step(msg({ type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit: 1 }));
  const ready = tn.handleReady();
  t.deepEqual(ready.hardState, { term: 1, vote: '', commit: 1 });
  t.false(ready.mustSync);
  t.deepEqual(ready.committedEntries.map((e) => e.index), [1]);
  t.deepEqual(ready.softState, { role: 'follower', leader: 'n1' });
});

test('new entries need mustSync even when the hard state did not change', (t) => {
  const tn = new TestNode('n2', storageWithLog(ids(3), [], { term: 1, vote: '', commit: 0 }));
  tn.node.step(msg({ type: 'app', from: 'n1', to: 'n2', term: 1, entries: [entry(1, 1, 'a')] }));
  const ready = tn.handleReady();
  t.is(ready.hardState, undefined);
  t.true(ready.mustSync);
  t.deepEqual(ready.entries.map((e) => e.index), [1]);
  t.deepEqual(ready.messages.map((m) => [m.type, m.index]), [['appResp', 1]]);
});

test('advance marks entries stable and applied: they are not handed out again', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(['n1']));
  tn.node.campaign();
  const ready = tn.handleReady();
  t.deepEqual(ready.entries.map((e) => e.index), [1]);
  t.deepEqual(ready.committedEntries.map((e) => e.index), [1], 'a single voter commits its own entry in the same Ready');
  t.false(tn.node.hasReady());
  t.like(tn.node.status(), { commit: 1, applied: 1, lastIndex: 1 });
  tn.node.propose(bytes('x'));
  const next = tn.handleReady();
  t.deepEqual(next.entries.map((e) => e.index), [2]);
  t.deepEqual(next.committedEntries.map((e) => e.index), [2]);
});

test('messages that depend on the leader\'s unpersisted entries travel in the same Ready (the driver persists first)', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.raw('n1').propose(bytes('x'));
  const ready = net.raw('n1').ready();
  t.deepEqual(ready.entries.map((e) => e.index), [2]);
  t.deepEqual(ready.messages.filter((m) => m.type === 'app').map((m) => m.entries.map((e) => e.index)), [[2], [2]]);
  net.raw('n1').advance(ready);
});

test('ready() twice without advance(), or advance() with another Ready, is a programming error', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(ids(3)));
  tn.node.campaign();
  const ready = tn.node.ready();
  t.false(tn.node.hasReady(), 'nothing to do while a Ready is out');
  t.throws(() => tn.node.ready(), { instanceOf: AssertionFailedError });
  t.throws(() => tn.node.advance({ ...ready }), { instanceOf: AssertionFailedError });
  tn.node.advance(ready);
  t.throws(() => tn.node.advance(ready), { instanceOf: AssertionFailedError });
});

test('messages and read states are handed out exactly once', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(['n1']));
  tn.node.campaign();
  tn.drain();
  tn.node.readIndex(bytes('r'));
  const first = tn.handleReady();
  t.is(first.readStates.length, 1);
  t.false(tn.node.hasReady());
});

test('status: leader reports per-peer progress, a follower none', (t) => {
  const net = Network.create(ids(3), {}, ['n4']);
  net.campaign('n1');
  net.propose('n1', 'a');
  const leader = net.raw('n1').status();
  t.like(leader, { id: 'n1', term: 1, vote: 'n1', commit: 2, applied: 2, lastIndex: 2, role: 'leader', leader: 'n1', leadTransferee: '' });
  t.deepEqual(leader.confState, { voters: ids(3), learners: ['n4'] });
  t.deepEqual(Object.keys(leader.progress), ['n1', 'n2', 'n3', 'n4']);
  t.like(leader.progress.n4, { learner: true, match: 2, next: 3, state: 'replicate', paused: false, recentActive: true });
  t.deepEqual(net.raw('n2').status().progress, {});
});

test('each role change logs exactly one info line: fields first, stable event name', (t) => {
  const logger = recordingLogger();
  const tn = new TestNode('n1', bootstrapStorage(ids(3)), { logger });
  tn.node.campaign();
  tn.drain();
  tn.node.step(msg({ type: 'preVoteResp', from: 'n2', to: 'n1', term: 1 }));
  tn.drain();
  tn.node.step(msg({ type: 'voteResp', from: 'n2', to: 'n1', term: 1 }));
  tn.drain();
  tn.node.step(msg({ type: 'app', from: 'n3', to: 'n1', term: 2 }));
  tn.drain();
  const roleLines = logger.lines.filter((line) => line.event.startsWith('raft.become'));
  t.deepEqual(
    roleLines.map((line) => [line.level, line.event, line.fields.term, line.fields.leader, line.fields.reason]),
    [
      ['info', 'raft.becomeFollower', 0, '', 'start'],
      ['info', 'raft.becomePreCandidate', 0, '', 'campaignRequested'],
      ['info', 'raft.becomeCandidate', 1, '', 'preVoteWon'],
      ['info', 'raft.becomeLeader', 1, 'n1', 'electionWon'],
      ['info', 'raft.becomeFollower', 2, 'n3', 'higherTerm'],
    ],
  );
});

test('ignored messages are logged at debug with a reason event', (t) => {
  const logger = recordingLogger();
  const tn = new TestNode('n1', storageWithLog(ids(3), [], { term: 3, vote: '', commit: 0 }), { logger, preVote: false, checkQuorum: false });
  tn.node.step(msg({ type: 'app', from: 'n2', to: 'n1', term: 2 }));
  tn.node.step(msg({ type: 'hup', from: 'n2', to: 'n1' }));
  tn.node.step(msg({ type: 'app', from: 'n2', to: 'n9', term: 3 }));
  tn.node.step(msg({ type: 'appResp', from: 'n9', to: 'n1', term: 3 }));
  tn.node.step(msg({ type: 'vote', from: 'n9', to: 'n1', term: 4 }));
  const debug = logger.lines.filter((line) => line.level === 'debug').map((line) => line.event);
  t.deepEqual(debug, [
    'raft.ignoredStaleTermMessage',
    'raft.ignoredMisaddressedMessage',
    'raft.ignoredMisaddressedMessage',
    'raft.ignoredResponseFromNonMember',
    'raft.ignoredVoteFromNonMember',
  ]);
  t.deepEqual(tn.drain(), []);
  t.like(tn.node.status(), { term: 3, role: 'follower' });
});

test('illegal role transitions crash (assert)', (t) => {
  const options = (id: string, storage = bootstrapStorage(ids(3))) =>
    resolveRaftOptions({ id, storage, rng: new SeededRng(1), logger: silentLogger });
  const follower = new Raft(options('n1'));
  t.throws(() => follower.becomeLeader(), { instanceOf: AssertionFailedError, message: /follower -> leader/ });
  const learner = new Raft(options('n4', bootstrapStorage(ids(3), ['n4'])));
  t.throws(() => learner.becomeCandidate('campaignRequested'), { instanceOf: AssertionFailedError });
  t.throws(() => learner.becomePreCandidate('campaignRequested'), { instanceOf: AssertionFailedError });
  const single = new Raft(options('n1', bootstrapStorage(['n1'])));
  single.becomeCandidate('campaignRequested');
  single.becomeLeader();
  t.throws(() => single.becomeCandidate('campaignRequested'), { instanceOf: AssertionFailedError, message: /leader -> candidate/ });
  t.throws(() => single.becomePreCandidate('campaignRequested'), { instanceOf: AssertionFailedError });
  t.throws(() => single.becomeFollower(0, '', 'higherTerm'), { instanceOf: AssertionFailedError }, 'terms never go back');
});

test('deterministic: randomness only from the injected rng (Math.random and Date.now are never called)', (t) => {
  const run = (seed: number) => {
    const net = Network.create(ids(5), { seed });
    for (let i = 0; i < 60; i++) net.tickAll();
    net.propose(ids(5).find((id) => net.raw(id).status().role === 'leader')!, 'x');
    return net.sent.map((m) => `${m.type}:${m.from}>${m.to}@${m.term}`).join(',');
  };
  const random = Math.random;
  const now = Date.now;
  Math.random = () => {
    throw new Error('Math.random called');
  };
  Date.now = () => {
    throw new Error('Date.now called');
  };
  try {
    t.is(run(7), run(7));
  } finally {
    Math.random = random;
    Date.now = now;
  }
});

test('options are validated once, naming the key (no silent adjustment)', (t) => {
  const storage = bootstrapStorage(ids(3));
  const base = { id: 'n1', storage, rng: new SeededRng(1), logger: silentLogger };
  t.throws(() => new RawNode({ ...base, electionTicks: 5, heartbeatTicks: 5 }), { instanceOf: ConfigError, message: /raft\.heartbeatTicks/ });
  t.throws(() => new RawNode({ ...base, maxInflightMsgs: 0 }), { instanceOf: ConfigError, message: /raft\.maxInflightMsgs/ });
  t.throws(() => new RawNode({ ...base, id: '' }), { instanceOf: ConfigError, message: /raft\.id/ });
});

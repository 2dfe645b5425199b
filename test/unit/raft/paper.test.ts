/**
 * One test per claim of the Raft paper (Ongaro & Ousterhout, "In Search of an
 * Understandable Consensus Algorithm", §5), in the spirit of etcd-io/raft's
 * raft_paper_test.go. Pre-vote and check-quorum are off: this is the base
 * algorithm.
 */
import test from 'ava';
import type { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { Entry, Message, NodeId, RaftRole } from '../../../src/raft/core/types.js';
import { Network, TestNode, bootstrapStorage, bytes, entry, ids, msg, storageWithLog, text, type NodeOptions } from './helpers.js';

const BASE: NodeOptions = { preVote: false, checkQuorum: false, electionTicks: 10, heartbeatTicks: 1 };

function newNode(voters: NodeId[] = ids(3), storage: MemoryStorage = bootstrapStorage(voters), options: NodeOptions = {}): TestNode {
  return new TestNode('n1', storage, { ...BASE, ...options });
}

function stepAll(tn: TestNode, ...messages: Message[]): Message[] {
  for (const m of messages) tn.node.step(m);
  return tn.drain();
}

/** Campaign and collect grants from every other voter. */
function makeLeader(tn: TestNode): Message[] {
  tn.node.campaign();
  tn.drain();
  const { term, confState } = tn.node.status();
  const grants = confState.voters.filter((id) => id !== tn.id).map((from) => msg({ type: 'voteResp', from, to: tn.id, term }));
  const out = stepAll(tn, ...grants);
  if (tn.node.status().role !== 'leader') throw new Error('makeLeader: not leader');
  return out;
}

/** Every follower acknowledges the leader's whole log (its no-op included). */
function ackAll(tn: TestNode, from: NodeId[] = peersOf(tn)): Message[] {
  const { term, lastIndex } = tn.node.status();
  return stepAll(tn, ...from.map((f) => msg({ type: 'appResp', from: f, to: tn.id, term, index: lastIndex })));
}

function peersOf(tn: TestNode): NodeId[] {
  return tn.node.status().confState.voters.filter((id) => id !== tn.id);
}

function logTerms(tn: TestNode): number[] {
  const last = tn.storage.lastIndex();
  return tn.storage.entries(tn.storage.firstIndex(), last + 1, Number.MAX_SAFE_INTEGER).map((e) => e.term);
}

function ofType(messages: readonly Message[], type: Message['type']): Message[] {
  return messages.filter((m) => m.type === type);
}

for (const role of ['follower', 'candidate', 'leader'] as const) {
  test(`§5.1 a ${role} seeing a higher term adopts it and becomes follower`, (t) => {
    const tn = newNode();
    if (role === 'candidate') {
      tn.node.campaign();
      tn.drain();
    }
    if (role === 'leader') makeLeader(tn);
    const term = tn.node.status().term;
    stepAll(tn, msg({ type: 'app', from: 'n2', to: 'n1', term: term + 1 }));
    const status = tn.node.status();
    t.is(status.term, term + 1);
    t.is(status.role, 'follower');
    t.is(status.leader, 'n2');
  });
}

test('§5.1 a request with a stale term is ignored', (t) => {
  const tn = newNode(ids(3), storageWithLog(ids(3), [1, 2], { term: 2, vote: '', commit: 0 }));
  const out = stepAll(tn, msg({ type: 'app', from: 'n2', to: 'n1', term: 1, index: 2, logTerm: 2, entries: [entry(3, 1)] }));
  t.deepEqual(out, []);
  t.is(tn.node.status().lastIndex, 2);
  t.is(tn.node.status().leader, '');
  t.is(tn.node.status().term, 2);
});

test('§5.2 servers start as followers (fresh, and restarted with their term and vote)', (t) => {
  const fresh = newNode();
  t.like(fresh.node.status(), { role: 'follower', term: 0, vote: '', leader: '' });
  const restarted = newNode(ids(3), storageWithLog(ids(3), [1], { term: 5, vote: 'n2', commit: 1 }));
  t.like(restarted.node.status(), { role: 'follower', term: 5, vote: 'n2', commit: 1 });
});

test('§5.2 the leader sends empty AppendEntries (heartbeats) to all followers every heartbeat interval', (t) => {
  const tn = newNode();
  makeLeader(tn);
  tn.node.tick();
  const heartbeats = ofType(tn.drain(), 'heartbeat');
  t.deepEqual(heartbeats.map((m) => m.to).sort(), ['n2', 'n3']);
  for (const m of heartbeats) t.like(m, { term: 1, index: 0, logTerm: 0, entries: [], commit: 0 });
});

test('§5.2 a follower that hears nothing for an election timeout becomes candidate, votes for itself, requests votes', (t) => {
  const tn = newNode(ids(3), storageWithLog(ids(3), [1, 1], { term: 1, vote: '', commit: 0 }));
  for (let i = 0; i < 2 * 10; i++) tn.node.tick();
  const out = tn.drain();
  t.like(tn.node.status(), { role: 'candidate', term: 2, vote: 'n1' });
  const requests = ofType(out, 'vote');
  t.deepEqual(requests.map((m) => m.to).sort(), ['n2', 'n3']);
  for (const m of requests) t.like(m, { term: 2, index: 2, logTerm: 1 });
});

test('§5.2 a candidate whose election times out (split vote) starts a new election with a new term', (t) => {
  const tn = newNode();
  tn.node.campaign();
  tn.drain();
  t.like(tn.node.status(), { role: 'candidate', term: 1 });
  for (let i = 0; i < 2 * 10; i++) tn.node.tick();
  const out = tn.drain();
  t.like(tn.node.status(), { role: 'candidate', term: 2, vote: 'n1' });
  t.deepEqual(ofType(out, 'vote').map((m) => [m.to, m.term]), [['n2', 2], ['n3', 2]]);
});

test('§5.2 a candidate wins with votes from a majority, loses on a majority of rejections, else waits', (t) => {
  const cases: [number, Record<string, boolean>, RaftRole][] = [
    [1, {}, 'leader'],
    [3, { n2: true, n3: true }, 'leader'],
    [3, { n2: true }, 'leader'],
    [5, { n2: true, n3: true, n4: true, n5: true }, 'leader'],
    [5, { n2: true, n3: true, n4: true }, 'leader'],
    [5, { n2: true, n3: true }, 'leader'],
    [3, { n2: false, n3: false }, 'follower'],
    [5, { n2: false, n3: false, n4: false, n5: false }, 'follower'],
    [5, { n2: true, n3: false, n4: false, n5: false }, 'follower'],
    [3, {}, 'candidate'],
    [5, { n2: true }, 'candidate'],
    [5, { n2: false, n3: false }, 'candidate'],
    [5, {}, 'candidate'],
  ];
  for (const [size, votes, want] of cases) {
    const tn = newNode(ids(size));
    tn.node.campaign();
    tn.drain();
    const term = tn.node.status().term;
    stepAll(tn, ...Object.entries(votes).map(([from, granted]) => msg({ type: 'voteResp', from, to: 'n1', term, reject: !granted })));
    t.is(tn.node.status().role, want, `${size} nodes, votes ${JSON.stringify(votes)}`);
    t.is(tn.node.status().term, 1);
  }
});

test('§5.2 a voter grants at most one vote per term, first come first served', (t) => {
  const cases: [string, NodeId, boolean][] = [
    ['', 'n2', false],
    ['', 'n3', false],
    ['n2', 'n2', false],
    ['n3', 'n3', false],
    ['n2', 'n3', true],
    ['n3', 'n2', true],
  ];
  for (const [vote, candidate, wantReject] of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), [], { term: 1, vote, commit: 0 }));
    const out = stepAll(tn, msg({ type: 'vote', from: candidate, to: 'n1', term: 1 }));
    t.deepEqual(out.map((m) => [m.type, m.to, m.term, m.reject]), [['voteResp', candidate, 1, wantReject]], `voted ${vote || 'none'}`);
  }
});

for (const termOffset of [0, 1]) {
  test(`§5.2 a candidate receiving AppendEntries from a leader of ${termOffset === 0 ? 'its' : 'a later'} term returns to follower`, (t) => {
    const tn = newNode();
    tn.node.campaign();
    tn.drain();
    const term = tn.node.status().term + termOffset;
    stepAll(tn, msg({ type: 'app', from: 'n2', to: 'n1', term }));
    t.like(tn.node.status(), { role: 'follower', leader: 'n2', term });
    const again = newNode();
    again.node.campaign();
    again.drain();
    stepAll(again, msg({ type: 'heartbeat', from: 'n3', to: 'n1', term }));
    t.like(again.node.status(), { role: 'follower', leader: 'n3', term });
  });
}

/** Ticks until `tn` leaves its current role or term (an election timeout elapsed). */
function ticksToTimeout(tn: TestNode): number {
  const { role, term } = tn.node.status();
  for (let ticks = 1; ticks <= 100; ticks++) {
    tn.node.tick();
    const status = tn.node.status();
    if (status.role !== role || status.term !== term) return ticks;
  }
  throw new Error('no timeout within 100 ticks');
}

for (const role of ['follower', 'candidate'] as const) {
  test(`§5.2 a ${role}'s election timeout is drawn at random from [electionTicks, 2 * electionTicks)`, (t) => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 300; seed++) {
      const tn = newNode(ids(3), bootstrapStorage(ids(3)), { seed });
      if (role === 'candidate') {
        tn.node.campaign();
        tn.drain();
      }
      const ticks = ticksToTimeout(tn);
      t.true(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
      seen.add(ticks);
    }
    t.is(seen.size, 10, 'every value of the interval occurs');
  });
}

test('§5.2 randomised timeouts: in most cases only one server times out first', (t) => {
  const rounds = 1000;
  let conflicts = 0;
  for (let round = 0; round < rounds; round++) {
    const nodes = ids(5).map((id, i) => new TestNode(id, bootstrapStorage(ids(5)), { ...BASE, seed: round * 5 + i }));
    for (let tick = 0; tick < 20; tick++) {
      for (const tn of nodes) tn.node.tick();
      const timedOut = nodes.filter((tn) => tn.node.status().role !== 'follower').length;
      if (timedOut > 0) {
        if (timedOut > 1) conflicts++;
        break;
      }
    }
  }
  t.true(conflicts / rounds < 0.3, `conflict probability ${conflicts / rounds}`);
});

test('§5.3 the leader appends a proposal to its log and sends it to every follower in parallel', (t) => {
  const tn = newNode();
  makeLeader(tn);
  ackAll(tn);
  const { index } = tn.node.propose(bytes('some data'));
  const out = ofType(tn.drain(), 'app');
  t.is(index, 2);
  t.deepEqual(out.map((m) => m.to).sort(), ['n2', 'n3']);
  for (const m of out) {
    t.like(m, { term: 1, index: 1, logTerm: 1, commit: 1 });
    t.deepEqual(m.entries.map((e) => [e.index, e.term, text(e.data)]), [[2, 1, 'some data']]);
  }
  t.deepEqual(tn.readies[tn.readies.length - 1]!.entries.map((e) => e.index), [2], 'the entry is handed to the driver to persist');
});

test('§5.3 once a majority has the entry the leader commits and applies it, and tells followers the new commit', (t) => {
  const tn = newNode();
  makeLeader(tn);
  ackAll(tn);
  tn.node.propose(bytes('some data'));
  tn.drain();
  const out = stepAll(tn, msg({ type: 'appResp', from: 'n2', to: 'n1', term: 1, index: 2 }));
  t.is(tn.node.status().commit, 2);
  t.deepEqual(tn.state, ['some data']);
  const commits = ofType(out, 'app').map((m) => [m.to, m.commit]);
  t.deepEqual(commits.sort(), [['n2', 2], ['n3', 2]]);
});

test('§5.3 an entry is committed once the leader that created it replicated it on a majority', (t) => {
  const cases: [number, NodeId[], boolean][] = [
    [1, [], true],
    [3, [], false],
    [3, ['n2'], true],
    [3, ['n2', 'n3'], true],
    [5, [], false],
    [5, ['n2'], false],
    [5, ['n2', 'n3'], true],
    [5, ['n2', 'n3', 'n4'], true],
    [5, ['n2', 'n3', 'n4', 'n5'], true],
  ];
  for (const [size, acceptors, wantCommitted] of cases) {
    const tn = newNode(ids(size));
    makeLeader(tn);
    ackAll(tn);
    const { index } = tn.node.propose(bytes('some data'));
    tn.drain();
    ackAll(tn, acceptors);
    t.is(tn.node.status().commit >= index, wantCommitted, `${size} nodes, acks from ${acceptors.join(',') || 'nobody'}`);
  }
});

test('§5.3 committing an entry commits all preceding ones, including those of earlier leaders', (t) => {
  const cases: number[][] = [[], [2], [1, 2], [1]];
  for (const previous of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), previous, { term: 2, vote: '', commit: 0 }));
    makeLeader(tn);
    tn.node.propose(bytes('some data'));
    tn.drain();
    ackAll(tn);
    const committed = tn.readies.flatMap((rd) => rd.committedEntries);
    const want = [...previous.map((term, i) => [i + 1, term, '']), [previous.length + 1, 3, ''], [previous.length + 2, 3, 'some data']];
    t.deepEqual(committed.map((e) => [e.index, e.term, text(e.data)]), want, `previous terms ${JSON.stringify(previous)}`);
  }
});

test('§5.3 a follower that learns an entry is committed applies it, in log order', (t) => {
  const cases: [Entry[], number][] = [
    [[entry(1, 1, 'some data')], 1],
    [[entry(1, 1, 'some data'), entry(2, 1, 'some data2')], 2],
    [[entry(1, 1, 'some data2'), entry(2, 1, 'some data')], 2],
    [[entry(1, 1, 'some data'), entry(2, 1, 'some data2')], 1],
  ];
  for (const [entries, commit] of cases) {
    const tn = newNode();
    stepAll(tn, msg({ type: 'app', from: 'n2', to: 'n1', term: 1, entries, commit }));
    t.is(tn.node.status().commit, commit);
    t.deepEqual(tn.state, entries.slice(0, commit).map((e) => text(e.data)));
  }
});

test('§5.3 a follower refuses entries unless its log has the preceding (index, term), hinting where to retry', (t) => {
  const cases: [number, number, number, boolean, number, number][] = [
    // [prevTerm, prevIndex, answered index, reject, hint index, hint term]
    [0, 0, 1, false, 0, 0], // before our commit: answered with the commit index
    [1, 1, 1, false, 0, 0],
    [2, 2, 2, false, 0, 0],
    [1, 2, 2, true, 1, 1], // different term at index 2
    [3, 3, 3, true, 2, 2], // beyond our log
  ];
  for (const [prevTerm, prevIndex, index, reject, hint, hintTerm] of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), [1, 2], { term: 2, vote: '', commit: 1 }));
    const out = stepAll(tn, msg({ type: 'app', from: 'n2', to: 'n1', term: 2, logTerm: prevTerm, index: prevIndex }));
    const [response] = ofType(out, 'appResp');
    t.like(response, { to: 'n2', term: 2, index, reject, rejectHint: hint }, `prev (${prevIndex}, ${prevTerm})`);
    if (reject) t.is(response!.rejectHintTerm, hintTerm);
  }
});

test('§5.3 a follower deletes a conflicting entry and all that follow, and appends new entries', (t) => {
  const cases: [number, number, [number, number][], number[], number[]][] = [
    // [prevIndex, prevTerm, entries (index, term), whole log terms, unstable (to persist) indexes]
    [2, 2, [[3, 3]], [1, 2, 3], [3]],
    [1, 1, [[2, 3], [3, 4]], [1, 3, 4], [2, 3]],
    [0, 0, [[1, 1]], [1, 2], []],
    [0, 0, [[1, 3]], [3], [1]],
  ];
  for (const [prevIndex, prevTerm, sent, wantTerms, wantUnstable] of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), [1, 2], { term: 2, vote: '', commit: 0 }));
    tn.node.step(msg({ type: 'app', from: 'n2', to: 'n1', term: 2, index: prevIndex, logTerm: prevTerm, entries: sent.map(([i, term]) => entry(i, term)) }));
    const ready = tn.handleReady();
    t.deepEqual(ready.entries.map((e) => e.index), wantUnstable, `prev (${prevIndex}, ${prevTerm})`);
    t.deepEqual(logTerms(tn), wantTerms);
  }
});

test('§5.3 (figure 7) the leader forces every kind of follower log to duplicate its own', (t) => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followerLogs = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, followerLog] of Object.entries(followerLogs)) {
    const net = new Network();
    net.add(new TestNode('n1', storageWithLog(ids(3), leaderLog, { term: 8, vote: '', commit: leaderLog.length }), BASE));
    net.add(new TestNode('n2', storageWithLog(ids(3), followerLog, { term: 7, vote: '', commit: 0 }), BASE));
    net.add(new TestNode('n3', bootstrapStorage(ids(3)), BASE));
    net.isolate('n3');
    net.campaign('n1');
    // n3's vote (delivered by hand: its links are cut) makes n1 leader even when n2 refuses.
    net.raw('n1').step(msg({ type: 'voteResp', from: 'n3', to: 'n1', term: 9 }));
    net.flush();
    t.is(net.raw('n1').status().role, 'leader', name);
    net.propose('n1', 'x');
    t.deepEqual(logTerms(net.node('n2')), logTerms(net.node('n1')), `follower (${name})`);
    t.deepEqual(logTerms(net.node('n1')), [...leaderLog, 9, 9]);
  }
});

test('§5.3 the leader backs up nextIndex quickly: at most one round trip per conflicting term', (t) => {
  const cases: [string, number[], number[], number][] = [
    // the leader skips terms above the follower's hint
    ['leader-side', [1, 3, 3, 3, 5, 5, 5, 5, 5], [1, 1, 1, 1, 2, 2], 1],
    // the follower skips its own terms above the leader's
    ['follower-side', [1, 3, 3, 3, 3, 3, 3, 3, 7], [1, 3, 3, 4, 4, 5, 5, 5, 6], 2],
  ];
  for (const [name, leaderLog, followerLog, maxRejections] of cases) {
    const leaderTerm = leaderLog[leaderLog.length - 1]!;
    const net = new Network();
    net.add(new TestNode('n1', storageWithLog(ids(3), leaderLog, { term: leaderTerm, vote: '', commit: 1 }), BASE));
    net.add(new TestNode('n2', storageWithLog(ids(3), followerLog, { term: leaderTerm, vote: '', commit: 1 }), BASE));
    net.add(new TestNode('n3', bootstrapStorage(ids(3)), BASE));
    net.isolate('n3');
    net.campaign('n1');
    t.is(net.raw('n1').status().role, 'leader', name);
    const rejections = net.sent.filter((m) => m.type === 'appResp' && m.from === 'n2' && m.reject);
    t.true(rejections.length <= maxRejections, `${name}: ${rejections.length} rejections`);
    t.deepEqual(logTerms(net.node('n2')), logTerms(net.node('n1')), name);
  }
});

test('§5.4.1 a vote request carries the index and term of the candidate\'s last entry', (t) => {
  const cases: [number[], number][] = [
    [[1], 2],
    [[1, 2], 3],
  ];
  for (const [terms, wantTerm] of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), terms));
    for (let i = 0; i < 2 * 10; i++) tn.node.tick();
    const requests = ofType(tn.drain(), 'vote');
    t.deepEqual(requests.map((m) => [m.to, m.term, m.index, m.logTerm]), [
      ['n2', wantTerm, terms.length, terms[terms.length - 1]],
      ['n3', wantTerm, terms.length, terms[terms.length - 1]],
    ]);
  }
});

test('§5.4.1 a voter denies its vote to a candidate whose log is less up to date', (t) => {
  const cases: [[number, number][], number, number, boolean][] = [
    // [voter's log (term, index), candidate's last term, last index, reject]
    [[[1, 1]], 1, 1, false],
    [[[1, 1]], 1, 2, false],
    [[[1, 1], [1, 2]], 1, 1, true],
    [[[1, 1]], 2, 1, false],
    [[[1, 1]], 2, 2, false],
    [[[1, 1], [1, 2]], 2, 1, false],
    [[[2, 1]], 1, 1, true],
    [[[2, 1]], 1, 2, true],
    [[[2, 1], [1, 2]], 1, 1, true],
  ];
  for (const [log, logTerm, index, wantReject] of cases) {
    const storage = bootstrapStorage(ids(3));
    storage.append(log.map(([term, i]) => entry(i, term)));
    const tn = newNode(ids(3), storage);
    const out = stepAll(tn, msg({ type: 'vote', from: 'n2', to: 'n1', term: 3, logTerm, index }));
    t.deepEqual(out.map((m) => [m.type, m.term, m.reject]), [['voteResp', 3, wantReject]], JSON.stringify({ log, logTerm, index }));
  }
});

test('§5.4.2 the leader never commits an entry of an earlier term by counting replicas', (t) => {
  const cases: [number, number][] = [
    [1, 0],
    [2, 0],
    [3, 3],
  ];
  for (const [ackedIndex, wantCommit] of cases) {
    const tn = newNode(ids(3), storageWithLog(ids(3), [1, 2], { term: 2, vote: '', commit: 0 }));
    makeLeader(tn);
    stepAll(tn, msg({ type: 'appResp', from: 'n2', to: 'n1', term: 3, index: ackedIndex }));
    t.is(tn.node.status().commit, wantCommit, `ack of ${ackedIndex}`);
  }
});

test('§8 a new leader appends an empty entry of its term', (t) => {
  const tn = newNode(ids(3), storageWithLog(ids(3), [1, 1], { term: 1, vote: '', commit: 0 }));
  makeLeader(tn);
  const appended = tn.readies.flatMap((rd) => rd.entries);
  t.deepEqual(appended.map((e) => [e.index, e.term, e.type, e.data.byteLength]), [[3, 2, 'normal', 0]]);
});

test('§5.2 a three-node cluster elects exactly one leader and every node learns it', (t) => {
  const net = Network.create(ids(3), BASE);
  for (let i = 0; i < 40 && ![...net.nodes.values()].some((n) => n.node.status().role === 'leader'); i++) net.tickAll();
  const statuses = ids(3).map((id) => net.raw(id).status());
  const leaders = statuses.filter((s) => s.role === 'leader');
  t.is(leaders.length, 1);
  for (const status of statuses) t.is(status.leader, leaders[0]!.id);
});

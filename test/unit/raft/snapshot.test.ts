/** Log compaction, InstallSnapshot to lagging followers, and snapshot restore (§7). */
import test from 'ava';
import type { Snapshot } from '../../../src/raft/core/types.js';
import { Network, TestNode, bootstrapStorage, ids, msg, storageWithLog, text } from './helpers.js';

function snapshot(index: number, term: number, voters = ids(3), learners: string[] = []): Snapshot {
  return { metadata: { index, term, confState: { voters, learners } }, data: new TextEncoder().encode('[]') };
}

/** n3 misses entries 3..7 while cut off; the leader then compacts its log through 7. */
function laggingFollowerWithCompactedLeader(): Network {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.isolate('n3');
  for (let i = 0; i < 5; i++) net.propose('n1', `b${i}`);
  const leader = net.node('n1');
  if (leader.appliedIndex !== 7) throw new Error(`expected applied 7, got ${leader.appliedIndex}`);
  leader.compact(7);
  return net;
}

test('the leader sends a snapshot when the entries a follower needs are compacted; the follower restores it and catches up', (t) => {
  const net = laggingFollowerWithCompactedLeader();
  net.recover();
  net.tick('n1');
  const snaps = net.sent.filter((m) => m.type === 'snap');
  t.deepEqual(snaps.map((m) => [m.to, m.snapshot?.metadata.index, m.snapshot?.metadata.term]), [['n3', 7, 1]]);
  const restoredReady = net.node('n3').readies.find((rd) => rd.snapshot !== undefined);
  t.is(restoredReady?.snapshot?.metadata.index, 7, 'the Ready carries the snapshot for the driver');
  t.true(restoredReady?.mustSync);
  t.is(net.node('n3').storage.snapshot().metadata.index, 7);
  t.deepEqual(net.node('n3').state, ['a', 'b0', 'b1', 'b2', 'b3', 'b4']);
  t.like(net.raw('n1').status().progress.n3, { state: 'replicate', match: 7 });
  net.propose('n1', 'c');
  t.deepEqual(net.node('n3').state, ['a', 'b0', 'b1', 'b2', 'b3', 'b4', 'c']);
});

test('while a snapshot is in flight the peer is paused; a failed send probes again from match', (t) => {
  const net = laggingFollowerWithCompactedLeader();
  net.recover();
  net.dropType('snap');
  net.tick('n1');
  t.like(net.raw('n1').status().progress.n3, { state: 'snapshot', paused: true, match: 2, next: 8 });
  const before = net.sent.length;
  net.propose('n1', 'c');
  t.false(net.sent.slice(before).some((m) => m.to === 'n3' && m.type === 'app'), 'nothing else is sent meanwhile');
  net.raw('n1').reportSnapshot('n3', false);
  net.flush();
  t.like(net.raw('n1').status().progress.n3, { state: 'probe', paused: true, next: 3 });
});

test('a successful snapshot report resumes probing after the snapshot', (t) => {
  const net = laggingFollowerWithCompactedLeader();
  net.recover();
  net.dropType('snap');
  net.tick('n1');
  net.raw('n1').reportSnapshot('n3', true);
  net.flush();
  t.like(net.raw('n1').status().progress.n3, { state: 'probe', paused: true, next: 8 });
});

test('no snapshot is sent to a peer that was not recently active', (t) => {
  const net = laggingFollowerWithCompactedLeader();
  net.tick('n1', 10); // a check-quorum round marks n3 inactive (n2 keeps the quorum)
  net.raw('n1').reportUnreachable('n3');
  net.propose('n1', 'c');
  t.false(net.sent.some((m) => m.type === 'snap'));
  t.like(net.raw('n1').status().progress.n3, { state: 'probe', recentActive: false });
});

test('a follower ignores a snapshot that is not newer than its commit index, answering with its commit', (t) => {
  const tn = new TestNode('n2', storageWithLog(ids(3), [1, 1, 1, 1, 1], { term: 1, vote: '', commit: 5 }));
  tn.node.step(msg({ type: 'snap', from: 'n1', to: 'n2', term: 1, snapshot: snapshot(3, 1) }));
  const out = tn.drain();
  t.deepEqual(out.map((m) => [m.type, m.index, m.reject]), [['appResp', 5, false]]);
  t.false(tn.readies.some((rd) => rd.snapshot !== undefined));
});

test('a follower that already holds the snapshot\'s last entry only moves its commit index', (t) => {
  const tn = new TestNode('n2', storageWithLog(ids(3), [1, 1, 1, 1, 1], { term: 1, vote: '', commit: 1 }));
  tn.node.step(msg({ type: 'snap', from: 'n1', to: 'n2', term: 1, snapshot: snapshot(3, 1) }));
  const out = tn.drain();
  t.deepEqual(out.map((m) => [m.type, m.index]), [['appResp', 3]]);
  t.false(tn.readies.some((rd) => rd.snapshot !== undefined));
  t.like(tn.node.status(), { commit: 3, lastIndex: 5 });
});

test('restoring replaces a conflicting log, and the configuration comes from the snapshot metadata', (t) => {
  const tn = new TestNode('n2', storageWithLog(ids(3), [1, 1, 2, 2], { term: 3, vote: '', commit: 1 }));
  tn.node.step(msg({ type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: snapshot(6, 3, ids(3), ['n4']) }));
  tn.node.campaign();
  t.is(tn.node.status().role, 'follower', 'a snapshot not yet persisted blocks campaigning');
  const out = tn.drain();
  t.deepEqual(out.map((m) => [m.type, m.index]), [['appResp', 6]]);
  t.like(tn.node.status(), { commit: 6, applied: 6, lastIndex: 6, confState: { voters: ids(3), learners: ['n4'] } });
  t.deepEqual(tn.confState, { voters: ids(3), learners: ['n4'] });
  t.is(tn.storage.firstIndex(), 7);
});

test('a restarted node resumes from its storage snapshot: committed entries after it are handed out once', (t) => {
  const storage = bootstrapStorage(ids(3));
  storage.applySnapshot(snapshot(5, 2));
  storage.append([6, 7].map((index) => ({ index, term: 2, type: 'normal' as const, data: new TextEncoder().encode(`e${index}`) })));
  storage.setHardState({ term: 2, vote: 'n1', commit: 7 });
  const fromSnapshot = new TestNode('n2', storage);
  t.like(fromSnapshot.node.status(), { commit: 7, applied: 5, lastIndex: 7, term: 2, vote: 'n1' });
  const ready = fromSnapshot.handleReady();
  t.deepEqual(ready.committedEntries.map((e) => text(e.data)), ['e6', 'e7']);
  t.is(ready.hardState, undefined, 'an unchanged hard state is not re-emitted');
  t.false(fromSnapshot.node.hasReady());

  const alreadyApplied = new TestNode('n2', storage, { applied: 6 });
  t.deepEqual(alreadyApplied.handleReady().committedEntries.map((e) => text(e.data)), ['e7']);
});

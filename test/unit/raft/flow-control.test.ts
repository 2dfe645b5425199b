/** Bounded replication: the in-flight window, probing, message and Ready size limits, the uncommitted-bytes limit. */
import test from 'ava';
import { ProposalDroppedError } from '../../../src/lib/errors.js';
import type { Entry } from '../../../src/raft/core/types.js';
import { Network, TestNode, bootstrapStorage, bytes, ids, msg } from './helpers.js';

function appsTo(net: Network, to: string, since: number): Entry[][] {
  return net.sent.slice(since).filter((m) => m.type === 'app' && m.to === to && m.from === 'n1').map((m) => [...m.entries]);
}

test('replicate state pipelines AppendEntries without waiting, up to maxInflightMsgs', (t) => {
  const net = Network.create(ids(3), { maxInflightMsgs: 3 });
  net.campaign('n1');
  net.block('n2', 'n1');
  const mark = net.sent.length;
  for (let i = 0; i < 10; i++) net.propose('n1', `e${i}`);
  const toN2 = appsTo(net, 'n2', mark).filter((entries) => entries.length > 0);
  t.is(toN2.length, 3, 'the window of 3 fills and replication to n2 pauses');
  t.like(net.raw('n1').status().progress.n2, { state: 'replicate', inflight: 3, paused: true });
  t.is(appsTo(net, 'n3', mark).filter((entries) => entries.length > 0).length, 10, 'n3 answers and is not limited');
  net.recover();
  net.tick('n1');
  t.deepEqual(net.node('n2').state, Array.from({ length: 10 }, (_, i) => `e${i}`), 'acknowledgements reopen the window');
});

test('a full window still lets an empty append through after a heartbeat answer, so lost appends cannot stall a peer', (t) => {
  const net = Network.create(ids(3), { maxInflightMsgs: 2 });
  net.campaign('n1');
  net.dropType('app');
  net.propose('n1', 'lost1');
  net.propose('n1', 'lost2');
  t.like(net.raw('n1').status().progress.n2, { inflight: 2, paused: true });
  net.recover();
  const mark = net.sent.length;
  net.tick('n1');
  const toN2 = appsTo(net, 'n2', mark);
  t.deepEqual(toN2[0], [], 'first an empty probe');
  t.deepEqual(net.node('n2').state, ['lost1', 'lost2']);
  t.like(net.raw('n1').status().progress.n2, { state: 'replicate', inflight: 0 });
});

test('probe state sends one AppendEntries at a time and waits for the answer', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.raw('n1').reportUnreachable('n2');
  t.like(net.raw('n1').status().progress.n2, { state: 'probe' });
  net.block('n2', 'n1');
  const mark = net.sent.length;
  for (let i = 0; i < 3; i++) net.propose('n1', `e${i}`);
  t.is(appsTo(net, 'n2', mark).length, 1);
  t.like(net.raw('n1').status().progress.n2, { state: 'probe', paused: true });
  net.recover();
  net.tick('n1');
  t.like(net.raw('n1').status().progress.n2, { state: 'replicate', match: 4 });
});

test('each AppendEntries carries at most maxSizePerMsgBytes of entries (but at least one)', (t) => {
  const net = Network.create(ids(3), { maxSizePerMsgBytes: 250 });
  net.campaign('n1');
  net.isolate('n3');
  const payload = 'x'.repeat(100); // 116 bytes with overhead: two fit in 250
  for (let i = 0; i < 9; i++) net.propose('n1', payload);
  net.propose('n1', 'y'.repeat(400));
  net.recover();
  const mark = net.sent.length;
  net.tick('n1');
  const batches = appsTo(net, 'n3', mark).filter((entries) => entries.length > 0);
  t.true(batches.length >= 5);
  for (const entries of batches) {
    const size = entries.reduce((sum, e) => sum + e.data.byteLength + 16, 0);
    t.true(entries.length === 1 || size <= 250, `batch of ${entries.length} entries, ${size} bytes`);
  }
  t.is(net.node('n3').state.length, 10);
});

test('the leader drops proposals beyond maxUncommittedEntriesBytes, and accepts again once entries commit', (t) => {
  const net = Network.create(ids(3), { maxUncommittedEntriesBytes: 100 });
  net.campaign('n1');
  net.isolate('n1');
  t.notThrows(() => net.raw('n1').propose(bytes('x'.repeat(500))), 'an empty uncommitted tail admits one big entry');
  const error = t.throws(() => net.raw('n1').propose(bytes('x')), { instanceOf: ProposalDroppedError });
  t.regex(error?.message ?? '', /maxUncommittedEntriesBytes/);
  net.recover();
  net.tick('n1');
  t.notThrows(() => net.raw('n1').propose(bytes('y'.repeat(60))));
  net.isolate('n1');
  t.notThrows(() => net.raw('n1').propose(bytes('y'.repeat(40))), '60 + 40 fits');
  t.throws(() => net.raw('n1').propose(bytes('z')), { instanceOf: ProposalDroppedError });
});

test('committed entries are handed out in Readies of at most maxCommittedSizePerReadyBytes', (t) => {
  const tn = new TestNode('n2', bootstrapStorage(ids(3)), { maxCommittedSizePerReadyBytes: 250 });
  const entries = Array.from({ length: 10 }, (_, i) => ({ index: i + 1, term: 1, type: 'normal' as const, data: bytes('x'.repeat(100)) }));
  tn.node.step(msg({ type: 'app', from: 'n1', to: 'n2', term: 1, entries, commit: 10 }));
  tn.drain();
  const sizes = tn.readies.map((rd) => rd.committedEntries.length).filter((n) => n > 0);
  t.deepEqual(sizes, [2, 2, 2, 2, 2]);
  t.is(tn.state.length, 10);
});

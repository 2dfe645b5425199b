/** ReadIndex, read-only safe mode (thesis §6.4). */
import test from 'ava';
import { AssertionFailedError, NotLeaderError, ProposalDroppedError } from '../../../src/lib/errors.js';
import { READ_INDEX_CONTEXT_MAX_BYTES, READ_INDEX_PENDING_MAX } from '../../../src/raft/core/read-only.js';
import { Network, TestNode, bootstrapStorage, bytes, ids, msg, text } from './helpers.js';

function readStates(net: Network, id: string): [number, string][] {
  return net.node(id).readStates.map((rs) => [rs.index, text(rs.context)]);
}

test('leader: the read point is the commit index, released after a heartbeat round confirms leadership', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.dropType('heartbeatResp');
  net.raw('n1').readIndex(bytes('ctx-1'));
  net.flush();
  const heartbeats = net.sent.filter((m) => m.type === 'heartbeat');
  t.deepEqual(heartbeats.map((m) => [m.to, text(m.context!)]), [['n2', 'ctx-1'], ['n3', 'ctx-1']]);
  t.deepEqual(readStates(net, 'n1'), [], 'not confirmed without acknowledgements');
  net.recover();
  net.tick('n1');
  t.deepEqual(readStates(net, 'n1'), [[2, 'ctx-1']]);
});

test('leader: one acknowledgement completes a majority of three', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n3');
  net.raw('n1').readIndex(bytes('r'));
  net.flush();
  t.deepEqual(readStates(net, 'n1'), [[1, 'r']]);
});

test('leader: an isolated leader never confirms a read', (t) => {
  const net = Network.create(ids(3), { checkQuorum: false });
  net.campaign('n1');
  net.isolate('n1');
  net.raw('n1').readIndex(bytes('r'));
  net.tick('n1', 5);
  t.deepEqual(readStates(net, 'n1'), []);
});

test('leader: confirming a later read confirms every earlier one, in order', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.dropType('heartbeatResp');
  net.raw('n1').readIndex(bytes('first'));
  net.propose('n1', 'x');
  net.raw('n1').readIndex(bytes('second'));
  net.flush();
  net.recover();
  net.tick('n1');
  t.deepEqual(readStates(net, 'n1'), [[1, 'first'], [2, 'second']]);
});

test('follower: the request is forwarded to the leader and the answer comes back as a read state', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.propose('n1', 'a');
  net.raw('n3').readIndex(bytes('from-n3'));
  net.flush();
  t.true(net.sent.some((m) => m.type === 'readIndex' && m.from === 'n3' && m.to === 'n1'));
  t.true(net.sent.some((m) => m.type === 'readIndexResp' && m.to === 'n3'));
  t.deepEqual(readStates(net, 'n3'), [[2, 'from-n3']]);
  t.deepEqual(readStates(net, 'n1'), []);
});

test('a new leader holds reads until it has committed an entry of its own term', (t) => {
  const net = Network.create(ids(3));
  net.dropType('appResp');
  net.campaign('n1');
  t.is(net.raw('n1').status().role, 'leader');
  t.is(net.raw('n1').status().commit, 0, 'its empty entry is not committed yet');
  const heartbeatsBefore = net.sent.filter((m) => m.type === 'heartbeat').length;
  net.raw('n1').readIndex(bytes('early'));
  net.flush();
  t.is(net.sent.filter((m) => m.type === 'heartbeat').length, heartbeatsBefore, 'no confirmation round yet');
  t.deepEqual(readStates(net, 'n1'), []);
  net.recover();
  net.tick('n1');
  t.is(net.raw('n1').status().commit, 1);
  t.deepEqual(readStates(net, 'n1'), [[1, 'early']]);
});

test('a single-voter cluster answers at once', (t) => {
  const tn = new TestNode('n1', bootstrapStorage(['n1']));
  tn.node.campaign();
  tn.drain();
  tn.node.readIndex(bytes('solo'));
  tn.drain();
  t.deepEqual(tn.readStates.map((rs) => [rs.index, text(rs.context)]), [[1, 'solo']]);
});

test('no known leader: NotLeaderError; an empty or oversized context is a programming error', (t) => {
  const tn = new TestNode('n2', bootstrapStorage(ids(3)));
  const error = t.throws(() => tn.node.readIndex(bytes('x')), { instanceOf: NotLeaderError });
  t.is(error?.leaderId, '');
  t.throws(() => tn.node.readIndex(new Uint8Array(0)), { instanceOf: AssertionFailedError });
  t.throws(() => tn.node.readIndex(new Uint8Array(READ_INDEX_CONTEXT_MAX_BYTES + 1)), { instanceOf: AssertionFailedError });
});

test('a forwarded read that reaches a non-leader is dropped, not bounced on', (t) => {
  const tn = new TestNode('n2', bootstrapStorage(ids(3)));
  tn.node.step(msg({ type: 'heartbeat', from: 'n1', to: 'n2', term: 1 }));
  tn.drain();
  tn.node.step(msg({ type: 'readIndex', from: 'n3', to: 'n2', context: bytes('lost') }));
  t.deepEqual(tn.drain(), []);
});

test('reads held by a leader are bounded: beyond READ_INDEX_PENDING_MAX it refuses', (t) => {
  const net = Network.create(ids(3), { checkQuorum: false });
  net.campaign('n1');
  net.isolate('n1');
  for (let i = 0; i < READ_INDEX_PENDING_MAX; i++) net.raw('n1').readIndex(bytes(`r${i}`));
  t.throws(() => net.raw('n1').readIndex(bytes('one too many')), { instanceOf: ProposalDroppedError });
  net.node('n1').drain();
});

test('reads pending on a leader that loses leadership are dropped (the caller times out and retries)', (t) => {
  const net = Network.create(ids(3));
  net.campaign('n1');
  net.isolate('n1');
  net.raw('n1').readIndex(bytes('doomed'));
  net.tick('n1', 20);
  t.is(net.raw('n1').status().role, 'follower');
  net.recover();
  net.tickAll(40);
  t.deepEqual(readStates(net, 'n1'), []);
});

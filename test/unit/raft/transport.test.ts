import test, { type ExecutionContext } from 'ava';
import { BindError, ConfigError } from '../../../src/lib/errors.js';
import type { Message, NodeId } from '../../../src/raft/core/types.js';
import { GrpcTransport, TRANSPORT_LIMITS_DEFAULT, type TransportLimits, type TransportOptions } from '../../../src/raft/transport/grpc-transport.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { freePort } from '../../../scripts/lib/free-port.js';

const CLUSTER = 'pg-main';
const LOOPBACK_ANY_PORT = '127.0.0.1:0';



interface Node {
  readonly id: NodeId;
  readonly transport: GrpcTransport;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly snapshotStatus: Array<{ peer: NodeId; ok: boolean }>;
  readonly logs: LogLine[];
}

interface NodeOptions {
  readonly id: NodeId;
  readonly bindAddress?: string;
  readonly clusterName?: string;
  readonly peers?: ReadonlyMap<NodeId, string>;
  readonly limits?: Partial<TransportLimits>;
}

/** Start a transport on a free loopback port; it is stopped in teardown. */
async function startNode(t: ExecutionContext, options: NodeOptions): Promise<Node> {
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  const snapshotStatus: Array<{ peer: NodeId; ok: boolean }> = [];
  const logs: LogLine[] = [];
  const transportOptions: TransportOptions = {
    nodeId: options.id,
    clusterName: options.clusterName ?? CLUSTER,
    bindAddress: options.bindAddress ?? LOOPBACK_ANY_PORT,
    peers: options.peers ?? new Map(),
    onMessage: (message) => received.push(message),
    onUnreachable: (peer) => unreachable.push(peer),
    onSnapshotStatus: (peer, ok) => snapshotStatus.push({ peer, ok }),
    logger: recordingLogger(logs),
    limits: options.limits ?? {},
  };
  const transport = await GrpcTransport.start(transportOptions);
  t.teardown(() => transport.stop());
  return { id: options.id, transport, received, unreachable, snapshotStatus, logs };
}

/** Start nodes, then point each at all the others (addresses are known only after binding). */
async function startCluster(t: ExecutionContext, ids: NodeId[], limits: Partial<TransportLimits> = {}): Promise<Node[]> {
  const nodes = await Promise.all(ids.map((id) => startNode(t, { id, limits })));
  const addresses = new Map(nodes.map((n) => [n.id, n.transport.boundAddress]));
  for (const node of nodes) node.transport.setPeers(addresses);
  return nodes;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A numbered message: index carries the sequence number. */
function app(from: NodeId, to: NodeId, sequence: number): Message {
  return {
    type: 'app',
    from,
    to,
    term: 1,
    logTerm: 1,
    index: sequence,
    entries: [{ term: 1, index: sequence + 1, type: 'normal', data: new TextEncoder().encode(`entry ${sequence}`) }],
    commit: sequence,
    reject: false,
    rejectHint: 0,
  };
}

function heartbeat(from: NodeId, to: NodeId): Message {
  return { type: 'heartbeat', from, to, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}


const sequences = (messages: Message[], from: NodeId): number[] => messages.filter((m) => m.from === from).map((m) => m.index);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

test('three transports exchange 10,000 messages per pair, complete and in order', async (t) => {
  const count = 10_000;
  // The whole burst is handed to send() at once: the queue must hold it.
  const [a, b, c] = await startCluster(t, ['a', 'b', 'c'], { queueMessagesMax: count });
  const burst = (from: Node, to: Node) => range(count).map((i) => app(from.id, to.id, i));
  a!.transport.send([...burst(a!, b!), ...burst(a!, c!)]);
  b!.transport.send(burst(b!, a!));
  c!.transport.send(burst(c!, b!));
  await waitFor('all messages', () => a!.received.length === count && b!.received.length === 2 * count && c!.received.length === count, 30_000);
  t.deepEqual(sequences(b!.received, 'a'), range(count));
  t.deepEqual(sequences(b!.received, 'c'), range(count));
  t.deepEqual(sequences(a!.received, 'b'), range(count));
  t.deepEqual(sequences(c!.received, 'a'), range(count));
  t.deepEqual(b!.received.filter((m) => m.from === 'a')[41], app('a', 'b', 42), 'every field arrives');
  t.deepEqual(a!.transport.stats().peers['b']?.droppedMessagesTotal, 0);
  t.deepEqual(a!.unreachable, []);
});

test('a dead peer does not delay a live one, and onUnreachable reports it once per interval', async (t) => {
  const [b] = await startCluster(t, ['b']);
  const dead = await deadAddress();
  const linkedMs = performance.now();
  const a = await startNode(t, { id: 'a', peers: new Map([['b', b!.transport.boundAddress], ['dead', dead]]) });
  b!.transport.setPeers(new Map([['a', a.transport.boundAddress]]));
  await waitFor('a connected to b', () => a.transport.stats().peers['b']?.connected === true);

  // Interleaved: every message to b sits behind one to the dead peer in send() order.
  const startedMs = performance.now();
  a.transport.send(range(1000).flatMap((i) => [app('a', 'dead', i), app('a', 'b', i)]));
  await waitFor('b got all', () => b!.received.length === 1000);
  const elapsedMs = performance.now() - startedMs;
  t.deepEqual(sequences(b!.received, 'a'), range(1000));
  // The structural claim: b got everything while every message to the dead peer still waits in its own queue.
  t.is(a.transport.stats().peers['dead']?.queuedMessages, 1000);
  // The timing claim, loosely (machines running tests are busy): far below a connect timeout (20 s) or a backoff cycle.
  t.true(elapsedMs < 10_000, `live peer delayed ${elapsedMs} ms`);
  t.log(`1000 messages to the live peer in ${elapsedMs.toFixed(0)} ms`);

  await waitFor('unreachable reported', () => a.unreachable.includes('dead'));
  t.false(a.unreachable.includes('b'));
  const reports = a.unreachable.filter((peer) => peer === 'dead').length;
  const intervalMs = TRANSPORT_LIMITS_DEFAULT.unreachableReportIntervalMs;
  t.true(reports <= Math.ceil((performance.now() - linkedMs) / intervalMs) + 1, `${reports} reports: rate limited, not per message`);
  const deadStats = a.transport.stats().peers['dead'];
  t.is(deadStats?.connected, false);
  t.is(deadStats?.queuedMessages, 1000);
  const disconnected = a.logs.filter((l) => l.event === 'transport.peerDisconnected' && l.fields['peer'] === 'dead');
  t.is(disconnected.length, 1, 'one info line per state change, not per attempt');
  t.is(disconnected[0]?.level, 'info');
  t.is(disconnected[0]?.fields['address'], dead);
  t.regex(String(disconnected[0]?.fields['reason']), /UNAVAILABLE/);
  t.true(a.logs.some((l) => l.event === 'transport.peerConnected' && l.fields['peer'] === 'b'));
});

test('a full queue drops (and counts) instead of blocking', async (t) => {
  const a = await startNode(t, { id: 'a', peers: new Map([['dead', await deadAddress()]]), limits: { queueMessagesMax: 4 } });
  a.transport.send(range(10).map((i) => app('a', 'dead', i)));
  const stats = a.transport.stats().peers['dead'];
  t.is(stats?.queuedMessages, 4);
  t.is(stats?.droppedMessagesTotal, 6);
  await waitFor('overflow reported as unreachable', () => a.unreachable.length > 0);
  t.deepEqual([...new Set(a.unreachable)], ['dead']);
});

test('delivery resumes after a peer restarts on the same port', async (t) => {
  const [a, b] = await startCluster(t, ['a', 'b'], { reconnectBackoffMaxMs: 200 });
  a!.transport.send([app('a', 'b', 1)]);
  await waitFor('first delivery', () => b!.received.length === 1);
  const address = b!.transport.boundAddress;
  await b!.transport.stop();
  await waitFor('a notices', () => a!.unreachable.includes('b'));

  const b2 = await startNode(t, { id: 'b', bindAddress: address, peers: new Map([['a', a!.transport.boundAddress]]) });
  t.is(b2.transport.boundAddress, address);
  let sequence = 1;
  await waitFor('delivery to the restarted peer', () => {
    a!.transport.send([app('a', 'b', ++sequence)]);
    return b2.received.length > 0;
  });
  const last = ++sequence;
  a!.transport.send([app('a', 'b', last)]);
  await waitFor('next message', () => b2.received.at(-1)?.index === last);
  const got = sequences(b2.received, 'a');
  t.deepEqual(got, [...got].sort((x, y) => x - y), 'still in order');
  t.true(a!.logs.some((l) => l.event === 'transport.peerDisconnected' && l.fields['peer'] === 'b'));
  t.is(a!.logs.filter((l) => l.event === 'transport.peerConnected' && l.fields['peer'] === 'b').length, 2);
});

test('messages from a sender that is not a peer are dropped (debug log)', async (t) => {
  const [a, b] = await startCluster(t, ['a', 'b']);
  const stranger = await startNode(t, { id: 'x', peers: new Map([['b', b!.transport.boundAddress]]) });
  stranger.transport.send([heartbeat('x', 'b')]);
  await waitFor('drop counted', () => b!.transport.stats().incomingDroppedTotal === 1);
  a!.transport.send([heartbeat('a', 'b')]);
  await waitFor('peer message delivered', () => b!.received.length === 1);
  t.is(b!.received[0]?.from, 'a');
  const drop = b!.logs.find((l) => l.event === 'transport.incomingDropped');
  t.is(drop?.level, 'debug');
  t.like(drop?.fields, { reason: 'unknownPeer', from: 'x', to: 'b', cluster: CLUSTER });
});

test('messages of another cluster are dropped (debug log), even from a known node id', async (t) => {
  const [a, b] = await startCluster(t, ['a', 'b']);
  const impostor = await startNode(t, { id: 'a', clusterName: 'pg-other', peers: new Map([['b', b!.transport.boundAddress]]) });
  impostor.transport.send([heartbeat('a', 'b')]);
  await waitFor('drop counted', () => b!.transport.stats().incomingDroppedTotal === 1);
  t.deepEqual(b!.received, []);
  t.like(b!.logs.find((l) => l.event === 'transport.incomingDropped')?.fields, { reason: 'wrongCluster', cluster: 'pg-other', from: 'a' });
  a!.transport.send([heartbeat('a', 'b')]);
  await waitFor('the real a still gets through', () => b!.received.length === 1);
  t.pass();
});

test('a 5 MiB snapshot arrives intact via chunks and onSnapshotStatus(ok) fires', async (t) => {
  const [a, b] = await startCluster(t, ['a', 'b']);
  const data = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 1) data[i] = (i * 7919) % 256;
  const snap: Message = {
    type: 'snap',
    from: 'a',
    to: 'b',
    term: 4,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: { metadata: { index: 5000, term: 3, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data },
  };
  a!.transport.send([snap]);
  await waitFor('snapshot status', () => a!.snapshotStatus.length === 1, 20_000);
  t.deepEqual(a!.snapshotStatus, [{ peer: 'b', ok: true }]);
  t.is(b!.received.length, 1);
  const got = b!.received[0]!;
  t.is(got.type, 'snap');
  t.is(got.term, 4);
  t.deepEqual(got.snapshot?.metadata, snap.snapshot?.metadata);
  t.true(Buffer.from(got.snapshot!.data).equals(Buffer.from(data)), 'data intact');
  t.is(a!.transport.stats().peers['b']?.snapshotsSentTotal, 1);
});

test('a snapshot the receiver refuses reports onSnapshotStatus(false)', async (t) => {
  const b = await startNode(t, { id: 'b' });
  const stranger = await startNode(t, { id: 'x', peers: new Map([['b', b.transport.boundAddress]]) });
  const snap: Message = {
    ...heartbeat('x', 'b'),
    type: 'snap',
    snapshot: { metadata: { index: 1, term: 1, confState: { voters: ['x'], learners: [] } }, data: new Uint8Array(10) },
  };
  stranger.transport.send([snap]);
  await waitFor('snapshot status', () => stranger.snapshotStatus.length === 1);
  t.deepEqual(stranger.snapshotStatus, [{ peer: 'b', ok: false }]);
  t.deepEqual(b.received, []);
});

test('binding an address already in use rejects with BindError naming the address', async (t) => {
  const a = await startNode(t, { id: 'a' });
  const error = await t.throwsAsync(
    GrpcTransport.start({ nodeId: 'b', clusterName: CLUSTER, bindAddress: a.transport.boundAddress, peers: new Map(), onMessage: () => {}, logger: recordingLogger([]) }),
    { instanceOf: BindError, code: 'PGHERD_BIND_FAILED' },
  );
  t.true(error?.message.includes(a.transport.boundAddress), error?.message);
  t.is(error?.address, a.transport.boundAddress);
});

test('invalid options are rejected naming the key', async (t) => {
  const options: TransportOptions = { nodeId: 'a', clusterName: CLUSTER, bindAddress: LOOPBACK_ANY_PORT, peers: new Map(), onMessage: () => {}, logger: recordingLogger([]) };
  await t.throwsAsync(GrpcTransport.start({ ...options, bindAddress: 'nowhere' }), { instanceOf: ConfigError, message: /transport.bindAddress/ });
  await t.throwsAsync(GrpcTransport.start({ ...options, nodeId: '' }), { instanceOf: ConfigError, message: /transport.nodeId/ });
  await t.throwsAsync(GrpcTransport.start({ ...options, peers: new Map([['b', '127.0.0.1:0']]) }), { instanceOf: ConfigError, message: /transport.peers/ });
  await t.throwsAsync(GrpcTransport.start({ ...options, limits: { queueMessagesMax: 0 } }), { instanceOf: ConfigError, message: /queueMessagesMax/ });
  await t.throwsAsync(GrpcTransport.start({ ...options, limits: { reconnectBackoffInitialMs: 5_000 } }), {
    instanceOf: ConfigError,
    message: /reconnectBackoffInitialMs/,
  });
});

test('local message types assert in send()', async (t) => {
  const [a] = await startCluster(t, ['a', 'b']);
  t.throws(() => a!.transport.send([{ ...heartbeat('a', 'b'), type: 'hup' }]), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => a!.transport.send([{ ...heartbeat('a', 'b'), type: 'prop' }]), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => a!.transport.send([heartbeat('b', 'a')]), { code: 'PGHERD_ASSERTION_FAILED', message: /from 'b'/ });
});

test('setPeers adds, removes and re-addresses peers', async (t) => {
  const [a, b] = await startCluster(t, ['a', 'b']);
  a!.transport.setPeers(new Map());
  a!.transport.send([heartbeat('a', 'b')]);
  t.is(a!.transport.stats().unknownPeerDroppedTotal, 1);
  t.deepEqual(Object.keys(a!.transport.stats().peers), []);

  const c = await startNode(t, { id: 'c', peers: new Map([['a', a!.transport.boundAddress]]) });
  // 'b' now lives at c's address: a's old link to b closes; c drops what is addressed to b.
  a!.transport.setPeers(new Map([['b', c.transport.boundAddress]]));
  a!.transport.send([heartbeat('a', 'b')]);
  await waitFor('wrong recipient dropped', () => c.transport.stats().incomingDroppedTotal === 1);
  t.like(c.logs.find((l) => l.event === 'transport.incomingDropped')?.fields, { reason: 'wrongRecipient', to: 'b' });

  a!.transport.setPeers(new Map([['b', b!.transport.boundAddress], ['c', c.transport.boundAddress]]));
  a!.transport.send([heartbeat('a', 'b'), heartbeat('a', 'c')]);
  await waitFor('both delivered', () => b!.received.length === 1 && c.received.length === 1);
  t.true(a!.logs.some((l) => l.event === 'transport.peerReaddressed'));
  t.true(a!.logs.some((l) => l.event === 'transport.peerRemoved'));
});

test('stop() is idempotent, closes everything and silences callbacks', async (t) => {
  const dead = await deadAddress();
  const [a, b] = await startCluster(t, ['a', 'b']);
  a!.transport.setPeers(new Map([['b', b!.transport.boundAddress], ['dead', dead]]));
  a!.transport.send([heartbeat('a', 'b'), heartbeat('a', 'dead')]);
  await waitFor('delivered', () => b!.received.length === 1);
  const stopping = a!.transport.stop();
  t.is(a!.transport.stop(), stopping);
  await stopping;
  const unreachableAtStop = a!.unreachable.length;
  a!.transport.send([heartbeat('a', 'b')]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(a!.unreachable.length, unreachableAtStop);
  t.is(b!.received.length, 1);
  t.true(a!.logs.some((l) => l.event === 'transport.stopped'));
  // Leaked handles would make ava time out: the server, channels and timers are all closed here.
});

/** An address nobody listens on: a port the OS just handed out and we did not keep. */
async function deadAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

import test, { type ExecutionContext } from 'ava';
import type { NodeId } from '../../../src/raft/core/types.js';
import type { CandidatePosition, CandidatePositionAnswer, TransportOptions } from '../../../src/raft/transport/grpc-transport.js';
import { link, SLACK_MS, startTransportNode, TEST_CLUSTER as CLUSTER, timed, type TransportNode, type TransportNodeOptions } from '../../helpers/transport-node.js';
import { freePort } from '../../../scripts/lib/free-port.js';

interface Node extends TransportNode {
  /** How often onPositionRequest was called. */
  readonly asked: { count: number };
}

interface NodeOptions extends Omit<TransportNodeOptions, 'callbacks'> {
  /** undefined: no onPositionRequest configured. */
  readonly answer?: TransportOptions['onPositionRequest'];
}

async function startNode(t: ExecutionContext, options: NodeOptions): Promise<Node> {
  const asked = { count: 0 };
  const answer = options.answer;
  const callbacks =
    answer === undefined
      ? {}
      : {
          onPositionRequest: () => {
            asked.count += 1;
            return answer();
          },
        };
  return { ...(await startTransportNode(t, { ...options, callbacks })), asked };
}

const replicaAt = (receiveLsn: string | null, timeline: number | null = 3): CandidatePositionAnswer => ({ healthy: true, timeline, receiveLsn, role: 'replica' });
const unreachable = (member: NodeId): CandidatePosition => ({ member, reachable: false, healthy: false, timeline: null, receiveLsn: null });
const never = (): Promise<CandidatePositionAnswer> => new Promise(() => {});

/**
 * Answers the first call (the warm-up that opens the channel, so that a busy
 * machine's connect time does not count against a timed call), then `then`.
 */
function afterWarmUp(then: () => Promise<CandidatePositionAnswer> | CandidatePositionAnswer): () => Promise<CandidatePositionAnswer> | CandidatePositionAnswer {
  let calls = 0;
  return () => (calls++ === 0 ? replicaAt('0/1') : then());
}

async function warmUp(from: Node, peers: readonly NodeId[]): Promise<void> {
  const answers = await from.transport.queryPositions(peers, 10_000);
  if (!answers.every((a) => a.reachable)) throw new Error(`warm-up failed: ${JSON.stringify(answers)}`);
}


test('an answer is mapped: fields kept, canonical LSN, 0 and empty mean unknown', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/3000060', 7) });
  const c = await startNode(t, { id: 'c', answer: async () => ({ healthy: false, timeline: null, receiveLsn: null, role: 'stopped' }) });
  const d = await startNode(t, { id: 'd', answer: () => replicaAt('1/0000ABCD', 2) });
  link([leader, b, c, d]);
  t.deepEqual(await leader.transport.queryPosition('b', 2_000), { member: 'b', reachable: true, healthy: true, timeline: 7, receiveLsn: '0/3000060' });
  t.deepEqual(await leader.transport.queryPosition('c', 2_000), { member: 'c', reachable: true, healthy: false, timeline: null, receiveLsn: null });
  t.deepEqual(await leader.transport.queryPosition('d', 2_000), { member: 'd', reachable: true, healthy: true, timeline: 2, receiveLsn: '1/ABCD' });
  t.is(b.asked.count, 1);
  t.true(leader.logs.some((l) => l.event === 'transport.positionAnswered' && l.fields['peer'] === undefined && l.fields['member'] === 'b' && l.fields['role'] === 'replica'));
  // The unary call rides on each peer's existing link (its channel); no link is added for it.
  t.deepEqual(Object.keys(leader.transport.stats().peers).sort(), ['b', 'c', 'd']);
});

test('repeated queries reuse the channel and keep answering', async (t) => {
  let lsn = 0x1000;
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => replicaAt(`0/${(lsn += 0x10).toString(16).toUpperCase()}`) });
  link([leader, b]);
  const answers = [];
  for (let i = 0; i < 20; i += 1) answers.push(await leader.transport.queryPosition('b', 2_000));
  t.true(answers.every((p) => p.reachable && p.healthy));
  t.is(answers.at(-1)?.receiveLsn, '0/1140');
  t.is(b.asked.count, 20);
});

test('a callback that never resolves: unreachable within the deadline plus slack', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: afterWarmUp(never) });
  link([leader, b]);
  await warmUp(leader, ['b']);
  const timeoutMs = 300;
  const { value, ms } = await timed(leader.transport.queryPosition('b', timeoutMs));
  t.deepEqual(value, unreachable('b'));
  t.true(ms >= timeoutMs - 20, `answered after ${ms} ms, before the deadline`);
  t.true(ms < timeoutMs + SLACK_MS, `answered after ${ms} ms`);
  t.is(b.asked.count, 2);
  const line = leader.logs.find((l) => l.event === 'transport.positionUnreachable');
  t.regex(String(line?.fields['reason']), /DEADLINE_EXCEEDED/);
});

test('the server bounds the callback by positionAnswerMsMax when the caller allows more', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: afterWarmUp(never), limits: { positionAnswerMsMax: 100 } });
  link([leader, b]);
  await warmUp(leader, ['b']);
  const { value, ms } = await timed(leader.transport.queryPosition('b', 10_000));
  t.deepEqual(value, unreachable('b'));
  t.true(ms < 100 + SLACK_MS, `answered after ${ms} ms`);
  t.true(b.logs.some((l) => l.event === 'transport.positionAnswerTimedOut' && l.level === 'warn'));
  t.regex(String(leader.logs.find((l) => l.event === 'transport.positionUnreachable')?.fields['reason']), /DEADLINE_EXCEEDED: node 'b' found no position/);
});

test('a stopped peer gives unreachable quickly', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/1') });
  link([leader, b]);
  t.true((await leader.transport.queryPosition('b', 2_000)).reachable);
  await b.transport.stop();
  const timeoutMs = 5_000;
  const { value, ms } = await timed(leader.transport.queryPosition('b', timeoutMs));
  t.deepEqual(value, unreachable('b'));
  t.true(ms < 1_500, `refused connection noticed after ${ms} ms, not at the ${timeoutMs} ms deadline`);
});

test('a peer address nobody ever listened on gives unreachable quickly', async (t) => {
  const leader = await startNode(t, { id: 'a', peers: new Map([['dead', await deadAddress()]]) });
  const { value, ms } = await timed(leader.transport.queryPosition('dead', 5_000));
  t.deepEqual(value, unreachable('dead'));
  t.true(ms < 1_500, `after ${ms} ms`);
});

test('an unknown peer id, or a stopped transport, gives unreachable at once', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  t.deepEqual(await leader.transport.queryPosition('nobody', 1_000), unreachable('nobody'));
  t.deepEqual(await leader.transport.queryPosition('a', 1_000), unreachable('a'), 'itself is not a peer');
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/1') });
  link([leader, b]);
  await leader.transport.stop();
  t.deepEqual(await leader.transport.queryPosition('b', 1_000), unreachable('b'));
  t.is(b.asked.count, 0);
});

test('another cluster is refused: unreachable on the client, logged by the server', async (t) => {
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/1') });
  const impostor = await startNode(t, { id: 'a', clusterName: 'pg-other', peers: new Map([['b', b.transport.boundAddress]]) });
  b.transport.setPeers(new Map([['a', impostor.transport.boundAddress]]));
  t.deepEqual(await impostor.transport.queryPosition('b', 2_000), unreachable('b'));
  t.is(b.asked.count, 0);
  const refused = b.logs.find((l) => l.event === 'transport.positionRequestRefused');
  t.is(refused?.level, 'warn');
  t.like(refused?.fields, { reason: 'wrongCluster', cluster: 'pg-other', from: 'a', to: 'b' });
  const client = impostor.logs.find((l) => l.event === 'transport.positionRefused');
  t.is(client?.level, 'warn');
  t.regex(String(client?.fields['reason']), /PERMISSION_DENIED: .*'a' of cluster 'pg-other'/);
});

test('an unknown sender is refused: unreachable on the client, logged by the server', async (t) => {
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/1') });
  const stranger = await startNode(t, { id: 'x', peers: new Map([['b', b.transport.boundAddress]]) });
  t.deepEqual(await stranger.transport.queryPosition('b', 2_000), unreachable('b'));
  t.is(b.asked.count, 0);
  t.like(b.logs.find((l) => l.event === 'transport.positionRequestRefused')?.fields, { reason: 'unknownPeer', from: 'x', cluster: CLUSTER });
  t.regex(String(stranger.logs.find((l) => l.event === 'transport.positionRefused')?.fields['reason']), /PERMISSION_DENIED: .*'x'.*not a peer/);
});

test('a request reaching another node than addressed is refused (FAILED_PRECONDITION)', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const c = await startNode(t, { id: 'c', answer: () => replicaAt('0/1'), peers: new Map([['a', leader.transport.boundAddress]]) });
  // 'b' now lives at c's address.
  leader.transport.setPeers(new Map([['b', c.transport.boundAddress]]));
  t.deepEqual(await leader.transport.queryPosition('b', 2_000), unreachable('b'));
  t.is(c.asked.count, 0);
  t.like(c.logs.find((l) => l.event === 'transport.positionRequestRefused')?.fields, { reason: 'wrongRecipient', to: 'b' });
  t.regex(String(leader.logs.find((l) => l.event === 'transport.positionRefused')?.fields['reason']), /FAILED_PRECONDITION/);
});

test('no onPositionRequest configured: UNIMPLEMENTED, unreachable', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b' });
  link([leader, b]);
  t.deepEqual(await leader.transport.queryPosition('b', 2_000), unreachable('b'));
  t.regex(String(leader.logs.find((l) => l.event === 'transport.positionRefused')?.fields['reason']), /UNIMPLEMENTED/);
});

test('a callback that throws: UNAVAILABLE with its message, unreachable', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, {
    id: 'b',
    answer: () => {
      throw new Error('PostgreSQL is not answering');
    },
  });
  const c = await startNode(t, { id: 'c', answer: () => Promise.reject(new Error('query timed out')) });
  link([leader, b, c]);
  t.deepEqual(await leader.transport.queryPositions(['b', 'c'], 2_000), [unreachable('b'), unreachable('c')]);
  const reasons = leader.logs.filter((l) => l.event === 'transport.positionUnreachable').map((l) => String(l.fields['reason']));
  t.true(reasons.some((r) => /UNAVAILABLE: .*PostgreSQL is not answering/.test(r)), reasons.join('; '));
  t.true(reasons.some((r) => /UNAVAILABLE: .*query timed out/.test(r)), reasons.join('; '));
  t.true(b.logs.some((l) => l.event === 'transport.positionUnavailable' && l.level === 'warn'));
});

test('an invalid receive_lsn: reachable, unhealthy, no position, warned', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('not-an-lsn', 4) });
  link([leader, b]);
  t.deepEqual(await leader.transport.queryPosition('b', 2_000), { member: 'b', reachable: true, healthy: false, timeline: 4, receiveLsn: null });
  const warned = leader.logs.find((l) => l.event === 'transport.positionInvalidLsn');
  t.is(warned?.level, 'warn');
  t.like(warned?.fields, { peer: 'b', receiveLsn: 'not-an-lsn' });
});

test('an answer the wire cannot carry is refused by its own server (INTERNAL), unreachable', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => ({ healthy: true, timeline: -1, receiveLsn: '0/1', role: 'replica' }) });
  link([leader, b]);
  t.deepEqual(await leader.transport.queryPosition('b', 2_000), unreachable('b'));
  t.like(b.logs.find((l) => l.event === 'transport.positionAnswerInvalid'), { level: 'error' });
});

test('queryPositions over 3 peers with one dead: 3 answers within the deadline', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: () => replicaAt('0/5000') });
  const c = await startNode(t, { id: 'c', answer: async () => replicaAt('0/6000', 4) });
  const d = await startNode(t, { id: 'd', answer: afterWarmUp(never) });
  link([leader, b, c, d]);
  await warmUp(leader, ['b', 'c', 'd']);
  const timeoutMs = 400;
  const { value, ms } = await timed(leader.transport.queryPositions(['b', 'c', 'd'], timeoutMs));
  t.deepEqual(value, [
    { member: 'b', reachable: true, healthy: true, timeline: 3, receiveLsn: '0/5000' },
    { member: 'c', reachable: true, healthy: true, timeline: 4, receiveLsn: '0/6000' },
    unreachable('d'),
  ]);
  t.true(ms < timeoutMs + SLACK_MS, `all answers after ${ms} ms`);

  // And with a peer that is down altogether (connection refused) rather than hanging.
  await d.transport.stop();
  const again = await timed(leader.transport.queryPositions(['b', 'c', 'd'], timeoutMs));
  t.deepEqual(again.value.map((p) => p.reachable), [true, true, false]);
  t.true(again.ms < timeoutMs + SLACK_MS, `all answers after ${again.ms} ms`);
});

test('stopping the transport ends position calls in flight on both sides', async (t) => {
  const leader = await startNode(t, { id: 'a' });
  const b = await startNode(t, { id: 'b', answer: never });
  link([leader, b]);
  const pending = timed(leader.transport.queryPosition('b', 10_000));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await leader.transport.stop();
  const { value, ms } = await pending;
  t.deepEqual(value, unreachable('b'));
  t.true(ms < 2_000, `after ${ms} ms`);

  const leader2 = await startNode(t, { id: 'a' });
  const b2 = await startNode(t, { id: 'b', answer: never });
  link([leader2, b2]);
  const pending2 = timed(leader2.transport.queryPosition('b', 10_000));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await b2.transport.stop();
  const second = await pending2;
  t.deepEqual(second.value, unreachable('b'));
  t.true(second.ms < 2_000, `after ${second.ms} ms`);
});

/** An address nobody listens on: a port the OS just handed out and we did not keep. */
async function deadAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

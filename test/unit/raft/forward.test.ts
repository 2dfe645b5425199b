import test, { type ExecutionContext } from 'ava';
import {
  NotLeaderError,
  ProposalDroppedError,
  ProposalRefusedError,
  RaftStoppedError,
  RaftTimeoutError,
} from '../../../src/lib/errors.js';
import type { NodeId } from '../../../src/raft/core/types.js';
import type { ProposeHandler } from '../../../src/raft/transport/grpc-transport.js';
import { link, SLACK_MS, startTransportNode, timed, type TransportNode, type TransportNodeOptions } from '../../helpers/transport-node.js';

interface Node extends TransportNode {
  /** The (data, timeoutMs) of every onProposeRequest call. */
  readonly calls: Array<{ data: Uint8Array; timeoutMs: number }>;
}

interface NodeOptions extends Omit<TransportNodeOptions, 'callbacks'> {
  /** undefined: no onProposeRequest configured. */
  readonly handler?: ProposeHandler;
}

async function startNode(t: ExecutionContext, options: NodeOptions): Promise<Node> {
  const calls: Node['calls'] = [];
  const handler = options.handler;
  const callbacks =
    handler === undefined
      ? {}
      : {
          onProposeRequest: (data: Uint8Array, timeoutMs: number) => {
            calls.push({ data, timeoutMs });
            return handler(data, timeoutMs);
          },
        };
  return { ...(await startTransportNode(t, { ...options, callbacks })), calls };
}

const text = (value: string) => new TextEncoder().encode(value);
/** Answers 'warm' (to open the connection before a timed call, so a busy machine's connect time does not count); never anything else. */
const hangsAfterWarmUp: ProposeHandler = (data) => (new TextDecoder().decode(data) === 'warm' ? Promise.resolve(text('ok')) : new Promise(() => {}));

async function warmUp(from: Node, to: NodeId): Promise<void> {
  await from.transport.forwardProposal(to, text('warm'), 10_000);
}


test('a forwarded proposal returns the bytes the leader answered; the leader gets the data and at most the timeout', async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b', handler: async (data) => text(`applied ${new TextDecoder().decode(data)}`) });
  link([follower, leader]);
  const result = await follower.transport.forwardProposal('b', text('renewLease'), 2_000);
  t.deepEqual(result, text('applied renewLease'));
  t.is(leader.calls.length, 1);
  t.deepEqual(new Uint8Array(leader.calls[0]!.data), text('renewLease'));
  t.true(leader.calls[0]!.timeoutMs > 0 && leader.calls[0]!.timeoutMs <= 2_000, `callee got ${leader.calls[0]!.timeoutMs} ms`);
  // Empty results travel too (proto3 defaults), and the call rides on the existing link.
  const empty = await startNode(t, { id: 'c', handler: async () => new Uint8Array() });
  link([follower, leader, empty]);
  t.deepEqual(await follower.transport.forwardProposal('c', text('x'), 2_000), new Uint8Array());
  t.deepEqual(Object.keys(follower.transport.stats().peers).sort(), ['b', 'c']);
  t.true(follower.logs.some((l) => l.event === 'transport.proposalForwarded' && l.level === 'debug' && l.fields['peer'] === 'b'));
});

test("the leader's typed rejections come back as the same typed errors", async (t) => {
  let rejectWith: () => Error = () => new Error('unset');
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b', handler: () => Promise.reject(rejectWith()) });
  link([follower, leader]);
  const forward = () => follower.transport.forwardProposal('b', text('x'), 2_000);

  rejectWith = () => new NotLeaderError('c');
  t.is((await t.throwsAsync(forward(), { instanceOf: NotLeaderError, code: 'PGHERD_RAFT_NOT_LEADER' }))?.leaderId, 'c');
  rejectWith = () => new NotLeaderError('');
  t.is((await t.throwsAsync(forward(), { instanceOf: NotLeaderError }))?.leaderId, '');
  rejectWith = () => new RaftTimeoutError('proposal', 5);
  await t.throwsAsync(forward(), { instanceOf: RaftTimeoutError, code: 'PGHERD_RAFT_TIMEOUT' });
  rejectWith = () => new ProposalDroppedError('entry 7 was replaced by a leader of term 3');
  await t.throwsAsync(forward(), { instanceOf: ProposalDroppedError, code: 'PGHERD_RAFT_PROPOSAL_DROPPED', message: /UNAVAILABLE: .*entry 7 was replaced/ });
  rejectWith = () => new RaftStoppedError();
  await t.throwsAsync(forward(), { instanceOf: RaftStoppedError, code: 'PGHERD_RAFT_STOPPED' });
  rejectWith = () => new ProposalRefusedError('command.member: Required');
  await t.throwsAsync(forward(), { instanceOf: ProposalRefusedError, code: 'PGHERD_RAFT_PROPOSAL_REFUSED', message: /INVALID_ARGUMENT: .*command\.member/ });
  t.true(leader.logs.some((l) => l.event === 'transport.proposeRejected' && l.level === 'warn'));
  t.true(follower.logs.some((l) => l.event === 'transport.proposalRefused' && l.level === 'warn'));

  // Anything else is a bug on the leader: INTERNAL, logged there at error; the sender sees a dropped proposal.
  rejectWith = () => new TypeError('oops');
  await t.throwsAsync(forward(), { instanceOf: ProposalDroppedError, message: /INTERNAL: .*oops/ });
  t.true(leader.logs.some((l) => l.event === 'transport.proposeHandlerFailed' && l.level === 'error'));
  t.is(leader.calls.length, 7);
});

test('another cluster and an unknown sender are refused before the handler runs', async (t) => {
  const leader = await startNode(t, { id: 'b', handler: async () => text('ok') });
  const impostor = await startNode(t, { id: 'a', clusterName: 'pg-other', peers: new Map([['b', leader.transport.boundAddress]]) });
  leader.transport.setPeers(new Map([['a', impostor.transport.boundAddress]]));
  await t.throwsAsync(impostor.transport.forwardProposal('b', text('x'), 2_000), { instanceOf: ProposalRefusedError, message: /PERMISSION_DENIED: .*'a' of cluster 'pg-other'/ });
  const stranger = await startNode(t, { id: 'x', peers: new Map([['b', leader.transport.boundAddress]]) });
  await t.throwsAsync(stranger.transport.forwardProposal('b', text('x'), 2_000), { instanceOf: ProposalRefusedError, message: /PERMISSION_DENIED: .*'x'.*not a peer/ });
  t.is(leader.calls.length, 0);
  const refusals = leader.logs.filter((l) => l.event === 'transport.proposeRequestRefused');
  t.deepEqual(refusals.map((l) => [l.level, l.fields['reason']]), [['warn', 'wrongCluster'], ['warn', 'unknownPeer']]);
});

test('a proposal reaching another node than addressed reads as "no leader known"', async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const c = await startNode(t, { id: 'c', handler: async () => text('ok'), peers: new Map([['a', follower.transport.boundAddress]]) });
  // 'b' now lives at c's address.
  follower.transport.setPeers(new Map([['b', c.transport.boundAddress]]));
  const error = await t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 2_000), { instanceOf: NotLeaderError });
  t.is(error?.leaderId, '');
  t.is(c.calls.length, 0);
});

test('no onProposeRequest configured: refused (UNIMPLEMENTED)', async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b' });
  link([follower, leader]);
  await t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 2_000), { instanceOf: ProposalRefusedError, message: /UNIMPLEMENTED/ });
});

test("a handler that never answers: RaftTimeoutError at the caller's deadline; the callee was given no more", async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b', handler: hangsAfterWarmUp });
  link([follower, leader]);
  await warmUp(follower, 'b');
  const timeoutMs = 300;
  const { value: error, ms } = await timed(t.throwsAsync(follower.transport.forwardProposal('b', text('x'), timeoutMs), { instanceOf: RaftTimeoutError }));
  t.regex(error?.message ?? '', /forwarded to b did not complete within 300 ms/);
  t.true(ms >= timeoutMs - 20, `failed after ${ms} ms, before the deadline`);
  t.true(ms < timeoutMs + SLACK_MS, `failed after ${ms} ms`);
  t.true(leader.calls[1]!.timeoutMs <= timeoutMs, `callee got ${leader.calls[1]!.timeoutMs} ms`);
});

test('the leader bounds the handler by proposeAnswerMsMax when the caller allows more', async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b', handler: hangsAfterWarmUp, limits: { proposeAnswerMsMax: 100 } });
  link([follower, leader]);
  await warmUp(follower, 'b');
  const { ms } = await timed(t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 10_000), { instanceOf: RaftTimeoutError }));
  t.true(ms < 100 + SLACK_MS, `failed after ${ms} ms`);
  t.is(leader.calls[1]!.timeoutMs, 100);
  t.true(leader.logs.some((l) => l.event === 'transport.proposeTimedOut'));
});

test('an unknown peer drops; a stopped transport, or one stopping mid-call, reports itself stopped; a stopping leader drops', async (t) => {
  const follower = await startNode(t, { id: 'a' });
  const leader = await startNode(t, { id: 'b', handler: hangsAfterWarmUp });
  link([follower, leader]);
  await t.throwsAsync(follower.transport.forwardProposal('nobody', text('x'), 1_000), { instanceOf: ProposalDroppedError, message: /no address known for nobody/ });

  // The leader's transport stops with the call open: UNAVAILABLE, the proposal's fate is the sender's to retry.
  const pending = timed(t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 10_000), { instanceOf: ProposalDroppedError }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await leader.transport.stop();
  t.true((await pending).ms < 2_000);

  const leader2 = await startNode(t, { id: 'b', handler: hangsAfterWarmUp });
  link([follower, leader2]);
  const ownStop = timed(t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 10_000), { instanceOf: RaftStoppedError }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await follower.transport.stop();
  t.true((await ownStop).ms < 2_000);
  await t.throwsAsync(follower.transport.forwardProposal('b', text('x'), 1_000), { instanceOf: RaftStoppedError });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { encodeCommand, type ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ApplyResult } from '../../../src/cluster/results.js';
import { ClusterStateMachine, type AppliedEvent } from '../../../src/cluster/state-machine.js';
import { ClusterStore, type ProposalForwarder } from '../../../src/cluster/store.js';
import { NotLeaderError, ProposalRefusedError, RaftTimeoutError } from '../../../src/lib/errors.js';
import { RaftDriver, type RaftDriverOptions } from '../../../src/raft/driver/raft-driver.js';
import { register, TEST_CREDENTIALS } from './helpers.js';
import { MemoryHub, startHubDriver } from '../../helpers/memory-hub.js';
import { until } from '../../helpers/wait.js';


interface Node {
  readonly id: string;
  readonly driver: RaftDriver<ApplyResult>;
  readonly store: ClusterStore;
}

interface NodeOptions {
  readonly extra?: Partial<RaftDriverOptions<ApplyResult>>;
  /** Serve forwarded proposals, and forward this node's own to the leader (through the hub). */
  readonly forwarding?: boolean;
  /** Wraps the hub forwarder (to script a peer's answers). */
  readonly wrapForward?: (forward: ProposalForwarder) => ProposalForwarder;
}

async function startNode(t: ExecutionContext, hub: MemoryHub, dir: string, id: string, ids: string[], options: NodeOptions = {}): Promise<Node> {
  const machine = new ClusterStateMachine();
  // The store exists only once the driver runs; forwarded proposals arrive later still.
  const serving: { store?: ClusterStore } = {};
  const onProposeRequest = (data: Uint8Array, timeoutMs: number) => serving.store?.proposeEncoded(data, timeoutMs) ?? Promise.reject(new NotLeaderError(''));
  const driver = await startHubDriver(t, { hub, dir, id, ids, stateMachine: machine, extra: options.extra ?? {}, ...(options.forwarding ? { onProposeRequest } : {}) });
  const viaHub: ProposalForwarder = (leaderId, data, timeoutMs) => hub.transports.get(id)!.forwardProposal!(leaderId, data, timeoutMs);
  const forward = options.forwarding ? (options.wrapForward?.(viaHub) ?? viaHub) : undefined;
  serving.store = new ClusterStore(driver, machine, { forward });
  return { id, driver, store: serving.store };
}

interface Cluster {
  readonly leader: Node;
  readonly followers: Node[];
  readonly hub: MemoryHub;
  readonly restart: (node: Node) => Promise<Node>;
}

async function startCluster(t: ExecutionContext, options: NodeOptions = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids, options)));
  await until('a leader known to all', () => nodes.some((n) => n.driver.isLeader()) && nodes.every((n) => n.driver.leaderId() !== ''));
  const leader = nodes.find((n) => n.driver.isLeader())!;
  const restart = async (node: Node) => {
    await node.driver.stop();
    return startNode(t, hub, dir, node.id, ids, options);
  };
  return { leader, followers: nodes.filter((n) => n !== leader), hub, restart };
}


const BOOTSTRAP: ClusterCommandInput[] = [
  register('n1'),
  register('n2'),
  register('n3'),
  { type: 'initializeClaim', atMs: 10, member: 'n1' },
  { type: 'initializeDone', atMs: 11, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS },
  { type: 'promote', atMs: 12, candidate: 'n1', expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' },
];

test('commands proposed on the leader are read linearizably on a follower', async (t) => {
  const { leader, followers } = await startCluster(t);
  const follower = followers[0]!;
  const seen: AppliedEvent[] = [];
  const unsubscribe = follower.store.on('applied', (event) => seen.push(event));
  for (const command of BOOTSTRAP) t.true((await leader.store.propose(command)).ok, command.type);
  t.deepEqual(await leader.store.propose({ type: 'renewLease', atMs: 13, member: 'n1', epoch: 1 }), { ok: true, epoch: 1, seq: 1 });
  const refused = await leader.store.propose({ type: 'renewLease', atMs: 14, member: 'n2', epoch: 1 });
  t.is(refused.ok ? '' : refused.code, 'NOT_LEADER_HOLDER');

  const state = await follower.store.read();
  t.deepEqual(Object.keys(state.members).sort(), ['n1', 'n2', 'n3']);
  t.deepEqual(state.leader, { member: 'n1', epoch: 1, timeline: 1, sinceMs: 12, lastRenewal: { atMs: 13, seq: 1 } });
  t.is(state.initialize?.systemIdentifier, '7301234567890123456');
  t.deepEqual(state, await leader.store.read());
  t.is(follower.store.local(), state);
  const renewal = seen.find((e) => e.command?.type === 'renewLease' && e.result.ok);
  t.truthy(renewal, 'the follower saw the renewal applied');
  unsubscribe();
  const count = seen.length;
  await leader.store.propose({ type: 'setPause', atMs: 15, paused: true, by: 'operator' });
  await follower.store.read();
  t.is(seen.length, count, 'no events after unsubscribing');
  t.true(follower.store.local().pause.paused);
});

test('a follower refuses proposals with the driver error; concurrent promotes: exactly one wins', async (t) => {
  const { leader, followers } = await startCluster(t);
  await t.throwsAsync(followers[0]!.store.propose({ type: 'setPause', atMs: 1, paused: true, by: 'x' }), { code: 'PGHERD_RAFT_NOT_LEADER' });
  for (const command of BOOTSTRAP) await leader.store.propose(command);
  const promote = (candidate: string): ClusterCommandInput => ({ type: 'promote', atMs: 20, candidate, expectedEpoch: 1, timeline: 2, reason: 'LEASE_EXPIRED', kind: 'failover', switchLsn: '0/5000000' });
  const results = await Promise.all([leader.store.propose(promote('n2')), leader.store.propose(promote('n3'))]);
  t.deepEqual(results.map((r) => (r.ok ? 'ok' : r.code)).sort(), ['EPOCH_MISMATCH', 'ok']);
  const state = await followers[1]!.store.read();
  t.is(state.epoch, 2);
  t.is(state.history.length, 1);
});

test('a restarted follower recovers the state from its compacted log and cluster-state snapshot', async (t) => {
  const { leader, followers, restart } = await startCluster(t, { extra: { snapshotEveryEntries: 4, compactionKeepEntries: 1 } });
  for (const command of BOOTSTRAP) await leader.store.propose(command);
  for (let seq = 1; seq <= 6; seq++) await leader.store.propose({ type: 'renewLease', atMs: 100 + seq, member: 'n1', epoch: 1 });
  const follower = followers[0]!;
  const before = await follower.store.read();
  t.deepEqual(before.leader?.lastRenewal, { atMs: 106, seq: 6 });
  t.true(follower.driver.status().snapshotIndex > 0, 'the follower took a snapshot');
  const restarted = await restart(follower);
  await until('the restarted follower caught up', () => restarted.store.local().leader?.lastRenewal.seq === 6);
  // The state comes back from the local snapshot and log before the first heartbeat; a linearizable read needs a known leader.
  await until('the restarted follower knows the leader', () => restarted.driver.leaderId() !== '');
  t.deepEqual(await restarted.store.read(), before);
});

/** BOOTSTRAP with `primary` as the PostgreSQL primary (leader key holder, epoch 1). */
function bootstrapWith(primary: string): ClusterCommandInput[] {
  return [
    register('n1'),
    register('n2'),
    register('n3'),
    { type: 'initializeClaim', atMs: 10, member: primary },
    { type: 'initializeDone', atMs: 11, member: primary, systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS },
    { type: 'promote', atMs: 12, candidate: primary, expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' },
  ];
}

test('a follower forwards proposals to the leader: committed there, the same result objects as the leader applied', async (t) => {
  const { leader, followers } = await startCluster(t, { forwarding: true });
  // The usual layout: PostgreSQL's primary runs on a node that is not the Raft leader.
  const primary = followers[0]!;
  const applied: AppliedEvent[] = [];
  leader.store.on('applied', (event) => applied.push(event));
  const lastApplied = (): ApplyResult | undefined => applied.at(-1)?.result;

  for (const command of bootstrapWith(primary.id)) {
    const result = await primary.store.propose(command);
    t.true(result.ok, command.type);
    t.deepEqual(result, lastApplied(), command.type);
  }
  t.deepEqual(await primary.store.propose({ type: 'renewLease', atMs: 13, member: primary.id, epoch: 1 }), { ok: true, epoch: 1, seq: 1 });
  t.deepEqual(lastApplied(), { ok: true, epoch: 1, seq: 1 });
  t.deepEqual(await leader.store.propose({ type: 'renewLease', atMs: 14, member: primary.id, epoch: 1 }), { ok: true, epoch: 1, seq: 2 }, 'the same on the leader');

  // A refused command is a result, forwarded back like any other.
  const refused = await primary.store.propose({ type: 'renewLease', atMs: 15, member: leader.id, epoch: 1 });
  t.like(refused, { ok: false, code: 'NOT_LEADER_HOLDER' });
  t.deepEqual(refused, lastApplied());
  const stale = await followers[1]!.store.propose({ type: 'promote', atMs: 16, candidate: followers[1]!.id, expectedEpoch: 0, timeline: 2, reason: 'x', kind: 'failover', switchLsn: '0/1' });
  t.like(stale, { ok: false, code: 'EPOCH_MISMATCH' });

  const state = await leader.store.read();
  t.deepEqual(state.leader?.lastRenewal, { atMs: 14, seq: 2 });
  t.is(state.leader?.member, primary.id);
  t.deepEqual(await primary.store.read(), state);
});

test('a forwarding node with no known leader refuses with NotLeaderError', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // One of three voters alone never learns of a leader.
  const lone = await startNode(t, new MemoryHub(), dir, 'n1', ['n1', 'n2', 'n3'], { forwarding: true });
  t.is(lone.driver.leaderId(), '');
  const error = await t.throwsAsync(lone.store.propose({ type: 'setPause', atMs: 1, paused: true, by: 'x' }), { instanceOf: NotLeaderError, code: 'PGHERD_RAFT_NOT_LEADER' });
  t.is(error?.leaderId, '');
});

test('a follower with a stale leader view retries once at the leader the old one names', async (t) => {
  // A long election timeout: the cut follower must not give up on its old leader while the test runs.
  const { leader, followers, hub } = await startCluster(t, { forwarding: true, extra: { electionTicks: 100 } });
  const [stale, next] = [followers[0]!, followers[1]!];
  hub.cut.add(stale.id);
  leader.driver.transferLeadership(next.id);
  await until('the transfer', () => next.driver.isLeader() && leader.driver.leaderId() === next.id);
  t.is(stale.driver.leaderId(), leader.id, 'the cut follower still believes in the old leader');
  hub.cut.delete(stale.id);
  const nextApplied: AppliedEvent[] = [];
  next.store.on('applied', (event) => nextApplied.push(event));
  const result = await stale.store.propose({ type: 'setPause', atMs: 1, paused: true, by: 'operator' });
  t.deepEqual(result, { ok: true, changed: true });
  t.deepEqual(nextApplied.at(-1)?.result, result, 'committed by the new leader');
});

test('retries are bounded: a second refusal is thrown, not chased', async (t) => {
  const calls: string[] = [];
  const { leader, followers } = await startCluster(t, {
    forwarding: true,
    wrapForward: (forward) => (leaderId, data, timeoutMs) => {
      calls.push(leaderId);
      // The first node asked names the other follower, which names the real leader: two hops, then stop.
      return calls.length === 1 ? Promise.reject(new NotLeaderError(other)) : forward(leaderId, data, timeoutMs);
    },
  });
  const [asking, otherNode] = [followers[0]!, followers[1]!];
  const other = otherNode.id;
  const error = await t.throwsAsync(asking.store.propose({ type: 'setPause', atMs: 1, paused: true, by: 'x' }), { instanceOf: NotLeaderError });
  t.is(error?.leaderId, leader.id);
  t.deepEqual(calls, [leader.id, other]);
});

test('a forwarded proposal that cannot reach the leader times out within its timeout', async (t) => {
  const { leader, followers, hub } = await startCluster(t, { forwarding: true, extra: { electionTicks: 100 } });
  hub.cut.add(leader.id);
  const timeoutMs = 200;
  const started = performance.now();
  await t.throwsAsync(followers[0]!.store.propose({ type: 'setPause', atMs: 1, paused: true, by: 'x' }, timeoutMs), { instanceOf: RaftTimeoutError, code: 'PGHERD_RAFT_TIMEOUT' });
  const elapsedMs = performance.now() - started;
  t.true(elapsedMs >= timeoutMs - 20 && elapsedMs < timeoutMs + 1_000, `after ${elapsedMs} ms`);
});

test('proposeEncoded refuses bytes that do not decode, naming the field; a follower answers NotLeaderError with its leader', async (t) => {
  const { leader, followers } = await startCluster(t, { forwarding: true });
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const error = await t.throwsAsync(leader.store.proposeEncoded(bytes({ v: 1, command: { type: 'setPause', atMs: 1, paused: 'yes', by: 'x' } }), 1_000), {
    instanceOf: ProposalRefusedError,
    code: 'PGHERD_RAFT_PROPOSAL_REFUSED',
  });
  t.regex(error?.message ?? '', /command\.paused/);
  t.is(leader.driver.status().pendingProposals, 0, 'nothing proposed');
  const notLeader = await t.throwsAsync(followers[0]!.store.proposeEncoded(encodeCommand({ type: 'setPause', atMs: 1, paused: true, by: 'x' }), 1_000), { instanceOf: NotLeaderError });
  t.is(notLeader?.leaderId, leader.id);
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ApplyResult } from '../../../src/cluster/results.js';
import { ClusterStateMachine, type AppliedEvent } from '../../../src/cluster/state-machine.js';
import { ClusterStore } from '../../../src/cluster/store.js';
import { RaftDriver, type RaftDriverOptions } from '../../../src/raft/driver/raft-driver.js';
import { register, TEST_CREDENTIALS } from './helpers.js';
import { MemoryHub, startHubDriver } from '../../helpers/memory-hub.js';
import { until } from '../../helpers/wait.js';


interface Node {
  readonly id: string;
  readonly driver: RaftDriver<ApplyResult>;
  readonly store: ClusterStore;
}

async function startNode(t: ExecutionContext, hub: MemoryHub, dir: string, id: string, ids: string[], extra: Partial<RaftDriverOptions<ApplyResult>> = {}): Promise<Node> {
  const machine = new ClusterStateMachine();
  const driver = await startHubDriver(t, { hub, dir, id, ids, stateMachine: machine, extra });
  return { id, driver, store: new ClusterStore(driver, machine) };
}

interface Cluster {
  readonly leader: Node;
  readonly followers: Node[];
  readonly restart: (node: Node) => Promise<Node>;
}

async function startCluster(t: ExecutionContext, extra: Partial<RaftDriverOptions<ApplyResult>> = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids, extra)));
  await until('a leader known to all', () => nodes.some((n) => n.driver.isLeader()) && nodes.every((n) => n.driver.leaderId() !== ''));
  const leader = nodes.find((n) => n.driver.isLeader())!;
  const restart = async (node: Node) => {
    await node.driver.stop();
    return startNode(t, hub, dir, node.id, ids, extra);
  };
  return { leader, followers: nodes.filter((n) => n !== leader), restart };
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
  const { leader, followers, restart } = await startCluster(t, { snapshotEveryEntries: 4, compactionKeepEntries: 1 });
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

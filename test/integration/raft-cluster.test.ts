import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DevCluster, DevRequestError, type DevStatus } from '../../scripts/lib/raft-cluster.js';
import { untilValue as until } from '../helpers/wait.js';


async function statusOf(cluster: DevCluster, id: string): Promise<DevStatus | undefined> {
  return (await cluster.statuses()).find((s) => s.id === id);
}

async function proposeMany(cluster: DevCluster, leader: string, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await cluster.request(leader, { op: 'propose', data: `${prefix}-${i}` });
}

test('three processes over gRPC: elect, replicate, kill the leader, re-elect, catch up through InstallSnapshot, add a member', async (t) => {
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-raft-it-'));
  const cluster = await DevCluster.start({ size: 3, baseDir, snapshotEveryEntries: 40, compactionKeepEntries: 5 });
  t.teardown(async () => {
    await cluster.stopAll();
    await rm(baseDir, { recursive: true, force: true });
  });

  // Elect and replicate.
  let leader = await cluster.waitForLeader(20_000);
  await proposeMany(cluster, leader, 'a', 20);
  await until('every node applied 20 commands', 10_000, async () => {
    const statuses = await cluster.statuses();
    return statuses.length === 3 && statuses.every((s) => s.count === 20) ? true : undefined;
  });

  // A follower refuses proposals with a typed error naming the leader.
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
  const refused = await t.throwsAsync(cluster.request(follower, { op: 'propose', data: 'x' }));
  t.is((refused as DevRequestError).code, 'PGHERD_RAFT_NOT_LEADER');

  // A follower that misses many entries catches up through InstallSnapshot after restart.
  const before = await statusOf(cluster, follower);
  await cluster.kill(follower);
  await proposeMany(cluster, leader, 'b', 120);
  const leaderStatus = await statusOf(cluster, leader);
  t.true(leaderStatus!.firstIndex > before!.lastIndex + 1, 'the leader compacted past what the follower had');
  await cluster.spawn(follower);
  const caughtUp = await until('the restarted follower to catch up', 15_000, async () => {
    const s = await statusOf(cluster, follower);
    return s && s.count === 140 ? s : undefined;
  });
  t.true(caughtUp.snapshotIndex > before!.lastIndex, 'the follower installed a snapshot from the leader');

  // Kill the leader: the other two elect a new one and keep committing.
  await cluster.kill(leader);
  const next = await cluster.waitForLeader(20_000, leader);
  t.not(next, leader);
  await proposeMany(cluster, next, 'c', 10);
  await cluster.spawn(leader);
  leader = next;
  await until('all three at 150', 15_000, async () => {
    const statuses = await cluster.statuses();
    return statuses.length === 3 && statuses.every((s) => s.count === 150) ? true : undefined;
  });

  // Linearizable read on a follower sees everything acknowledged.
  const reader = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
  const read = await cluster.request<{ count: number }>(reader, { op: 'read' });
  t.is(read.count, 150);

  // Membership: a fourth node joins as a learner, catches up, becomes a voter.
  const address = await cluster.addNode('n4');
  await cluster.request(leader, { op: 'membership', change: 'addLearner', member: 'n4', address });
  await until('n4 caught up as a learner', 15_000, async () => {
    const s = await statusOf(cluster, 'n4');
    return s && s.count === 150 ? s : undefined;
  });
  await cluster.request(leader, { op: 'membership', change: 'addVoter', member: 'n4', address });
  const confState = await until('n4 is a voter everywhere', 10_000, async () => {
    const statuses = await cluster.statuses();
    return statuses.length === 4 && statuses.every((s) => s.confState.voters.includes('n4')) ? statuses[0]!.confState : undefined;
  });
  t.deepEqual([...confState.voters].sort(), ['n1', 'n2', 'n3', 'n4']);
  await proposeMany(cluster, leader, 'd', 5);
  await until('all four at 155', 10_000, async () => {
    const statuses = await cluster.statuses();
    return statuses.length === 4 && statuses.every((s) => s.count === 155) ? true : undefined;
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Level } from 'level';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/random.js';
import type { TransportHandlers } from '../../../src/raft/driver/contracts.js';
import { LevelLogStore } from '../../../src/raft/driver/level-storage.js';
import { RaftDriver, type RaftDriverOptions } from '../../../src/raft/driver/raft-driver.js';
import { CounterStateMachine } from '../../../scripts/lib/kv-state-machine.js';
import { MemoryHub, startHubDriver } from '../../helpers/memory-hub.js';
import { until } from '../../helpers/wait.js';


const bytes = (s: string) => new TextEncoder().encode(s);

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-driver-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startNode(
  t: ExecutionContext,
  hub: MemoryHub,
  dir: string,
  id: string,
  ids: string[],
  extra: Partial<RaftDriverOptions<number>> = {},
): Promise<{ driver: RaftDriver<number>; sm: CounterStateMachine }> {
  const sm = new CounterStateMachine();
  return { driver: await startHubDriver(t, { hub, dir, id, ids, stateMachine: sm, extra }), sm };
}


test('a single voter elects itself; propose resolves with the state machine result; read is linearizable', async (t) => {
  const dir = await tempDir(t);
  const { driver, sm } = await startNode(t, new MemoryHub(), dir, 'n1', ['n1']);
  await until('leadership', () => driver.isLeader());
  t.is(await driver.propose(bytes('a')), 1);
  t.is(await driver.propose(bytes('b')), 2);
  await driver.read();
  t.is(sm.count, 2);
});

test('restart recovers the applied state from the log and from a snapshot', async (t) => {
  const dir = await tempDir(t);
  const hub = new MemoryHub();
  const first = await startNode(t, hub, dir, 'n1', ['n1'], { snapshotEveryEntries: 10, compactionKeepEntries: 2 });
  await until('leadership', () => first.driver.isLeader());
  for (let i = 0; i < 25; i++) await first.driver.propose(bytes(`x${i}`));
  const before = first.driver.status();
  t.true(before.snapshotIndex >= 20, 'a snapshot was taken');
  t.true(before.firstIndex > 1, 'the log was compacted');
  await first.driver.stop();

  const second = await startNode(t, hub, dir, 'n1', ['n1'], { snapshotEveryEntries: 10, compactionKeepEntries: 2 });
  await until('leadership after restart', () => second.driver.isLeader());
  await second.driver.read();
  t.is(second.sm.count, 25);
  t.deepEqual(second.sm.recent.slice(-2), ['x23', 'x24']);
});

test('a follower refuses proposals with NotLeaderError naming the leader', async (t) => {
  const dir = await tempDir(t);
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids)));
  await until('a leader', () => nodes.some((n) => n.driver.isLeader()) && nodes.every((n) => n.driver.leaderId() !== ''));
  const leader = nodes.find((n) => n.driver.isLeader())!;
  const follower = nodes.find((n) => !n.driver.isLeader())!;
  const error = t.throws(() => follower.driver.propose(bytes('x')), { code: 'PGHERD_RAFT_NOT_LEADER' });
  t.regex(error!.message, new RegExp(`leader is ${leader.driver.status().id}`));
  t.is(await leader.driver.propose(bytes('ok')), 1);
  await until('replicated', () => nodes.every((n) => n.sm.count === 1));
});

test('a follower\'s read whose request to the leader was lost is sent again and completes', async (t) => {
  const dir = await tempDir(t);
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids)));
  await until('a leader known to all', () => nodes.some((n) => n.driver.isLeader()) && nodes.every((n) => n.driver.leaderId() !== ''));
  const leader = nodes.find((n) => n.driver.isLeader())!;
  const follower = nodes.find((n) => !n.driver.isLeader())!;
  t.is(await leader.driver.propose(bytes('before')), 1);
  let lost = 0;
  hub.drop = (m) => m.type === 'readIndex' && m.from === follower.driver.status().id && lost++ === 0;
  await follower.driver.read(5_000);
  t.is(lost, 2, 'the first request was lost, a second one was sent');
  t.is(follower.sm.count, 1, 'the read saw the earlier commit');
});

test('a read asked while no leader is known waits for one instead of failing', async (t) => {
  const dir = await tempDir(t);
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  for (const id of ids) hub.cut.add(id);
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids)));
  t.is(nodes[0]!.driver.leaderId(), '', 'no leader while every node is cut off');
  const read = nodes[0]!.driver.read(5_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  hub.cut.clear();
  await read;
  t.not(nodes[0]!.driver.leaderId(), '');
});

test('a proposal that cannot commit times out with a typed error; stop() rejects what is pending', async (t) => {
  const dir = await tempDir(t);
  const hub = new MemoryHub();
  const ids = ['n1', 'n2', 'n3'];
  // Check-quorum off: the cut-off leader must stay leader for the whole test.
  const nodes = await Promise.all(ids.map((id) => startNode(t, hub, dir, id, ids, { checkQuorum: false })));
  await until('a leader', () => nodes.some((n) => n.driver.isLeader()));
  const leader = nodes.find((n) => n.driver.isLeader())!;
  for (const n of nodes) if (n !== leader) hub.cut.add(n.driver.status().id);
  await t.throwsAsync(leader.driver.propose(bytes('lonely'), 200), { code: 'PGHERD_RAFT_TIMEOUT' });
  const pending = leader.driver.propose(bytes('pending'), 10_000).catch((e: unknown) => e);
  await leader.driver.stop();
  t.is(((await pending) as { code: string }).code, 'PGHERD_RAFT_STOPPED');
  t.throws(() => leader.driver.propose(bytes('after stop')), { code: 'PGHERD_RAFT_STOPPED' });
});

test('a node refuses to start on a foreign or corrupt Raft directory, naming the path', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'n1');
  const foreign = new Level(path);
  await foreign.put('some', 'other application');
  await foreign.close();
  const error = await t.throwsAsync(LevelLogStore.open(path, { nodeId: 'n1', clusterName: 'test' }), { code: 'PGHERD_STORAGE_CORRUPT' });
  t.true(error!.message.includes(path));
});

test('invalid driver options are rejected naming the option', async (t) => {
  const dir = await tempDir(t);
  const store = await LevelLogStore.open(join(dir, 'n1'), { nodeId: 'n1', clusterName: 'test' });
  t.teardown(() => store.close());
  const base = {
    nodeId: 'n1',
    advertiseAddress: 'n1:1',
    peers: new Map<string, string>(),
    bootstrap: true,
    store,
    stateMachine: new CounterStateMachine(),
    createTransport: async (handlers: TransportHandlers) => new MemoryHub().transport('n1', handlers),
    rng: new SeededRng(1),
    logger: silentLogger,
  };
  await t.throwsAsync(RaftDriver.start({ ...base, tickMs: 0 }), { message: /^raft\.tickMs: must be a positive integer/ });
  await t.throwsAsync(RaftDriver.start({ ...base, snapshotEveryEntries: 10, compactionKeepEntries: 10 }), {
    message: /^raft\.compactionKeepEntries: must be less than raft\.snapshotEveryEntries/,
  });
  await t.throwsAsync(RaftDriver.start({ ...base, heartbeatTicks: 5, electionTicks: 5 }), { message: /^raft\.heartbeatTicks: / });
  await t.throwsAsync(RaftDriver.start({ ...base, peers: new Map([['n1', 'elsewhere:1']]) }), { message: /^raft\.peers: / });
});

/**
 * One Raft node in its own process, driven over the IPC channel by
 * DevCluster (scripts/lib/raft-cluster.ts). Used by the Raft demo, the Raft
 * benchmark and the multi-process integration test, so that "kill the
 * leader" is a real SIGKILL.
 */
import { createLogger } from '../../src/lib/logger.js';
import { productionRng } from '../../src/lib/random.js';
import { LevelLogStore } from '../../src/raft/driver/level-storage.js';
import { RaftDriver } from '../../src/raft/driver/raft-driver.js';
import { GrpcTransport } from '../../src/raft/transport/grpc-transport.js';
import { CounterStateMachine } from './kv-state-machine.js';
import type { DevNodeConfig, DevRequest, DevResponse } from './raft-cluster.js';

const config = JSON.parse(process.env.DEV_RAFT_NODE ?? '') as DevNodeConfig;
const logger = createLogger({ base: { node: config.nodeId, component: 'raft' }, level: config.logLevel });
const stateMachine = new CounterStateMachine();
const store = await LevelLogStore.open(config.dataDir, { nodeId: config.nodeId, clusterName: config.clusterName }, logger);
const driver = await RaftDriver.start({
  nodeId: config.nodeId,
  advertiseAddress: config.address,
  peers: new Map(Object.entries(config.peers)),
  bootstrap: config.bootstrap,
  store,
  stateMachine,
  rng: productionRng(),
  logger,
  tickMs: config.tickMs,
  ...(config.electionTicks ? { electionTicks: config.electionTicks } : {}),
  snapshotEveryEntries: config.snapshotEveryEntries,
  compactionKeepEntries: config.compactionKeepEntries,
  onFatal: () => process.exit(70),
  createTransport: (handlers, peers) =>
    GrpcTransport.start({ nodeId: config.nodeId, clusterName: config.clusterName, bindAddress: config.address, peers, logger, ...handlers }),
});

async function handle(request: DevRequest): Promise<unknown> {
  switch (request.op) {
    case 'status':
      return { ...driver.status(), count: stateMachine.count };
    case 'propose':
      return driver.propose(new TextEncoder().encode(request.data));
    case 'read':
      await driver.read();
      return { count: stateMachine.count };
    case 'transfer':
      driver.transferLeadership(request.to);
      return null;
    case 'membership':
      await driver.changeMembership({ type: request.change, nodeId: request.member, ...(request.address ? { address: request.address } : {}) });
      return null;
    case 'sequential':
      return sequential(request.count);
    case 'concurrent':
      return concurrent(request.proposers, request.durationMs);
    case 'stop':
      await driver.stop();
      setImmediate(() => process.exit(0));
      return null;
  }
}

/** One proposer, one proposal at a time: per-commit latencies in ms. */
async function sequential(count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await driver.propose(new TextEncoder().encode(`seq-${i}`));
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** `proposers` concurrent loops for `durationMs`: commits completed. */
async function concurrent(proposers: number, durationMs: number): Promise<{ commits: number; elapsedMs: number; errors: number }> {
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  let commits = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: proposers }, async (_, p) => {
      for (let i = 0; performance.now() < deadline; i++) {
        try {
          await driver.propose(new TextEncoder().encode(`c-${p}-${i}`));
          commits += 1;
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return { commits, elapsedMs: performance.now() - started, errors };
}

process.on('message', (request: DevRequest) => {
  handle(request).then(
    (result) => process.send?.({ id: request.id, ok: true, result } satisfies DevResponse),
    (error: Error & { code?: string }) => process.send?.({ id: request.id, ok: false, error: error.message, code: error.code ?? 'UNKNOWN' } satisfies DevResponse),
  );
});
process.on('disconnect', () => void driver.stop().finally(() => process.exit(0)));
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies DevResponse);

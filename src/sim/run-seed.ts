import { SeededRng } from '../lib/random.js';
import type { NodeId } from '../raft/core/types.js';
import type { Violation } from './checkers.js';
import { hex32 } from './hash.js';
import { CATCH_UP_TICKS_MAX, leaderBoundTicks, LivenessMonitor } from './liveness.js';
import { MembershipPlanner } from './membership.js';
import { Nemesis, type FaultCounts } from './nemesis.js';
import type { Core } from './node-process.js';
import { EVENTS_PER_TICK_MAX, replayCommand, resolveSimOptions, TICK_UNITS, type ClusterSize, type SimOptionsInput } from './options.js';
import { realCore } from './raft-factory.js';
import { drawProfile } from './swarm.js';
import { Workload } from './workload.js';
import { forkRngs, World } from './world.js';

export interface SeedStats {
  readonly events: number;
  readonly ticks: number;
  readonly terms: number;
  readonly leaders: number;
  readonly committed: number;
  readonly proposed: number;
  readonly acknowledged: number;
  readonly reads: number;
  readonly faults: FaultCounts;
  readonly confChanges: number;
  readonly transfers: number;
  readonly snapshots: number;
  /** Snapshots received from a leader and restored (InstallSnapshot). */
  readonly installs: number;
  readonly livenessLeaderTicks: number | null;
  readonly livenessConvergedTicks: number | null;
}

/** The outcome of one seed: a pure function of (seed, nodes, steps). */
export interface SeedResult {
  readonly seed: number;
  readonly nodes: ClusterSize;
  readonly steps: number;
  readonly violation: (Violation & { readonly atTick: number }) | null;
  /** Digest of the whole trace: equal digests = identical runs. */
  readonly digest: string;
  readonly replay: string;
  readonly stats: SeedStats;
}

/**
 * Run one seed. The seed draws the cluster size (unless given), the swarm
 * profile (swarm.ts) and every later decision through forked RNG streams.
 *
 * Safety phase (`steps` ticks): real RawNodes behind simulated processes
 * (Ready contract, disk with write/sync latency, crash loses unsynced
 * writes, periodic snapshot + compaction), a network that drops,
 * duplicates, delays and reorders, Jepsen partitions (isolate, halves,
 * bridge, majorities ring, swizzle-clog), crashes (half of them the
 * leader), pauses, client writes and ReadIndex reads, leadership transfers
 * and one-at-a-time membership changes. Every observation goes through the
 * checkers as it happens; the first violation ends the run.
 *
 * Liveness phase: everything healed and restarted; a stable leader and
 * every acknowledged write on every live member within the bounds of
 * liveness.ts.
 */
export function runSeed(input: SimOptionsInput, core: Core = realCore): SeedResult {
  const options = resolveSimOptions(input);
  const root = new SeededRng(options.seed);
  const sizeRng = root.fork();
  const profile = drawProfile(root.fork());
  const rngs = forkRngs(root);
  const nodes: ClusterSize = options.nodes ?? (sizeRng.int(2) === 0 ? 3 : 5);

  const world = new World(options, profile, rngs, core);
  const nemesis = new Nemesis(world, rngs.nemesis, profile.faults);
  const workload = new Workload(world, rngs.workload, profile.workload);
  const membership = new MembershipPlanner(world, rngs.membership, profile.workload.membershipEveryTicks, nodes);
  const liveness = new LivenessMonitor(world, workload, () => {
    nemesis.stop();
    workload.stop();
    membership.stop();
  });

  const voters: NodeId[] = Array.from({ length: nodes }, (_, i) => `n${i + 1}`).sort();
  for (const id of voters) world.spawn(id, voters);
  nemesis.start();
  workload.start();
  membership.start();
  world.schedule(options.steps * TICK_UNITS, { kind: 'liveness' });

  const livenessTicksMax = 2 * leaderBoundTicks(profile.raft.electionTicks, profile.raft.preVote) + CATCH_UP_TICKS_MAX + 10;
  const totalTicks = options.steps + livenessTicksMax;
  world.run(totalTicks * TICK_UNITS, totalTicks * EVENTS_PER_TICK_MAX);
  if (world.violation === null && world.phase !== 'done') {
    world.fail({ code: 'LIVENESS_NOT_APPLIED', message: `the liveness phase did not finish within ${livenessTicksMax} ticks` });
  }

  const violation = world.violation === null ? null : { ...world.violation, atTick: Math.floor(world.violationAtUnits / TICK_UNITS) };
  const processes = [...world.nodes.values()];
  const snapshots = processes.reduce((sum, n) => sum + n.snapshotsTaken, 0);
  const installs = processes.reduce((sum, n) => sum + n.snapshotsInstalled, 0);
  return {
    seed: options.seed,
    nodes,
    steps: options.steps,
    violation,
    digest: hex32(world.digest),
    replay: replayCommand(options.seed, nodes, options.steps),
    stats: {
      events: world.events,
      ticks: Math.floor(world.now() / TICK_UNITS),
      terms: Math.max(0, ...world.recorder.leaders.keys()),
      leaders: world.recorder.leaders.size,
      committed: world.recorder.committedIndex(),
      proposed: world.client.proposed,
      acknowledged: world.client.acknowledged.length,
      reads: world.client.readsServed,
      faults: { ...nemesis.counts },
      confChanges: membership.counts.committed,
      transfers: workload.transfers,
      snapshots,
      installs,
      livenessLeaderTicks: unitsToTicks(liveness.leaderElectedAfterUnits),
      livenessConvergedTicks: unitsToTicks(liveness.convergedAfterUnits),
    },
  };
}

function unitsToTicks(units: number | null): number | null {
  return units === null ? null : Math.ceil(units / TICK_UNITS);
}

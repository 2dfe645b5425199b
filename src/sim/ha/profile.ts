import { parseDynamicConfig, type DynamicConfig } from '../../config/dynamic.js';
import type { SeededRng } from '../../lib/random.js';
import { between, drawProfile, type Profile } from '../swarm.js';

/**
 * The HA world's swarm profile: the Raft world's (network, disk, driver,
 * Raft limits; see ../swarm.ts) plus the HA settings of the seed — the
 * dynamic configuration (synchronous mode, lease timing), replication speed,
 * the client's write rate and the faults that matter to HA (crashes, process
 * freezes longer than the lease, partitions).
 */
export interface HaProfile {
  readonly base: Profile;
  readonly config: DynamicConfig;
  /** WAL streaming step, in time units, and positions a replica receives per step at most. */
  readonly streamEveryUnits: number;
  readonly streamPositionsPerStep: number;
  readonly writeEveryUnits: number;
  readonly clockRatePermilleSkew: number;
  readonly faults: {
    readonly crashEveryTicks: number;
    readonly downTicksMax: number;
    readonly pauseEveryTicks: number;
    readonly pauseTicksMax: number;
    readonly partitionEveryTicks: number;
    readonly partitionTicksMax: number;
    /** Probability that a fault aims at the PostgreSQL primary's node. */
    readonly primaryBias: number;
  };
}

function pick<T>(rng: SeededRng, values: readonly T[]): T {
  return values[rng.int(values.length)]!;
}

export function drawHaProfile(rng: SeededRng): HaProfile {
  const drawn = drawProfile(rng);
  // A real agent's limits: room for a few loops of proposals (a 256-byte cap would drop most renewals), and a
  // network that loses at most 15% (more only tests false failovers, not safety).
  const base: Profile = {
    ...drawn,
    raft: { ...drawn.raft, maxUncommittedEntriesBytes: Math.max(drawn.raft.maxUncommittedEntriesBytes, 64 * 1024) },
    network: { ...drawn.network, dropRate: drawn.network.dropRate / 2 },
  };
  const loopWaitMs = pick(rng, [300, 500, 1000]);
  const safetyMarginMs = pick(rng, [200, 500, 1000]);
  const ttlMs = Math.max(1000, loopWaitMs + safetyMarginMs + between(rng, 1, 30) * 100);
  const config = parseDynamicConfig({
    loop_wait_ms: loopWaitMs,
    safety_margin_ms: safetyMarginMs,
    ttl_ms: ttlMs,
    synchronous_mode: pick(rng, ['off', 'on', 'on', 'strict', 'strict'] as const),
    synchronous_node_count: pick(rng, [1, 1, 2]),
    // Generous: the simulated replicas may lag a lot; lag is not what this world tests.
    maximum_lag_on_failover_bytes: 1024 * 1024 * 1024,
  });
  return {
    base,
    config,
    streamEveryUnits: between(rng, 1, 5),
    streamPositionsPerStep: pick(rng, [1, 2, 5, 50]),
    writeEveryUnits: between(rng, 1, 20),
    clockRatePermilleSkew: between(rng, 0, 5),
    faults: {
      crashEveryTicks: pick(rng, [0, 100, 300]),
      downTicksMax: between(rng, 10, 150),
      pauseEveryTicks: pick(rng, [0, 100, 300]),
      pauseTicksMax: between(rng, 5, 150),
      partitionEveryTicks: pick(rng, [0, 100, 300]),
      partitionTicksMax: between(rng, 10, 200),
      primaryBias: rng.next(),
    },
  };
}

import type { SeededRng } from '../lib/random.js';

/**
 * Swarm testing (TigerBeetle's VOPR): each seed draws the shape of its
 * world — fault kinds on or off, their rates and sizes, disk latencies,
 * Raft limits — so that across seeds the simulator explores very different
 * worlds instead of one average one. Rates are "mean time between" in ticks
 * (0 = this fault is off for the seed); latencies are in time units.
 */
export interface Profile {
  readonly raft: {
    readonly electionTicks: number;
    readonly heartbeatTicks: number;
    readonly checkQuorum: boolean;
    readonly preVote: boolean;
    readonly maxSizePerMsgBytes: number;
    readonly maxInflightMsgs: number;
    readonly maxCommittedSizePerReadyBytes: number;
    readonly maxUncommittedEntriesBytes: number;
  };
  readonly network: {
    readonly dropRate: number;
    readonly duplicateRate: number;
    readonly delayMinUnits: number;
    /** Extra random delay per message: reorders messages. */
    readonly delayJitterUnits: number;
  };
  readonly clock: {
    /** Each node's tick period is TICK_UNITS +- this (timer rate differences between nodes, up to 10%). */
    readonly skewUnits: number;
  };
  readonly disk: {
    readonly writeUnits: number;
    readonly syncUnits: number;
    /** Unsynced writes reach the disk by themselves after this long (OS write-back). */
    readonly writebackUnits: number;
  };
  readonly driver: {
    /** Step inputs into the core while a Ready is being persisted (etcd allows it), or queue them until advance(). */
    readonly stepWhileBusy: boolean;
    readonly snapshotEveryEntries: number;
    readonly snapshotKeepEntries: number;
  };
  readonly faults: {
    readonly partitionEveryTicks: number;
    readonly partitionTicksMax: number;
    readonly crashEveryTicks: number;
    readonly downTicksMax: number;
    readonly pauseEveryTicks: number;
    readonly pauseTicksMax: number;
  };
  readonly workload: {
    readonly proposeEveryUnits: number;
    /** Proposals the client keeps outstanding at most (it waits for outcomes, like a real client pool). */
    readonly clientInflightMax: number;
    /** Mean time between linearizable (ReadIndex) reads, 0 = none. */
    readonly readEveryUnits: number;
    readonly transferEveryTicks: number;
    readonly membershipEveryTicks: number;
  };
}

function pick<T>(rng: SeededRng, values: readonly T[]): T {
  return values[rng.int(values.length)]!;
}

/** An integer in [lo, hi]. */
export function between(rng: SeededRng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

function chance(rng: SeededRng, p: number): boolean {
  return rng.next() < p;
}

/** Mean time between faults of one kind, or 0 (off) with probability 1 - pOn. */
function every(rng: SeededRng, pOn: number, lo: number, hi: number): number {
  return chance(rng, pOn) ? between(rng, lo, hi) : 0;
}

export function drawProfile(rng: SeededRng): Profile {
  const electionTicks = between(rng, 5, 15);
  return {
    raft: {
      electionTicks,
      heartbeatTicks: between(rng, 1, Math.max(1, Math.floor(electionTicks / 4))),
      checkQuorum: chance(rng, 0.85),
      preVote: chance(rng, 0.85),
      maxSizePerMsgBytes: pick(rng, [1, 64, 512, 1024 * 1024]),
      maxInflightMsgs: pick(rng, [1, 2, 4, 16, 256]),
      maxCommittedSizePerReadyBytes: pick(rng, [1, 128, 8 * 1024 * 1024]),
      maxUncommittedEntriesBytes: pick(rng, [256, 4096, 64 * 1024 * 1024]),
    },
    network: {
      dropRate: chance(rng, 0.7) ? rng.next() * 0.3 : 0,
      duplicateRate: chance(rng, 0.5) ? rng.next() * 0.1 : 0,
      delayMinUnits: between(rng, 1, 5),
      delayJitterUnits: pick(rng, [0, 2, 10, 30, 60]),
    },
    clock: { skewUnits: between(rng, 0, 1) },
    disk: {
      writeUnits: between(rng, 0, 3),
      syncUnits: between(rng, 0, 10),
      writebackUnits: between(rng, 50, 300),
    },
    driver: {
      stepWhileBusy: chance(rng, 0.5),
      snapshotEveryEntries: between(rng, 5, 100),
      snapshotKeepEntries: between(rng, 0, 20),
    },
    faults: {
      partitionEveryTicks: every(rng, 0.7, 20, 300),
      partitionTicksMax: between(rng, 5, 200),
      crashEveryTicks: every(rng, 0.6, 30, 500),
      downTicksMax: between(rng, 1, 100),
      pauseEveryTicks: every(rng, 0.4, 30, 500),
      pauseTicksMax: between(rng, 1, 50),
    },
    workload: {
      proposeEveryUnits: between(rng, 2, 100),
      clientInflightMax: pick(rng, [1, 4, 16, 64]),
      readEveryUnits: every(rng, 0.7, 5, 200),
      transferEveryTicks: every(rng, 0.5, 30, 400),
      membershipEveryTicks: every(rng, 0.6, 30, 300),
    },
  };
}

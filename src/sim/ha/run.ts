import { SeededRng } from '../../lib/random.js';
import { hex32 } from '../hash.js';
import type { Core } from '../node-process.js';
import { EVENTS_PER_TICK_MAX, resolveSimOptions, TICK_UNITS, type ClusterSize, type SimOptionsInput } from '../options.js';
import { realCore } from '../raft-factory.js';
import { HaNemesis, type HaFaultCounts } from './nemesis.js';
import { drawOperatorEveryTicks, HaOperator, type OperatorCounts } from './operator.js';
import { drawHaProfile } from './profile.js';
import { HaWorld, type HaCounts } from './world.js';

/** After the faults stop, the run goes on this long (healed) so that a late violation still shows. */
const CALM_TICKS = 300;

export interface HaSeedStats extends HaCounts {
  readonly events: number;
  readonly ticks: number;
  readonly mode: string;
  readonly ttlMs: number;
  readonly loopWaitMs: number;
  readonly maxEpoch: number;
  readonly faults: HaFaultCounts;
  readonly operator: OperatorCounts;
}

export interface HaSeedResult {
  readonly ha: true;
  readonly seed: number;
  readonly nodes: ClusterSize;
  readonly steps: number;
  readonly violation: { readonly code: string; readonly message: string; readonly atTick: number } | null;
  readonly digest: string;
  readonly replay: string;
  readonly stats: HaSeedStats;
}

export interface HaSimOptionsInput extends Pick<SimOptionsInput, 'seed' | 'nodes' | 'steps' | 'trace'> {
  /** Test-only, not a CLI flag: the primary ignores a lapsed lease and has no fence. Proves TWO_WRITERS can fail. */
  readonly noSelfDemotion?: boolean;
  /** Test-only: the switchover handover as first written (keeps the lease, no renewal check). Proves seed 196's TWO_WRITERS. */
  readonly unsafeHandover?: boolean;
  /** Test-only: no operator requests (replays a seed exactly as before the operator existed). */
  readonly noOperator?: boolean;
}

export function haReplayCommand(seed: number, nodes: ClusterSize, steps: number): string {
  return `npm run sim -- --ha --seed ${seed} --nodes ${nodes} --steps ${steps}`;
}

/**
 * Run one HA seed: the seed draws the cluster size (unless given), the
 * HA profile (profile.ts) and every later choice. `steps` ticks of faults
 * (crashes, freezes, partitions, lossy network) with a client writing to
 * whichever member accepts writes, then CALM_TICKS healed. The first
 * violation ends the run. A pure function of (seed, nodes, steps).
 */
export function runHaSeed(input: HaSimOptionsInput, core: Core = realCore): HaSeedResult {
  const options = resolveSimOptions(input);
  const root = new SeededRng(options.seed);
  const sizeRng = root.fork();
  const profile = drawHaProfile(root.fork());
  const rngs = { network: root.fork(), nodes: root.fork(), nemesis: root.fork(), workload: root.fork() };
  const nodes: ClusterSize = options.nodes ?? (sizeRng.int(2) === 0 ? 3 : 5);
  // Forked last: seeds draw everything else exactly as before the operator existed.
  const operatorRng = root.fork();
  const operatorEveryTicks = input.noOperator === true ? 0 : drawOperatorEveryTicks(operatorRng);

  const world = new HaWorld(profile, rngs, core, { noSelfDemotion: input.noSelfDemotion === true, unsafeHandover: input.unsafeHandover === true }, options.trace);
  const nemesis = new HaNemesis(world, rngs.nemesis, profile.faults);
  const operator = new HaOperator(world, operatorRng, operatorEveryTicks);
  const voters = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  for (const id of voters) world.spawn(id, voters, id === 'n1');
  world.startModel();
  nemesis.start();
  operator.start();

  world.run(options.steps * TICK_UNITS, options.steps * EVENTS_PER_TICK_MAX);
  if (world.violation === null) {
    nemesis.stop();
    operator.stop();
    world.network.healAll();
    world.network.stopFaults();
    for (const node of world.nodes.values()) {
      node.pausedUntil = Math.min(node.pausedUntil, world.now());
      if (node.state === 'down') world.restart(node);
    }
    const total = options.steps + CALM_TICKS;
    world.run(total * TICK_UNITS, total * EVENTS_PER_TICK_MAX);
  }

  const violation = world.violation === null ? null : { ...world.violation, atTick: Math.floor(world.violationAtUnits / TICK_UNITS) };
  const maxEpoch = Math.max(0, ...world.recorder.epochs.keys());
  return {
    ha: true,
    seed: options.seed,
    nodes,
    steps: options.steps,
    violation,
    digest: hex32(world.digest),
    replay: haReplayCommand(options.seed, nodes, options.steps),
    stats: {
      ...world.counts,
      events: world.events,
      ticks: Math.floor(world.now() / TICK_UNITS),
      mode: profile.config.synchronous_mode,
      ttlMs: profile.config.ttl_ms,
      loopWaitMs: profile.config.loop_wait_ms,
      maxEpoch,
      faults: { ...nemesis.counts },
      operator: { ...operator.counts },
    },
  };
}

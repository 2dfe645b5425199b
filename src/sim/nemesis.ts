import type { SeededRng } from '../lib/random.js';
import type { NodeId } from '../raft/core/types.js';
import type { SimEvent } from './events.js';
import { drawPartition, isolate, PARTITION_SHAPES, shuffled } from './partitions.js';
import { TICK_UNITS } from './options.js';
import { between, type Profile } from './swarm.js';
import type { World } from './world.js';

const PARTITION_CUT = 'partition';

/** Counts of injected faults, for the run's summary. */
export interface FaultCounts {
  crashes: number;
  pauses: number;
  partitions: number;
  clogs: number;
}

/**
 * Fault injection during the safety phase: crashes (with restarts), process
 * pauses, and partitions of every Jepsen shape including swizzle-clog. Each
 * fault kind recurs at a random interval around the profile's mean (0 = off
 * for this seed). stop() ends injection; the liveness phase heals the rest.
 */
export class Nemesis {
  readonly counts: FaultCounts = { crashes: 0, pauses: 0, partitions: 0, clogs: 0 };
  private active = true;

  constructor(
    private readonly world: World,
    private readonly rng: SeededRng,
    private readonly faults: Profile['faults'],
  ) {
    for (const kind of ['crash', 'pause', 'partition', 'heal', 'clog'] as const) {
      world.handlers.set(kind, (event) => this.handle(event));
    }
  }

  start(): void {
    const f = this.faults;
    if (f.crashEveryTicks > 0) this.again('crash', f.crashEveryTicks);
    if (f.pauseEveryTicks > 0) this.again('pause', f.pauseEveryTicks);
    if (f.partitionEveryTicks > 0) this.again('partition', f.partitionEveryTicks);
  }

  stop(): void {
    this.active = false;
  }

  private handle(event: SimEvent): void {
    if (event.kind === 'heal') {
      this.world.network.heal(event.cut);
      this.world.log('net', () => `heal ${event.cut}`);
      if (event.cut === PARTITION_CUT && this.active) this.again('partition', this.faults.partitionEveryTicks);
      return;
    }
    if (!this.active) return;
    switch (event.kind) {
      case 'crash':
        return this.crash();
      case 'pause':
        return this.pause();
      case 'partition':
        return this.partition();
      case 'clog':
        return this.clog(event);
      default:
    }
  }

  /** Schedule the next fault of a kind: uniformly within [1, 2 * mean] ticks. */
  private again(kind: 'crash' | 'pause' | 'partition', everyTicks: number): void {
    this.world.schedule(between(this.rng, 1, 2 * everyTicks) * TICK_UNITS + this.rng.int(TICK_UNITS), { kind });
  }

  private pick(): NodeId | null {
    const up = this.world.upNodes();
    return up.length === 0 ? null : up[this.rng.int(up.length)]!.id;
  }

  private crash(): void {
    this.again('crash', this.faults.crashEveryTicks);
    // Half the time the leader (Jepsen's "kill the primary"): partly replicated entries, elections.
    const leader = this.rng.int(2) === 0 ? this.world.leader() : null;
    const id = leader?.id ?? this.pick();
    if (id === null) return;
    this.world.crash(this.world.nodes.get(id)!);
    this.counts.crashes++;
    const downUnits = between(this.rng, 0, this.faults.downTicksMax * TICK_UNITS);
    this.world.schedule(downUnits, { kind: 'restart', node: id });
  }

  private pause(): void {
    this.again('pause', this.faults.pauseEveryTicks);
    const id = this.pick();
    if (id === null) return;
    const node = this.world.nodes.get(id)!;
    node.pausedUntil = Math.max(node.pausedUntil, this.world.now() + between(this.rng, 1, this.faults.pauseTicksMax * TICK_UNITS));
    this.counts.pauses++;
    this.world.log(id, () => `paused until ${(node.pausedUntil / TICK_UNITS).toFixed(1)}`);
  }

  private partition(): void {
    const ids = [...this.world.nodes.values()].filter((n) => n.state !== 'retired').map((n) => n.id);
    const durationUnits = between(this.rng, 1, this.faults.partitionTicksMax * TICK_UNITS);
    this.counts.partitions++;
    const shape = this.rng.int(PARTITION_SHAPES.length + 1);
    if (shape === PARTITION_SHAPES.length) {
      const order = shuffled(this.rng, ids).slice(0, between(this.rng, 1, ids.length));
      const everyUnits = Math.max(1, Math.floor(durationUnits / (2 * order.length)));
      this.clog({ kind: 'clog', order, step: 0, everyUnits });
      return;
    }
    const grudge = drawPartition(this.rng, PARTITION_SHAPES[shape]!, ids);
    this.world.network.cut(PARTITION_CUT, grudge);
    this.world.log('net', () => `${PARTITION_SHAPES[shape]!}: ${[...grudge].map(([to, from]) => `${to} deaf to ${[...from].join(',') || '-'}`).join('; ')}`);
    this.world.schedule(durationUnits, { kind: 'heal', cut: PARTITION_CUT });
  }

  /** Swizzle-clog: step k < n clogs order[k]; step n + k unclogs order[k]; then the next partition. */
  private clog(event: Extract<SimEvent, { kind: 'clog' }>): void {
    const { order, step, everyUnits } = event;
    const n = order.length;
    const all = [...this.world.nodes.keys()];
    if (step < n) {
      this.world.network.cut(`clog:${order[step]!}`, isolate(order[step]!, all));
      this.counts.clogs++;
      this.world.log('net', () => `clog ${order[step]!}`);
    } else {
      this.world.network.heal(`clog:${order[step - n]!}`);
      this.world.log('net', () => `unclog ${order[step - n]!}`);
    }
    if (step + 1 < 2 * n) this.world.schedule(everyUnits, { kind: 'clog', order, step: step + 1, everyUnits });
    else this.again('partition', this.faults.partitionEveryTicks);
  }
}

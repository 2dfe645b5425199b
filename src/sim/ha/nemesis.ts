import type { SeededRng } from '../../lib/random.js';
import type { NodeId } from '../../raft/core/types.js';
import { TICK_UNITS } from '../options.js';
import { drawPartition, PARTITION_SHAPES } from '../partitions.js';
import { between } from '../swarm.js';
import type { HaProfile } from './profile.js';
import type { HaWorld } from './world.js';

const PARTITION_CUT = 'partition';

export interface HaFaultCounts {
  crashes: number;
  pauses: number;
  partitions: number;
}

/**
 * Faults for the HA world: host crashes (agent + PostgreSQL, restarted
 * later), freezes of agent + PostgreSQL together (SIGSTOP of both; the
 * fence is a separate process and keeps running), and Jepsen partitions.
 * With the profile's primaryBias a fault aims at the PostgreSQL primary.
 */
export class HaNemesis {
  readonly counts: HaFaultCounts = { crashes: 0, pauses: 0, partitions: 0 };
  private active = true;

  constructor(
    private readonly world: HaWorld,
    private readonly rng: SeededRng,
    private readonly faults: HaProfile['faults'],
  ) {
    world.handlers.set('crash', () => this.crash());
    world.handlers.set('pause', () => this.pause());
    world.handlers.set('partition', () => this.partition());
    world.handlers.set('heal', () => {
      world.network.heal(PARTITION_CUT);
      world.log('net', () => 'heal');
      if (this.active) this.again('partition', this.faults.partitionEveryTicks);
    });
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

  private again(kind: 'crash' | 'pause' | 'partition', everyTicks: number): void {
    this.world.schedule(between(this.rng, 1, 2 * everyTicks) * TICK_UNITS + this.rng.int(TICK_UNITS), { kind });
  }

  private target(): NodeId | null {
    const primary = this.rng.next() < this.faults.primaryBias ? this.world.pgPrimary() : null;
    if (primary !== null && this.world.nodes.get(primary)!.state === 'up') return primary;
    const up = this.world.upNodes();
    return up.length === 0 ? null : up[this.rng.int(up.length)]!.id;
  }

  private crash(): void {
    if (!this.active) return;
    this.again('crash', this.faults.crashEveryTicks);
    const id = this.target();
    if (id === null) return;
    this.world.log(id, () => 'crash (host)');
    this.world.crash(this.world.nodes.get(id)!);
    this.counts.crashes++;
    this.world.schedule(between(this.rng, 1, this.faults.downTicksMax * TICK_UNITS), { kind: 'restart', node: id });
  }

  private pause(): void {
    if (!this.active) return;
    this.again('pause', this.faults.pauseEveryTicks);
    const id = this.target();
    if (id === null) return;
    const node = this.world.nodes.get(id)!;
    node.pausedUntil = Math.max(node.pausedUntil, this.world.now() + between(this.rng, 1, this.faults.pauseTicksMax * TICK_UNITS));
    this.counts.pauses++;
    this.world.log(id, () => `frozen until ${(node.pausedUntil / TICK_UNITS).toFixed(1)}`);
  }

  private partition(): void {
    if (!this.active) return;
    const ids = [...this.world.nodes.keys()];
    const shape = PARTITION_SHAPES[this.rng.int(PARTITION_SHAPES.length)]!;
    const grudge = drawPartition(this.rng, shape, ids);
    this.world.network.cut(PARTITION_CUT, grudge);
    this.counts.partitions++;
    this.world.log('net', () => `${shape}: ${[...grudge].map(([to, from]) => `${to} deaf to ${[...from].join(',') || '-'}`).join('; ')}`);
    this.world.schedule(between(this.rng, 1, this.faults.partitionTicksMax * TICK_UNITS), { kind: 'heal' });
  }
}

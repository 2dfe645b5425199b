import type { SeededRng } from '../lib/random.js';
import type { NodeId } from '../raft/core/types.js';
import type { Grudge } from './partitions.js';
import type { Profile } from './swarm.js';

/**
 * The simulated network's decisions (the world schedules the deliveries):
 * which links are cut, and for one message whether it is dropped,
 * duplicated, and how long each copy takes (random delays reorder).
 */
export class SimNetwork {
  private readonly cuts = new Map<string, Grudge>();
  private faultsOn = true;

  constructor(
    private readonly rng: SeededRng,
    private readonly profile: Profile['network'],
  ) {}

  /** Install (or replace) a named cut: a partition shape, or the clog of one node. */
  cut(name: string, grudge: Grudge): void {
    this.cuts.set(name, grudge);
  }

  heal(name: string): void {
    this.cuts.delete(name);
  }

  healAll(): void {
    this.cuts.clear();
  }

  cutNames(): string[] {
    return [...this.cuts.keys()];
  }

  /** Liveness phase: no more random loss, duplication or jitter. */
  stopFaults(): void {
    this.faultsOn = false;
  }

  blocked(from: NodeId, to: NodeId): boolean {
    for (const grudge of this.cuts.values()) {
      if (grudge.get(to)?.has(from) === true) return true;
    }
    return false;
  }

  /** Delivery delays of one message's copies, in time units: [] = lost. */
  delays(): number[] {
    const p = this.profile;
    if (!this.faultsOn) return [p.delayMinUnits];
    if (this.rng.next() < p.dropRate) return [];
    const copies = this.rng.next() < p.duplicateRate ? 2 : 1;
    const out: number[] = [];
    for (let i = 0; i < copies; i++) out.push(p.delayMinUnits + this.rng.int(p.delayJitterUnits + 1));
    return out;
  }
}

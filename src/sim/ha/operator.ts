import type { SeededRng } from '../../lib/random.js';
import { TICK_UNITS } from '../options.js';
import { between } from '../swarm.js';
import type { HaWorld } from './world.js';

export interface OperatorCounts {
  switchovers: number;
  scheduled: number;
  cancels: number;
  pauses: number;
  resumes: number;
}

/** Every how many ticks (on average) an operator acts; 0: never. Drawn from its own stream so other seeds' runs do not change. */
export function drawOperatorEveryTicks(rng: SeededRng): number {
  return [0, 100, 300][rng.int(3)]!;
}

/**
 * An operator at pgherdctl, acting on what one (random, possibly stale)
 * member's applied state shows: a switchover (to a named member, or to
 * whoever is best; sometimes scheduled a little later on the primary's
 * clock) — which is also what `pgherdctl failover` records — cancelling a
 * pending one, pausing and resuming. Requests go through that member, so
 * they may be refused or lost like any proposal. With faults going on
 * this exercises the switchover handover, the Raft leader's promotion of a
 * requested target after the primary's lease lapsed, and pause.
 */
export class HaOperator {
  readonly counts: OperatorCounts = { switchovers: 0, scheduled: 0, cancels: 0, pauses: 0, resumes: 0 };
  private active = true;

  constructor(
    private readonly world: HaWorld,
    private readonly rng: SeededRng,
    private readonly everyTicks: number,
  ) {
    world.handlers.set('operator', () => this.act());
  }

  start(): void {
    if (this.everyTicks > 0) this.again();
  }

  stop(): void {
    this.active = false;
  }

  private again(): void {
    this.world.schedule(between(this.rng, 1, 2 * this.everyTicks) * TICK_UNITS + this.rng.int(TICK_UNITS), { kind: 'operator' });
  }

  private act(): void {
    if (!this.active) return;
    this.again();
    const up = this.world.upNodes();
    if (up.length === 0) return;
    const node = up[this.rng.int(up.length)]!;
    const agent = this.world.agents.get(node.id)!;
    const state = agent.state;
    const roll = this.rng.int(10);
    if (roll < 6) {
      const from = state.leader?.member;
      if (from === undefined) return;
      const others = Object.keys(state.members).filter((name) => name !== from).sort();
      const to = others.length === 0 || this.rng.int(3) === 0 ? null : others[this.rng.int(others.length)]!;
      const primaryClock = this.world.agents.get(from)?.localMs() ?? agent.localMs();
      const scheduledAtMs = this.rng.int(4) === 0 ? primaryClock + between(this.rng, 1, 50) * 100 : null;
      if (scheduledAtMs === null) this.counts.switchovers++;
      else this.counts.scheduled++;
      this.world.log(node.id, () => `operator: switchover ${from} -> ${to ?? 'best'}${scheduledAtMs === null ? '' : ' (scheduled)'}`);
      this.world.propose(node, { type: 'requestSwitchover', atMs: agent.localMs(), from, to, scheduledAtMs });
    } else if (roll < 7) {
      this.counts.cancels++;
      this.world.log(node.id, () => 'operator: cancel the switchover');
      this.world.propose(node, { type: 'cancelSwitchover', atMs: agent.localMs() });
    } else {
      const paused = !state.pause.paused;
      if (paused) this.counts.pauses++;
      else this.counts.resumes++;
      this.world.log(node.id, () => `operator: ${paused ? 'pause' : 'resume'}`);
      this.world.propose(node, { type: 'setPause', atMs: agent.localMs(), paused, by: 'operator' });
    }
  }
}

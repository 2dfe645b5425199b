import type { SeededRng } from '../lib/random.js';
import type { ConfChange, ConfState, NodeId } from '../raft/core/types.js';
import type { SimNode } from './node-process.js';
import { TICK_UNITS } from './options.js';
import { between } from './swarm.js';
import { refusable } from './workload.js';
import type { World } from './world.js';

/** Membership stays within [VOTERS_MIN, initial + MEMBERS_EXTRA_MAX] at rest. */
const VOTERS_MIN = 3;
const MEMBERS_EXTRA_MAX = 2;
/** A learner is promoted once it has applied at least the leader's applied index minus this. */
const CATCH_UP_SLACK_ENTRIES = 5;
/** A proposal handed to a busy node that never came back (crash) is forgotten after this long. */
const PROPOSING_TIMEOUT_UNITS = 20 * TICK_UNITS;
/** A removed node's process is stopped within this long after its removal is committed. */
const RETIRE_DELAY_TICKS_MAX = 20;

export interface MembershipCounts {
  proposed: number;
  committed: number;
  failed: number;
}

interface InFlight {
  readonly change: ConfChange;
  readonly index: number;
  readonly term: number;
}

/**
 * Membership changes drawn from the seed, one at a time: add a learner →
 * catch up → promote it; remove a voter; replace a voter (remove, then add
 * a fresh node). A change is known to have succeeded when some node applies
 * its index with its term (the global history), failed when a different
 * entry is applied there.
 */
export class MembershipPlanner {
  readonly counts: MembershipCounts = { proposed: 0, committed: 0, failed: 0 };
  private plan: ConfChange[] = [];
  private inFlight: InFlight | null = null;
  private proposingSince: number | null = null;
  private nextJoiner: number;
  private active = true;

  constructor(
    private readonly world: World,
    private readonly rng: SeededRng,
    private readonly everyTicks: number,
    private readonly initialVoters: number,
  ) {
    this.nextJoiner = initialVoters + 1;
    world.handlers.set('membership', () => this.onTimer());
  }

  start(): void {
    if (this.everyTicks > 0) this.again();
  }

  stop(): void {
    this.active = false;
  }

  private again(): void {
    this.world.schedule(between(this.rng, 1, 2 * this.everyTicks) * TICK_UNITS, { kind: 'membership' });
  }

  private onTimer(): void {
    if (!this.active) return;
    this.again();
    this.resolve();
    if (this.inFlight !== null || this.proposingSince !== null) return;
    const leader = this.world.leader();
    if (leader === null) return;
    if (this.plan.length === 0) this.plan = this.draw(leader.conf);
    const change = this.plan[0];
    if (change === undefined) return;
    if (!valid(change, leader.conf)) {
      this.abandon();
      return;
    }
    if (change.type === 'addVoter' && !this.caughtUp(change.nodeId, leader)) return;
    this.propose(leader, change);
  }

  /** Learn the outcome of the change in flight from the global history. */
  private resolve(): void {
    if (this.proposingSince !== null && this.world.now() - this.proposingSince > PROPOSING_TIMEOUT_UNITS) this.proposingSince = null;
    const flight = this.inFlight;
    if (flight === null) return;
    const applied = this.world.recorder.committed[flight.index];
    if (applied === undefined) return;
    this.inFlight = null;
    if (applied.term !== flight.term) {
      this.counts.failed++;
      return; // retried at the next timer if still valid
    }
    this.counts.committed++;
    this.plan.shift();
    if (flight.change.type === 'removeNode') {
      this.world.schedule(between(this.rng, 0, RETIRE_DELAY_TICKS_MAX) * TICK_UNITS, { kind: 'retire', node: flight.change.nodeId });
    }
  }

  private propose(leader: SimNode, change: ConfChange): void {
    if (change.type === 'addLearner' && !this.world.nodes.has(change.nodeId)) this.world.spawn(change.nodeId, null);
    this.proposingSince = this.world.now();
    leader.input((raft) => {
      this.proposingSince = null;
      refusable(() => {
        const { index, term } = raft.proposeConfChange(change);
        this.world.log(leader.id, () => `proposed ${change.type} ${change.nodeId} at ${index}/${term}`);
        this.inFlight = { change, index, term };
        this.counts.proposed++;
      });
    });
  }

  /** Drop the rest of the plan; a joiner that never became a member is stopped. */
  private abandon(): void {
    const leader = this.world.leader();
    for (const change of this.plan) {
      const member = leader !== null && isMember(change.nodeId, leader.conf);
      if (change.type === 'addLearner' && !member && this.world.nodes.has(change.nodeId)) {
        this.world.schedule(0, { kind: 'retire', node: change.nodeId });
      }
    }
    this.plan = [];
  }

  private caughtUp(id: NodeId, leader: SimNode): boolean {
    const learner = this.world.nodes.get(id);
    return learner !== undefined && learner.state === 'up' && learner.applied + CATCH_UP_SLACK_ENTRIES >= leader.applied;
  }

  private draw(conf: ConfState): ConfChange[] {
    const voters = conf.voters;
    const members = voters.length + conf.learners.length;
    const options: (() => ConfChange[])[] = [];
    const joiner = (): NodeId => `n${this.nextJoiner++}`;
    const randomVoter = (): NodeId => voters[this.rng.int(voters.length)]!;
    if (members < this.initialVoters + MEMBERS_EXTRA_MAX) {
      options.push(() => {
        const id = joiner();
        return [{ type: 'addLearner', nodeId: id }, { type: 'addVoter', nodeId: id }];
      });
    }
    if (voters.length > VOTERS_MIN) options.push(() => [{ type: 'removeNode', nodeId: randomVoter() }]);
    if (voters.length >= VOTERS_MIN) {
      options.push(() => {
        const id = joiner();
        return [{ type: 'removeNode', nodeId: randomVoter() }, { type: 'addLearner', nodeId: id }, { type: 'addVoter', nodeId: id }];
      });
    }
    for (const learner of conf.learners) {
      options.push(() => [{ type: 'addVoter', nodeId: learner }]);
      options.push(() => [{ type: 'removeNode', nodeId: learner }]);
    }
    return options.length === 0 ? [] : options[this.rng.int(options.length)]!();
  }
}

function isMember(id: NodeId, conf: ConfState): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

function valid(change: ConfChange, conf: ConfState): boolean {
  switch (change.type) {
    case 'addLearner':
      return !isMember(change.nodeId, conf);
    case 'addVoter':
      return conf.learners.includes(change.nodeId);
    case 'removeNode':
      return isMember(change.nodeId, conf);
  }
}

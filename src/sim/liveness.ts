import type { Violation } from './checkers.js';
import type { SimNode } from './node-process.js';
import { TICK_UNITS } from './options.js';
import type { World } from './world.js';
import type { Workload } from './workload.js';

/**
 * The liveness bounds, in election timeouts. An election timeout is at most
 * 2 * electionTicks ticks (the core randomises it in [E, 2E)), so a stable
 * leader must appear within 20 * electionTicks ticks after everything is
 * healed, and then every acknowledged write must be applied on every live
 * member within CATCH_UP_TICKS_MAX more ticks (catch-up can be long when
 * the seed drew 1-entry messages and 1 in-flight message).
 *
 * Without pre-vote the bound is LEADER_ELECTION_TIMEOUTS_NO_PREVOTE_MAX: a
 * voter with a stale log keeps starting elections it cannot win, each one
 * resetting the timers of the voters that could (the gap pre-vote closes);
 * one two-voter seed needed 18 election timeouts when clocks differed by 20%.
 */
export const LEADER_ELECTION_TIMEOUTS_MAX = 10;
export const LEADER_ELECTION_TIMEOUTS_NO_PREVOTE_MAX = 50;
export const CATCH_UP_TICKS_MAX = 1500;
/** The barrier write is proposed again (lost or refused) after this many maximal election timeouts. */
const BARRIER_RETRY_ELECTION_TIMEOUTS = 2;

/**
 * The liveness phase: heal the world (partitions healed, faults off,
 * crashed nodes restarted, paused nodes resumed), then require a stable
 * leader, one fresh acknowledged write through it (a barrier), and every
 * acknowledged write applied on every live member, each within its bound.
 */
export class LivenessMonitor {
  private startedAt = 0;
  private leaderAt: number | null = null;
  private acknowledgedBefore = 0;
  private barrierAt: number | null = null;
  private doneAtUnits: number | null = null;

  constructor(
    private readonly world: World,
    private readonly workload: Workload,
    /** Stops fault injection and the drawn operations (called when the phase starts). */
    private readonly stopFaults: () => void,
  ) {
    world.handlers.set('liveness', () => this.start());
    world.handlers.set('probe', () => this.probe());
  }

  get leaderElectedAfterUnits(): number | null {
    return this.leaderAt === null ? null : this.leaderAt - this.startedAt;
  }

  get convergedAfterUnits(): number | null {
    return this.doneAtUnits === null ? null : this.doneAtUnits - this.startedAt;
  }

  private leaderBoundUnits(): number {
    const { clock, raft } = this.world.profile;
    return leaderBoundTicks(raft.electionTicks, raft.preVote) * (TICK_UNITS + clock.skewUnits);
  }

  private start(): void {
    const world = this.world;
    world.phase = 'liveness';
    this.startedAt = world.now();
    this.stopFaults();
    world.log('sim', () => 'liveness phase: healed, faults off, crashed nodes restarting');
    world.network.healAll();
    world.network.stopFaults();
    for (const node of world.nodes.values()) {
      node.pausedUntil = 0;
      if (node.state === 'down') world.restart(node);
    }
    world.schedule(TICK_UNITS, { kind: 'probe' });
  }

  private probe(): void {
    const world = this.world;
    const now = world.now();
    world.schedule(TICK_UNITS, { kind: 'probe' });
    if (this.leaderAt === null) {
      const leader = this.stableLeader();
      if (leader !== null) {
        this.leaderAt = now;
        this.acknowledgedBefore = world.client.acknowledged.length;
      } else if (now - this.startedAt > this.leaderBoundUnits()) {
        world.fail(this.noLeader());
      }
      return;
    }
    const barrierDone = world.client.acknowledged.length > this.acknowledgedBefore;
    if (!barrierDone) {
      const leader = world.leader();
      const retryUnits = BARRIER_RETRY_ELECTION_TIMEOUTS * 2 * world.profile.raft.electionTicks * TICK_UNITS;
      if (leader !== null && (this.barrierAt === null || now - this.barrierAt > retryUnits)) {
        this.barrierAt = now;
        this.workload.proposeTo(leader);
      }
    } else if (this.converged()) {
      this.doneAtUnits = now;
      world.phase = 'done';
      return;
    }
    if (now - this.leaderAt > CATCH_UP_TICKS_MAX * TICK_UNITS) world.fail(this.notApplied(barrierDone));
  }

  /** A leader whose every live member (voter or learner of its configuration) follows it in its term. */
  private stableLeader(): SimNode | null {
    const leader = this.world.leader();
    const status = leader?.status();
    if (leader == null || status == null) return null;
    for (const member of this.members(leader)) {
      const s = member.status();
      if (s === null || s.leader !== leader.id || s.term !== status.term) return null;
    }
    return leader;
  }

  private members(leader: SimNode): SimNode[] {
    const ids = [...leader.conf.voters, ...leader.conf.learners];
    return ids.map((id) => this.world.nodes.get(id)).filter((n): n is SimNode => n !== undefined && n.state !== 'retired');
  }

  private converged(): boolean {
    const leader = this.world.leader();
    if (leader === null) return false;
    const acknowledged = this.world.client.acknowledged;
    const lastIndex = acknowledged.reduce((max, a) => Math.max(max, a.index), 0);
    const members = this.members(leader);
    if (members.some((m) => m.state !== 'up' || m.applied < lastIndex)) return false;
    return members.every((m) => acknowledged.every((a) => m.stateMachine.has(a.payload)));
  }

  private noLeader(): Violation {
    const views = this.world.upNodes().map((n) => `${n.id}:${n.role.role}/${n.role.leader || '-'}@${n.status()?.term ?? '?'}`);
    return {
      code: 'LIVENESS_NO_LEADER',
      message: `no stable leader within ${Math.ceil(this.leaderBoundUnits() / TICK_UNITS)} ticks after healing (${views.join(' ')})`,
    };
  }

  private notApplied(barrierDone: boolean): Violation {
    const leader = this.world.leader();
    const members = leader === null ? [] : this.members(leader);
    const lastIndex = this.world.client.acknowledged.reduce((max, a) => Math.max(max, a.index), 0);
    const progress = leader?.status()?.progress ?? {};
    const behind = members
      .filter((m) => m.applied < lastIndex)
      .map((m) => {
        const p = progress[m.id];
        const view = p === undefined ? '' : ` (leader ${leader!.id} sees match ${p.match} next ${p.next} ${p.state}${p.paused ? ' paused' : ''} inflight ${p.inflight})`;
        return `${m.id} applied ${m.applied}${view}`;
      });
    const what = barrierDone ? `acknowledged writes up to index ${lastIndex} not applied on ${behind.join(', ') || 'some member'}` : 'no write acknowledged';
    return { code: 'LIVENESS_NOT_APPLIED', message: `${what} within ${CATCH_UP_TICKS_MAX} ticks of electing a leader` };
  }
}

/** The bound on electing a stable leader after healing, in (the slowest node's) ticks. */
export function leaderBoundTicks(electionTicks: number, preVote: boolean): number {
  const timeouts = preVote ? LEADER_ELECTION_TIMEOUTS_MAX : LEADER_ELECTION_TIMEOUTS_NO_PREVOTE_MAX;
  return timeouts * 2 * electionTicks;
}

import type { ApplyResult } from '../cluster/results.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Logger } from '../lib/logger.js';
import type { NodeId } from '../raft/core/types.js';
import type { RaftDriver } from '../raft/driver/raft-driver.js';
import { planMembership, type MembershipStep } from './membership-plan.js';

/**
 * The agent's side of Raft membership (DESIGN.md §3): on the Raft leader,
 * carry out the requested membership one step at a time (membership-plan.ts);
 * on a new node, ask the known members to let it join until it is in the
 * configuration.
 */

const RECONCILE_EVERY_MS = 1_000;
const JOIN_RETRY_MS = 2_000;
const JOIN_TIMEOUT_MS = 3_000;
const STEP_TIMEOUT_MS = 10_000;

export class MembershipController {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastWait = '';
  /** Since when each voter has been seen inactive by this node as leader (performance.now()); reset when leadership is lost. */
  private inactiveSince = new Map<NodeId, number>();

  constructor(
    private readonly driver: RaftDriver<ApplyResult>,
    private readonly store: ClusterStore,
    private readonly log: Logger,
    private readonly wallNow: () => number,
    /** raft.replace_unreachable_after_ms. */
    private readonly replaceAfterMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run(), RECONCILE_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async run(): Promise<void> {
    if (!this.driver.isLeader()) {
      // A new leader watches a voter for the whole limit before it replaces it.
      this.inactiveSince.clear();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      const raft = this.driver.status();
      const unreachableMs = this.unreachable(raft.confState.voters, raft.progress);
      const view = { self: this.driver.nodeId, confState: raft.confState, lastIndex: raft.lastIndex, progress: raft.progress, unreachableMs, replaceAfterMs: this.replaceAfterMs };
      const step = planMembership(this.store.local(), view);
      if (step !== null) await this.carryOut(step);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'membership.step_failed');
    } finally {
      this.busy = false;
    }
  }

  private unreachable(voters: readonly NodeId[], progress: Readonly<Record<NodeId, { recentActive: boolean }>>): Record<NodeId, number> {
    const now = performance.now();
    const result: Record<NodeId, number> = {};
    for (const id of voters) {
      if (id === this.driver.nodeId || progress[id]?.recentActive !== false) {
        this.inactiveSince.delete(id);
        continue;
      }
      const since = this.inactiveSince.get(id) ?? now;
      this.inactiveSince.set(id, since);
      result[id] = now - since;
    }
    return result;
  }

  private async carryOut(step: MembershipStep): Promise<void> {
    if (step.kind === 'wait') {
      const line = `${step.member}: ${step.reason}`;
      if (line !== this.lastWait) this.log.info({ member: step.member, reason: step.reason }, 'membership.waiting');
      this.lastWait = line;
      return;
    }
    this.lastWait = '';
    switch (step.kind) {
      case 'addLearner':
        this.log.info({ member: step.member, address: step.address, why: 'requested membership' }, 'membership.adding_learner');
        await this.driver.changeMembership({ type: 'addLearner', nodeId: step.member, address: step.address }, STEP_TIMEOUT_MS);
        return;
      case 'promote':
        this.log.info({ member: step.member, why: 'the learner has caught up' }, 'membership.promoting_to_voter');
        await this.driver.changeMembership({ type: 'addVoter', nodeId: step.member, address: step.address }, STEP_TIMEOUT_MS);
        return;
      case 'removeNode':
        this.log.info({ member: step.member, why: 'an operator removed it' }, 'membership.removing_from_raft');
        await this.driver.changeMembership({ type: 'removeNode', nodeId: step.member }, STEP_TIMEOUT_MS);
        return;
      case 'replace': {
        const by = `pgherd: ${step.member} unreachable for ${Math.round(step.unreachableMs / 1000)} s, replaced by ${step.by}`;
        const result = await this.store.propose({ type: 'setMembership', atMs: this.wallNow(), member: step.member, target: 'removed', raftAddress: null, source: 'operator', by }, STEP_TIMEOUT_MS);
        if (result.ok) this.log.warn({ member: step.member, replacement: step.by, unreachableMs: Math.round(step.unreachableMs) }, 'membership.replacing_unreachable_voter');
        else this.log.warn({ member: step.member, code: result.code, detail: result.reason }, 'membership.replace_refused');
        return;
      }
      case 'forgetMember': {
        const result = await this.store.propose({ type: 'removeMember', atMs: this.wallNow(), member: step.member }, STEP_TIMEOUT_MS);
        if (result.ok) this.log.info({ member: step.member, why: 'removed from Raft; the primary drops its slot' }, 'membership.member_forgotten');
        else this.log.warn({ member: step.member, code: result.code, detail: result.reason }, 'membership.forget_refused');
        return;
      }
    }
  }
}

export interface JoinerOptions {
  readonly self: NodeId;
  readonly advertise: string;
  /** The members this node knows from its configuration (static peers), by name. */
  readonly peers: readonly NodeId[];
  /** Is this node in the Raft configuration yet (voter or learner)? */
  readonly isMember: () => boolean;
  readonly requestJoin: (peer: NodeId, address: string, timeoutMs: number) => Promise<void>;
  readonly log: Logger;
}

/**
 * A new node (never configured) asks its known peers in turn to record its
 * join, until the Raft leader has added it (the leader then sends it the
 * log). A refusal (a removed name) is logged at error: an operator must add
 * it (pgherdctl members add) or give it a new name. Returns a stop function.
 */
export function startJoining(o: JoinerOptions): () => void {
  let stopped = false;
  let attempt = 0;
  let lastError = '';
  const tick = async (): Promise<void> => {
    while (!stopped && !o.isMember()) {
      const peer = o.peers[attempt++ % o.peers.length]!;
      try {
        await o.requestJoin(peer, o.advertise, JOIN_TIMEOUT_MS);
        if (lastError !== 'recorded') o.log.info({ via: peer, address: o.advertise }, 'membership.join_requested');
        lastError = 'recorded';
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        if (message !== lastError) {
          const refused = code === 'PGHERD_RAFT_PROPOSAL_REFUSED';
          o.log[refused ? 'error' : 'info']({ via: peer, code, detail: message }, refused ? 'membership.join_refused' : 'membership.join_retry');
        }
        lastError = message;
      }
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
    }
    if (!stopped) o.log.info({ self: o.self }, 'membership.joined');
  };
  if (o.peers.length > 0) void tick();
  return () => {
    stopped = true;
  };
}

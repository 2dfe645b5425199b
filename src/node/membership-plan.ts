import type { ClusterState } from '../cluster/state.js';
import type { ConfState, NodeId, ProgressStatus } from '../raft/core/types.js';

/**
 * What the Raft leader does next to bring the Raft configuration to the
 * requested membership (ClusterState.membership). Pure. One step at a time:
 * Raft applies one configuration change at a time, and a step is re-derived
 * from the applied state on the next run, so a new leader simply carries on.
 *
 *  - a requested member not in the configuration joins as a learner;
 *  - a learner that has caught up becomes a voter;
 *  - a removed member leaves the configuration (never the last voter), then
 *    its registration is forgotten (which drops its slot on the primary).
 */

/** A learner is promoted once its log is within this many entries of the leader's. */
export const LEARNER_CATCH_UP_SLACK_ENTRIES = 20;

export type MembershipStep =
  | { readonly kind: 'addLearner'; readonly member: NodeId; readonly address: string }
  | { readonly kind: 'promote'; readonly member: NodeId; readonly address: string }
  | { readonly kind: 'removeNode'; readonly member: NodeId }
  | { readonly kind: 'forgetMember'; readonly member: NodeId }
  /** Nothing can be done yet, and why (logged when it changes). */
  | { readonly kind: 'wait'; readonly member: NodeId; readonly reason: string };

export interface LeaderView {
  readonly self: NodeId;
  readonly confState: ConfState;
  readonly lastIndex: number;
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
}

export function planMembership(state: ClusterState, raft: LeaderView): MembershipStep | null {
  let waiting: MembershipStep | null = null;
  for (const member of Object.keys(state.membership).sort()) {
    const step = stepFor(state, raft, member);
    if (step === null) continue;
    if (step.kind !== 'wait') return step;
    waiting ??= step;
  }
  return waiting;
}

function stepFor(state: ClusterState, raft: LeaderView, member: NodeId): MembershipStep | null {
  const intent = state.membership[member]!;
  const { voters, learners } = raft.confState;
  const inConfig = voters.includes(member) || learners.includes(member);
  if (intent.target === 'member') {
    if (intent.raftAddress === null) return null;
    if (!inConfig) return { kind: 'addLearner', member, address: intent.raftAddress };
    if (!learners.includes(member)) return null;
    const progress = raft.progress[member];
    if (progress !== undefined && progress.recentActive && progress.match + LEARNER_CATCH_UP_SLACK_ENTRIES >= raft.lastIndex) {
      return { kind: 'promote', member, address: intent.raftAddress };
    }
    return { kind: 'wait', member, reason: `the learner is catching up (at ${progress?.match ?? 0} of ${raft.lastIndex})` };
  }
  if (inConfig) {
    if (voters.length === 1 && voters[0] === member) return { kind: 'wait', member, reason: 'it is the last voter' };
    return { kind: 'removeNode', member };
  }
  if (!Object.hasOwn(state.members, member)) return null;
  if (state.leader?.member === member) return { kind: 'wait', member, reason: 'it holds the leader key' };
  if (state.sync.members.includes(member)) return { kind: 'wait', member, reason: 'it is a synchronous standby: the primary takes it out of sync first' };
  return { kind: 'forgetMember', member };
}

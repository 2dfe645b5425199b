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
 *    its registration is forgotten (which drops its slot on the primary);
 *  - a voter unreachable for replace_unreachable_after_ms while a new node
 *    waits, caught up, as a learner is replaced: it is marked removed (the
 *    steps above then remove it and promote the learner), so an auto-scaling
 *    group that replaces a dead instance heals without an operator. Never
 *    the primary (it holds the leader key: failover comes first).
 */

/** A learner is promoted once its log is within this many entries of the leader's. */
export const LEARNER_CATCH_UP_SLACK_ENTRIES = 20;

export type MembershipStep =
  | { readonly kind: 'addLearner'; readonly member: NodeId; readonly address: string }
  | { readonly kind: 'promote'; readonly member: NodeId; readonly address: string }
  | { readonly kind: 'removeNode'; readonly member: NodeId }
  | { readonly kind: 'forgetMember'; readonly member: NodeId }
  /** Mark the unreachable voter `member` removed: `by`, a caught-up learner, takes its place. */
  | { readonly kind: 'replace'; readonly member: NodeId; readonly by: NodeId; readonly unreachableMs: number }
  /** Nothing can be done yet, and why (logged when it changes). */
  | { readonly kind: 'wait'; readonly member: NodeId; readonly reason: string };

export interface LeaderView {
  readonly self: NodeId;
  readonly confState: ConfState;
  readonly lastIndex: number;
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
  /** How long each voter has been unreachable as this leader saw it (absent: reachable, or not known that long). */
  readonly unreachableMs?: Readonly<Record<NodeId, number>>;
  /** raft.replace_unreachable_after_ms; absent: never replace. */
  readonly replaceAfterMs?: number;
}

export function planMembership(state: ClusterState, raft: LeaderView): MembershipStep | null {
  // Before the learner's promotion: promoted, it would no longer be a node waiting to take a dead voter's place.
  const replace = replacement(state, raft);
  if (replace !== null) return replace;
  let waiting: MembershipStep | null = null;
  for (const member of Object.keys(state.membership).sort()) {
    const step = stepFor(state, raft, member);
    if (step === null) continue;
    if (step.kind !== 'wait') return step;
    waiting ??= step;
  }
  return waiting;
}

/**
 * A voter (not this leader, not the primary, not already removed) this leader has not heard from
 * for at least `forMs`; none when replacement is off.
 */
function unreachableVoter(state: ClusterState, raft: LeaderView, forMs = 0): NodeId | undefined {
  const unreachableMs = raft.unreachableMs;
  if (raft.replaceAfterMs === undefined || unreachableMs === undefined) return undefined;
  return [...raft.confState.voters]
    .sort()
    .find((id) => id !== raft.self && state.leader?.member !== id && unreachableMs[id] !== undefined && unreachableMs[id] >= forMs && state.membership[id]?.target !== 'removed');
}

/** A learner whose log is within the slack of the leader's and that answers. */
function caughtUp(raft: LeaderView, id: NodeId): boolean {
  const progress = raft.progress[id];
  return progress !== undefined && progress.recentActive && progress.match + LEARNER_CATCH_UP_SLACK_ENTRIES >= raft.lastIndex;
}

/** A caught-up learner waiting to be promoted, and a voter unreachable past the limit: replace that voter. */
function replacement(state: ClusterState, raft: LeaderView): MembershipStep | null {
  if (raft.replaceAfterMs === undefined || raft.unreachableMs === undefined) return null;
  const learner = raft.confState.learners.find((id) => state.membership[id]?.target === 'member' && caughtUp(raft, id));
  const dead = learner === undefined ? undefined : unreachableVoter(state, raft, raft.replaceAfterMs);
  return learner === undefined || dead === undefined ? null : { kind: 'replace', member: dead, by: learner, unreachableMs: raft.unreachableMs[dead]! };
}

function stepFor(state: ClusterState, raft: LeaderView, member: NodeId): MembershipStep | null {
  const intent = state.membership[member]!;
  const { voters, learners } = raft.confState;
  const inConfig = voters.includes(member) || learners.includes(member);
  if (intent.target === 'member') {
    if (intent.raftAddress === null) return null;
    if (!inConfig) return { kind: 'addLearner', member, address: intent.raftAddress };
    if (!learners.includes(member)) return null;
    if (caughtUp(raft, member)) {
      const away = unreachableVoter(state, raft);
      if (away !== undefined) {
        // Promoted now, it would no longer be the node waiting to take that voter's place.
        return { kind: 'wait', member, reason: `caught up; promoted once ${away} answers again, or in its place if it stays unreachable for ${raft.replaceAfterMs} ms` };
      }
      return { kind: 'promote', member, address: intent.raftAddress };
    }
    return { kind: 'wait', member, reason: `the learner is catching up (at ${raft.progress[member]?.match ?? 0} of ${raft.lastIndex})` };
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

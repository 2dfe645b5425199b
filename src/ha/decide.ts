import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ClusterState } from '../cluster/state.js';
import { chooseFailoverCandidate, type CandidatePosition, type Exclusion } from './candidates.js';
import { chooseSwitchoverCandidate } from './switchover.js';
import { failoverAllowedInMs, primaryLeaseValid, type ObservedLease, type PrimaryLease } from './lease.js';

/**
 * The HA decisions of DESIGN.md §5 that concern the primary's lease, as pure
 * functions: observation in, one decision with a reason code out. The
 * executor is the only code that acts on them (PostgreSQL, Raft, fence).
 *
 * Two deciders, because every node has two jobs:
 *  - decideLocal: what this node does with its own PostgreSQL's role;
 *  - decideFailover: what the Raft leader does about the primary's lease.
 *
 * And a third, small one: decideRaftLeadership keeps Raft leadership off
 * the primary's node, so losing that host does not also cost an election.
 *
 * Decided elsewhere, each its own rule set: starting, cloning, following
 * and rewinding replicas and primary_start_timeout (lifecycle.ts); slots
 * and bootstrap plans (duties.ts); the synchronous standby set (sync.ts);
 * the primary's side of a switchover (switchover.ts).
 */

export interface LocalPostgres {
  readonly running: boolean;
  readonly role: 'primary' | 'replica' | null;
  readonly timeline: number | null;
}

export interface HaObservation {
  /** Local monotonic clock, ms. */
  readonly nowMs: number;
  readonly self: string;
  /** The cluster state as applied on this node (possibly stale: every command the executor proposes is a compare-and-set). */
  readonly state: ClusterState;
  readonly isRaftLeader: boolean;
  /** This node's renewal bookkeeping (meaningful while it holds the leader key). */
  readonly lease: PrimaryLease;
  /** This node's view of the lease as Raft leader. */
  readonly observed: ObservedLease;
  readonly postgres: LocalPostgres;
  /** Answers to the last queryCandidates (fresh WAL positions); null when none were asked for this round. */
  readonly candidates: readonly CandidatePosition[] | null;
  /** The Raft voters as this node last applied them; on the Raft leader, only those it heard from recently. */
  readonly raftVoters: readonly string[];
}

export const LOCAL_REASONS = [
  'HOLDS_LEASE',
  'CONFIRMING_LEASE',
  'LEASE_LOST',
  'LEASE_HELD_BY_OTHER',
  'NO_LEASE_HOLDER',
  'ELECTED',
  'FIRST_PRIMARY',
  'REPLICA',
  'POSTGRES_NOT_RUNNING',
] as const;
export type LocalReason = (typeof LOCAL_REASONS)[number];

export type LocalDecision =
  /** Commit a renewal of the lease this node holds (and pet the fence only once it is confirmed). */
  | { readonly kind: 'renewLease'; readonly epoch: number; readonly reason: 'HOLDS_LEASE' | 'CONFIRMING_LEASE' }
  /** Stop accepting writes now: restart PostgreSQL read-only (as a standby) and disarm the fence. */
  | { readonly kind: 'demote'; readonly reason: 'LEASE_LOST' | 'LEASE_HELD_BY_OTHER' | 'NO_LEASE_HOLDER'; readonly holder: string | null }
  /** The cluster granted this node the lease: promote the local replica. */
  | { readonly kind: 'promote'; readonly epoch: number; readonly reason: 'ELECTED' }
  /** This node ran initdb and its primary runs: take the very first lease (promote at epoch 0). */
  | { readonly kind: 'claimFirstLease'; readonly timeline: number; readonly reason: 'FIRST_PRIMARY' }
  | { readonly kind: 'none'; readonly reason: 'REPLICA' | 'POSTGRES_NOT_RUNNING' };

export function decideLocal(o: HaObservation): LocalDecision {
  if (!o.postgres.running) return { kind: 'none', reason: 'POSTGRES_NOT_RUNNING' };
  return o.postgres.role === 'primary' ? decideForPrimary(o) : decideForReplica(o);
}

function decideForPrimary(o: HaObservation): LocalDecision {
  const leader = o.state.leader;
  if (leader === null) {
    if (isFirstPrimary(o)) return { kind: 'claimFirstLease', timeline: o.postgres.timeline ?? 1, reason: 'FIRST_PRIMARY' };
    return { kind: 'demote', reason: 'NO_LEASE_HOLDER', holder: null };
  }
  if (leader.member !== o.self) return { kind: 'demote', reason: 'LEASE_HELD_BY_OTHER', holder: leader.member };
  if (o.lease.confirmedRenewalSentAtMs === null) {
    // The agent (re)started beside a running primary: renew at once; the fence, still armed
    // from before, bounds how long PostgreSQL stays writable if the renewal is not confirmed.
    return { kind: 'renewLease', epoch: leader.epoch, reason: 'CONFIRMING_LEASE' };
  }
  if (!primaryLeaseValid(o.nowMs, o.lease, o.state.config.values)) return { kind: 'demote', reason: 'LEASE_LOST', holder: leader.member };
  return { kind: 'renewLease', epoch: leader.epoch, reason: 'HOLDS_LEASE' };
}

function decideForReplica(o: HaObservation): LocalDecision {
  const leader = o.state.leader;
  if (leader !== null && leader.member === o.self) return { kind: 'promote', epoch: leader.epoch, reason: 'ELECTED' };
  return { kind: 'none', reason: 'REPLICA' };
}

/** The initializer's own fresh primary, before anyone ever held the lease. */
function isFirstPrimary(o: HaObservation): boolean {
  const init = o.state.initialize;
  return o.state.epoch === 0 && init !== null && init.member === o.self && init.systemIdentifier !== null;
}

export const FAILOVER_REASONS = ['NOT_RAFT_LEADER', 'NOT_INITIALIZED', 'PAUSED', 'LEASE_VALID', 'LEASE_EXPIRED', 'NO_LEASE_HOLDER', 'MANUAL_FAILOVER', 'NO_CANDIDATE'] as const;
export type FailoverReason = (typeof FAILOVER_REASONS)[number];

export type FailoverDecision =
  /** Ask these members for their current WAL position (short deadline), then decide again with the answers. */
  | { readonly kind: 'queryCandidates'; readonly members: readonly string[]; readonly reason: 'LEASE_EXPIRED' | 'NO_LEASE_HOLDER' | 'MANUAL_FAILOVER' }
  /** Commit promote(candidate, expectedEpoch): a compare-and-set, so a stale decision is refused by apply. */
  | {
      readonly kind: 'promote';
      readonly candidate: string;
      readonly expectedEpoch: number;
      readonly timeline: number;
      readonly switchLsn: string;
      /** The lapsed lease's renewal sequence (null: no holder); apply refuses the promote if a renewal committed since. */
      readonly expectedRenewalSeq: number | null;
      readonly reason: 'LEASE_EXPIRED' | 'NO_LEASE_HOLDER' | 'MANUAL_FAILOVER';
      readonly excluded: readonly Exclusion[];
    }
  | { readonly kind: 'none'; readonly reason: 'NOT_RAFT_LEADER' | 'NOT_INITIALIZED' | 'PAUSED'; }
  | { readonly kind: 'none'; readonly reason: 'LEASE_VALID'; readonly waitMs: number }
  | { readonly kind: 'none'; readonly reason: 'NO_CANDIDATE'; readonly excluded: readonly Exclusion[] };

/**
 * The Raft leader's failover rule. A pending request naming a target (an
 * operator's `failover --candidate`, or a switchover its primary can no
 * longer run) is honoured once the lease has lapsed — also while paused,
 * since an operator asked for it — provided the target passes the same
 * candidate rules; otherwise, unless paused, the best candidate wins.
 * Nothing ever overrides the lease: a live primary hands over only
 * through the switchover it runs itself.
 */
export function decideFailover(o: HaObservation): FailoverDecision {
  if (!o.isRaftLeader) return { kind: 'none', reason: 'NOT_RAFT_LEADER' };
  const state = o.state;
  if (state.epoch === 0) return { kind: 'none', reason: 'NOT_INITIALIZED' };
  const requested = state.switchover?.to ?? null;
  if (state.pause.paused && requested === null) return { kind: 'none', reason: 'PAUSED' };
  let reason: 'LEASE_EXPIRED' | 'NO_LEASE_HOLDER' = 'NO_LEASE_HOLDER';
  if (state.leader !== null) {
    const waitMs = failoverAllowedInMs(o.nowMs, o.observed, state.config.values);
    if (waitMs > 0) return { kind: 'none', reason: 'LEASE_VALID', waitMs };
    reason = 'LEASE_EXPIRED';
  }
  if (o.candidates === null) {
    const members = Object.keys(state.members).filter((name) => name !== state.leader?.member).sort();
    return { kind: 'queryCandidates', members, reason: requested === null ? reason : 'MANUAL_FAILOVER' };
  }
  let choice = requested === null ? null : chooseSwitchoverCandidate(state, o.candidates, requested);
  let chosenFor: 'LEASE_EXPIRED' | 'NO_LEASE_HOLDER' | 'MANUAL_FAILOVER' = 'MANUAL_FAILOVER';
  if (choice === null || !choice.ok) {
    if (state.pause.paused) return { kind: 'none', reason: 'NO_CANDIDATE', excluded: choice?.excluded ?? [] };
    const requestedExclusions = choice?.excluded ?? [];
    choice = chooseFailoverCandidate(state, o.candidates);
    chosenFor = reason;
    if (!choice.ok) return { kind: 'none', reason: 'NO_CANDIDATE', excluded: mergeExclusions(requestedExclusions, choice.excluded) };
  }
  // PostgreSQL's promotion starts a new timeline; the history records where the old one ended.
  return {
    kind: 'promote',
    candidate: choice.member,
    expectedEpoch: state.epoch,
    timeline: choice.timeline + 1,
    switchLsn: choice.receiveLsn,
    expectedRenewalSeq: state.leader?.lastRenewal.seq ?? null,
    reason: chosenFor,
    excluded: choice.excluded,
  };
}

function mergeExclusions(first: readonly Exclusion[], second: readonly Exclusion[]): Exclusion[] {
  const seen = new Set(second.map((e) => e.member));
  return [...second, ...first.filter((e) => !seen.has(e.member))];
}

/** The command a failover decision commits: one place, so the agent and the simulator cannot drift apart (e.g. drop the renewal check). */
export function failoverCommand(decision: Extract<FailoverDecision, { kind: 'promote' }>, atMs: number): ClusterCommandInput {
  return {
    type: 'promote',
    atMs,
    candidate: decision.candidate,
    expectedEpoch: decision.expectedEpoch,
    timeline: decision.timeline,
    reason: decision.reason,
    kind: decision.reason === 'MANUAL_FAILOVER' ? 'manual' : 'failover',
    switchLsn: decision.switchLsn,
    expectedRenewalSeq: decision.expectedRenewalSeq,
  };
}

/** The command of claimFirstLease: the initializer becomes the first primary (epoch 0 → 1, no history entry). */
export function firstLeaseCommand(self: string, decision: Extract<LocalDecision, { kind: 'claimFirstLease' }>, switchLsn: string, atMs: number): ClusterCommandInput {
  return { type: 'promote', atMs, candidate: self, expectedEpoch: 0, timeline: decision.timeline, reason: 'bootstrap: the member that ran initdb', kind: 'manual', switchLsn };
}

export type RaftLeadershipDecision =
  /** Hand Raft leadership to a healthy replica's node (leadership transfer, TimeoutNow). */
  | { readonly kind: 'transferRaftLeadership'; readonly to: string; readonly reason: 'PRIMARY_HOLDS_RAFT_LEADERSHIP' }
  | { readonly kind: 'none'; readonly reason: 'NOT_RAFT_LEADER' | 'NOT_PRIMARY_NODE' | 'NO_HEALTHY_REPLICA_VOTER' };

/**
 * DESIGN.md §5: prefer Raft leadership on a healthy replica. When the Raft
 * leader's node also holds the primary's lease, move Raft leadership to a
 * voter whose last report says it is a replica within the failover lag
 * limit (the least lagging; ties by name), so that losing the primary's
 * host does not also cost a Raft election before the failover can start.
 */
export function decideRaftLeadership(o: HaObservation): RaftLeadershipDecision {
  if (!o.isRaftLeader) return { kind: 'none', reason: 'NOT_RAFT_LEADER' };
  if (o.state.leader?.member !== o.self) return { kind: 'none', reason: 'NOT_PRIMARY_NODE' };
  const maxLagBytes = o.state.config.values.maximum_lag_on_failover_bytes;
  const healthy = o.raftVoters
    .filter((name) => name !== o.self)
    .flatMap((name) => {
      const member = o.state.members[name];
      const status = member?.status;
      if (!member || !status || status.role !== 'replica' || status.lagBytes === null || status.lagBytes > maxLagBytes) return [];
      return [{ name, lagBytes: status.lagBytes }];
    })
    .sort((a, b) => a.lagBytes - b.lagBytes || a.name.localeCompare(b.name));
  const target = healthy[0];
  if (!target) return { kind: 'none', reason: 'NO_HEALTHY_REPLICA_VOTER' };
  return { kind: 'transferRaftLeadership', to: target.name, reason: 'PRIMARY_HOLDS_RAFT_LEADERSHIP' };
}

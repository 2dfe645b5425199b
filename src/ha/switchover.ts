import { compareLsn, type Lsn } from '../cluster/lsn.js';
import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ClusterState } from '../cluster/state.js';
import { chooseFailoverCandidate, type CandidateChoice, type CandidatePosition, type Exclusion } from './candidates.js';

/**
 * Planned switchover (DESIGN.md §5), the primary's side, pure.
 *
 * The primary that a pending `switchover` names as `from` runs it, once its
 * scheduled time has come: it asks the candidates for their WAL positions,
 * picks the requested member (or the best one, by the failover rules:
 * promotable, healthy, on the cluster's timeline, within the lag limit,
 * in `sync` in synchronous mode), checkpoints, stops PostgreSQL cleanly (a
 * fast shutdown sends every WAL record, the shutdown checkpoint last, to the
 * connected standbys), waits until the candidate has received WAL past that
 * checkpoint, and only then commits promote(candidate) — so the candidate
 * has every write the old primary ever acknowledged and the old primary can
 * follow the new timeline without pg_rewind. If no candidate qualifies the
 * request is cancelled and the primary keeps running; if the candidate does
 * not catch up within the lease the primary starts again and nobody is
 * promoted.
 *
 * Pause does not block a switchover: an operator asked for it.
 */

export const SWITCHOVER_REASONS = ['NO_REQUEST', 'NOT_FROM_SELF', 'SCHEDULED', 'REQUESTED', 'NO_CANDIDATE'] as const;
export type SwitchoverReason = (typeof SWITCHOVER_REASONS)[number];

export interface SwitchoverObservation {
  /** Wall clock, ms: a scheduled switchover names a wall-clock time. */
  readonly wallNowMs: number;
  readonly self: string;
  readonly state: ClusterState;
  /** Answers to the last queryCandidates; null when none were asked for this round. */
  readonly candidates: readonly CandidatePosition[] | null;
}

export type SwitchoverDecision =
  | { readonly kind: 'none'; readonly reason: 'NO_REQUEST' | 'NOT_FROM_SELF' }
  | { readonly kind: 'none'; readonly reason: 'SCHEDULED'; readonly waitMs: number }
  | { readonly kind: 'queryCandidates'; readonly members: readonly string[]; readonly reason: 'REQUESTED' }
  /** Stop cleanly and hand over to `candidate` (then promote it at expectedEpoch + 1, on timeline + 1). */
  | { readonly kind: 'execute'; readonly candidate: string; readonly expectedEpoch: number; readonly timeline: number; readonly excluded: readonly Exclusion[]; readonly reason: 'REQUESTED' }
  | { readonly kind: 'cancel'; readonly reason: 'NO_CANDIDATE'; readonly excluded: readonly Exclusion[] };

export function decideSwitchover(o: SwitchoverObservation): SwitchoverDecision {
  const { state } = o;
  const request = state.switchover;
  if (request === null) return { kind: 'none', reason: 'NO_REQUEST' };
  if (request.from !== o.self || state.leader?.member !== o.self) return { kind: 'none', reason: 'NOT_FROM_SELF' };
  if (request.scheduledAtMs !== null && o.wallNowMs < request.scheduledAtMs) return { kind: 'none', reason: 'SCHEDULED', waitMs: request.scheduledAtMs - o.wallNowMs };
  if (o.candidates === null) {
    return { kind: 'queryCandidates', members: membersToAsk(state, o.self, request.to), reason: 'REQUESTED' };
  }
  const choice = chooseSwitchoverCandidate(state, o.candidates, request.to);
  if (!choice.ok) return { kind: 'cancel', reason: 'NO_CANDIDATE', excluded: choice.excluded };
  return { kind: 'execute', candidate: choice.member, expectedEpoch: state.leader.epoch, timeline: choice.timeline + 1, excluded: choice.excluded, reason: 'REQUESTED' };
}

/** Whose WAL position decides a switchover from `from`: the named member, or every member but the primary, sorted. */
export function membersToAsk(state: ClusterState, from: string, to: string | null): string[] {
  if (to !== null) return [to];
  return Object.keys(state.members).filter((name) => name !== from).sort();
}

/**
 * Whom a switchover (or an operator's failover) to `to` would promote, by
 * the failover rules; `to` null: the best candidate. The admin API runs the
 * same check before it records a request, so a refusal reaches the operator
 * at once rather than as a cancelled request.
 */
export function chooseSwitchoverCandidate(state: ClusterState, positions: readonly CandidatePosition[], to: string | null): CandidateChoice {
  if (to !== null && !positions.some((p) => p.member === to)) {
    return { ok: false, excluded: [{ member: to, reason: 'UNREACHABLE', detail: 'its WAL position was not asked for or not answered' }] };
  }
  return chooseFailoverCandidate(state, positions, to);
}

/**
 * The stopped primary's handover condition: the candidate has received WAL
 * past the start of the old primary's shutdown checkpoint record, the last
 * record it wrote (a receive position always ends at a whole record of the
 * last send, and the shutdown checkpoint is that last send).
 */
export function caughtUpWithShutdown(position: CandidatePosition, checkpointLsn: Lsn): boolean {
  return position.healthy && position.receiveLsn !== null && compareLsn(position.receiveLsn, checkpointLsn) > 0;
}

/** Kept back from the lease for the handover's last steps (the promote proposal, the fence's own slack). */
export const HANDOVER_LEASE_RESERVE_MS = 400;

/**
 * The promote a stopped primary commits to hand over — one place for the
 * agent and the simulator. `expectedRenewalSeq` is the primary's last
 * renewal (read linearizably): apply refuses the promote if any renewal
 * commits before it, which is what keeps a stale old primary from running
 * beside the new one (seed 196).
 */
export function handoverCommand(
  d: { readonly candidate: string; readonly expectedEpoch: number; readonly timeline: number },
  handover: { readonly switchLsn: string; readonly expectedRenewalSeq: number | null; readonly reason: string; readonly atMs: number },
): ClusterCommandInput {
  return {
    type: 'promote',
    atMs: handover.atMs,
    candidate: d.candidate,
    expectedEpoch: d.expectedEpoch,
    timeline: d.timeline,
    reason: handover.reason,
    kind: 'switchover',
    switchLsn: handover.switchLsn,
    expectedRenewalSeq: handover.expectedRenewalSeq,
  };
}

import { status as Status } from '@grpc/grpc-js';
import type { ClusterState, Switchover } from '../cluster/state.js';
import type { CandidateChoice, CandidatePosition } from '../ha/candidates.js';
import { chooseSwitchoverCandidate } from '../ha/switchover.js';
import { AdminRefusal } from './errors.js';
import type { HandoverRequest } from './requests.js';
import { formatTime } from './time.js';

/**
 * The admin side of a switchover or operator failover, pure: what refuses
 * a request before it is recorded, whom to ask for WAL positions, and how
 * far a recorded request has come. The HA layer executes it (src/ha).
 */

/** The primary a request would hand over from: the leader key's holder at `epoch`. */
export interface HandoverSource {
  readonly from: string;
  readonly epoch: number;
}

/**
 * Refuse what the state alone rules out, in the order an operator fixes
 * things: no primary, an unknown candidate, the primary as candidate, a
 * request already pending.
 */
export function checkHandover(state: ClusterState, request: HandoverRequest): HandoverSource {
  const leader = state.leader;
  if (leader === null) {
    const why =
      request.kind === 'failover'
        ? `no primary holds the leader key, so there is nothing to fail over from: automatic failover promotes the best replica${state.pause.paused ? ', but the cluster is paused: resume it (pgherdctl resume)' : ' (the cluster is not paused)'}`
        : `no primary holds the leader key: a switchover needs a running primary${state.pause.paused ? '; the cluster is paused: resume it (pgherdctl resume) for automatic failover' : '; automatic failover promotes the best replica'}`;
    throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_PRIMARY', why);
  }
  const candidate = request.candidate;
  if (candidate !== null && state.members[candidate] === undefined) {
    const known = Object.keys(state.members).sort().join(', ') || 'none';
    throw new AdminRefusal(Status.NOT_FOUND, 'UNKNOWN_CANDIDATE', `candidate ${candidate} is not a member of the cluster (members: ${known})`);
  }
  if (candidate === leader.member) {
    throw new AdminRefusal(Status.INVALID_ARGUMENT, 'CANDIDATE_IS_PRIMARY', `candidate ${candidate} is already the primary: name a replica`);
  }
  if (state.switchover !== null) {
    throw new AdminRefusal(Status.ALREADY_EXISTS, 'SWITCHOVER_PENDING', `a ${describeSwitchover(state.switchover)} is already pending: wait for it, or cancel it (pgherdctl switchover --cancel)`);
  }
  return { from: leader.member, epoch: leader.epoch };
}

/** The primary's own rule for whose WAL position decides (src/ha/switchover.ts), so the check asks the same members. */
export { membersToAsk } from '../ha/switchover.js';

/** The candidate the failover rules accept on `positions`; refused with every exclusion listed otherwise. */
export function checkCandidates(state: ClusterState, positions: readonly CandidatePosition[], candidate: string | null): CandidateChoice & { ok: true } {
  if (positions.length === 0) {
    throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_CANDIDATE', 'no member other than the primary is registered: nobody to hand over to');
  }
  const choice = chooseSwitchoverCandidate(state, positions, candidate);
  if (choice.ok) return choice;
  const exclusions = choice.excluded.map((e) => `${e.member}: ${e.reason} (${e.detail})`).join('; ');
  const subject = candidate === null ? 'no member qualifies as the new primary' : `candidate ${candidate} does not qualify`;
  throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_CANDIDATE', `${subject}: ${exclusions}`);
}

/** A recorded request, as the service waits for it. */
export interface TrackedHandover {
  readonly request: Switchover;
  /** The leader epoch when it was recorded: a new primary has a higher one. */
  readonly epoch: number;
}

export type HandoverProgress =
  | { readonly kind: 'pending' }
  | { readonly kind: 'completed'; readonly member: string; readonly epoch: number; readonly timeline: number }
  /** The request is gone (or replaced) and no other member was promoted. */
  | { readonly kind: 'withdrawn' };

/**
 * Where a recorded request stands in `state`. Completed once another
 * member than `from` was promoted at a higher epoch (whoever it is: the
 * rules may have promoted another one) and reports itself running as the
 * primary on the new timeline — the moment clients can write again. Withdrawn only once `synced`: the
 * state is known to include the request's own entry (a Raft read after it
 * committed), so its absence means it was cancelled rather than not yet
 * applied here.
 */
export function handoverProgress(state: ClusterState, tracked: TrackedHandover, synced: boolean): HandoverProgress {
  const last = state.lastPrimary;
  if (state.epoch > tracked.epoch && last.member !== null && last.member !== tracked.request.from) {
    // Done for the operator once the new primary says it runs as one on its new timeline (or the key moved on since).
    const status = state.members[last.member]?.status;
    const serving = status?.role === 'primary' && status.timeline !== null && status.timeline >= last.timeline;
    if (serving || state.leader?.member !== last.member) return { kind: 'completed', member: last.member, epoch: state.epoch, timeline: last.timeline };
    return { kind: 'pending' };
  }
  if (synced && !sameRequest(state.switchover, tracked.request)) return { kind: 'withdrawn' };
  return { kind: 'pending' };
}

function sameRequest(a: Switchover | null, b: Switchover): boolean {
  return a !== null && a.from === b.from && a.to === b.to && a.requestedAtMs === b.requestedAtMs && a.scheduledAtMs === b.scheduledAtMs;
}

/** "switchover from n1 to n2 (scheduled for …)" for messages. */
export function describeSwitchover(request: Switchover): string {
  const to = request.to === null ? 'the best candidate' : request.to;
  const when = request.scheduledAtMs === null ? '' : ` scheduled for ${formatTime(request.scheduledAtMs)}`;
  return `switchover from ${request.from} to ${to}${when}`;
}

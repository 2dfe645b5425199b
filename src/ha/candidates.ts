import { compareLsn, lsnDiffBytes, type Lsn } from '../cluster/lsn.js';
import { isPromotable, type ClusterState, type Member } from '../cluster/state.js';

/** What a candidate answered when asked for its WAL position during a failover (with a short deadline). */
export interface CandidatePosition {
  readonly member: string;
  /** false: it did not answer within the deadline. */
  readonly reachable: boolean;
  /** Its PostgreSQL is running as a replica and answers queries. */
  readonly healthy: boolean;
  readonly timeline: number | null;
  /** The newest WAL it has received (flushed to its disk); null when unknown. */
  readonly receiveLsn: Lsn | null;
}

export const EXCLUSION_REASONS = [
  'NOFAILOVER',
  'UNREACHABLE',
  'UNHEALTHY',
  'NO_POSITION',
  'TIMELINE_BEHIND',
  'LAGGING',
  'NOT_SYNC_STANDBY',
  'IS_FAILED_PRIMARY',
  'UNKNOWN_MEMBER',
  /** An operator removed it (pgherdctl members remove): it is on its way out. */
  'REMOVED',
] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

export interface Exclusion {
  readonly member: string;
  readonly reason: ExclusionReason;
  readonly detail: string;
}

export type CandidateChoice =
  | { readonly ok: true; readonly member: string; readonly receiveLsn: Lsn; readonly timeline: number; readonly excluded: readonly Exclusion[] }
  | { readonly ok: false; readonly excluded: readonly Exclusion[] };

/**
 * Choose whom to promote when the primary's lease has lapsed (DESIGN.md §5).
 * Excludes: nofailover (or failover_priority 0), unreachable, unhealthy,
 * without a WAL position, on a timeline behind the cluster's, lagging more
 * than maximum_lag_on_failover_bytes behind the best known position
 * (including the failed primary's last report, as Patroni does), and — in
 * synchronous mode — members not recorded in `sync` (an empty `sync` means
 * nobody: the primary was running without a synchronous standby). Among the rest:
 * highest WAL position, then highest failover_priority, then name (so the
 * choice is deterministic). Pure: the positions come from the caller.
 * `only`: choose that member or nobody (an operator's target); the others'
 * positions still count for the lag limit.
 */
export function chooseFailoverCandidate(state: ClusterState, positions: readonly CandidatePosition[], only: string | null = null): CandidateChoice {
  const excluded: Exclusion[] = [];
  const eligible: { position: CandidatePosition & { receiveLsn: Lsn; timeline: number }; member: Member }[] = [];
  const failedPrimary = state.leader?.member ?? null;
  for (const position of [...positions].sort((a, b) => a.member.localeCompare(b.member))) {
    const exclusion = excludeByState(state, position, failedPrimary);
    if (exclusion === null) eligible.push({ position: position as CandidatePosition & { receiveLsn: Lsn; timeline: number }, member: state.members[position.member]! });
    else if (only === null || exclusion.member === only) excluded.push(exclusion);
  }
  const best = bestKnownLsn(state, eligible.map((e) => e.position.receiveLsn));
  const lagLimitBytes = BigInt(state.config.values.maximum_lag_on_failover_bytes);
  const survivors = eligible.filter(({ position }) => {
    if (only !== null && position.member !== only) return false;
    const lagBytes = best === null ? 0n : lsnDiffBytes(best, position.receiveLsn);
    if (lagBytes <= lagLimitBytes) return true;
    excluded.push({ member: position.member, reason: 'LAGGING', detail: `${lagBytes} bytes behind ${best}, limit ${lagLimitBytes}` });
    return false;
  });
  survivors.sort((a, b) => {
    const byLsn = compareLsn(b.position.receiveLsn, a.position.receiveLsn);
    if (byLsn !== 0) return byLsn;
    const byPriority = b.member.registration.tags.failover_priority - a.member.registration.tags.failover_priority;
    return byPriority !== 0 ? byPriority : a.position.member.localeCompare(b.position.member);
  });
  const winner = survivors[0];
  if (!winner) return { ok: false, excluded };
  return { ok: true, member: winner.position.member, receiveLsn: winner.position.receiveLsn, timeline: winner.position.timeline, excluded };
}

function excludeByState(state: ClusterState, position: CandidatePosition, failedPrimary: string | null): Exclusion | null {
  const name = position.member;
  const member = state.members[name];
  if (!member) return { member: name, reason: 'UNKNOWN_MEMBER', detail: 'not registered in the cluster state' };
  if (name === failedPrimary) return { member: name, reason: 'IS_FAILED_PRIMARY', detail: 'it holds the lapsed lease' };
  if (state.membership[name]?.target === 'removed') return { member: name, reason: 'REMOVED', detail: 'an operator removed it from the cluster' };
  if (!isPromotable(member.registration.tags)) {
    return { member: name, reason: 'NOFAILOVER', detail: 'tagged nofailover or failover_priority 0' };
  }
  if (!position.reachable) return { member: name, reason: 'UNREACHABLE', detail: 'did not answer within the deadline' };
  if (!position.healthy) return { member: name, reason: 'UNHEALTHY', detail: 'PostgreSQL is not running as a healthy replica' };
  if (position.receiveLsn === null || position.timeline === null) {
    return { member: name, reason: 'NO_POSITION', detail: 'reported no WAL position or timeline' };
  }
  const clusterTimeline = state.leader?.timeline ?? state.lastPrimary.timeline;
  if (position.timeline < clusterTimeline) {
    return { member: name, reason: 'TIMELINE_BEHIND', detail: `on timeline ${position.timeline}, the cluster is on ${clusterTimeline}` };
  }
  if (state.config.values.synchronous_mode !== 'off' && !state.sync.members.includes(name)) {
    // An empty set means the primary ran without a synchronous standby (degraded): nobody has
    // every acknowledged write, so nobody is promoted automatically.
    const allowed = state.sync.members.length > 0 ? `only ${state.sync.members.join(', ')} may be promoted` : 'no synchronous standby is recorded';
    return { member: name, reason: 'NOT_SYNC_STANDBY', detail: `synchronous mode: ${allowed}` };
  }
  return null;
}

/** The newest position anyone is known to have: the candidates' and the failed primary's last report. */
function bestKnownLsn(state: ClusterState, candidateLsns: readonly Lsn[]): Lsn | null {
  const primary = state.leader ? state.members[state.leader.member]?.status : undefined;
  const known = [...candidateLsns, ...(primary?.flushLsn ? [primary.flushLsn] : [])];
  return known.reduce<Lsn | null>((best, lsn) => (best === null || compareLsn(lsn, best) > 0 ? lsn : best), null);
}

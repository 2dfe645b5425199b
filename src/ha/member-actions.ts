import type { ClusterState, MemberAction } from '../cluster/state.js';
import type { DataDirSummary, LifecycleAction } from './lifecycle.js';

/**
 * When a member carries out the operator action the cluster state holds
 * for it (restart, reload, reinit: src/cluster/apply-actions.ts), pure.
 * The HA loop asks this every turn, after the lifecycle rules; the action
 * runner (action-runner.ts) does what it says, as one step of the loop.
 *
 * - restart and reload need PostgreSQL settled and running (the lifecycle
 *   says RUNNING): a member still cloning, starting or re-pointing does
 *   that first. A restart keeps the role PostgreSQL has: a primary that
 *   holds the leader key restarts as the primary (keeping its lease), a
 *   replica as a replica of the same upstream.
 * - reinit re-clones a replica from the primary: never on the member
 *   holding the leader key or running as a primary, never over a data
 *   directory of another database system, and only while some member
 *   holds the leader key to clone from. PostgreSQL need not be running
 *   (a replica that cannot start is what reinit is for).
 * - Pause does not block them: an operator asked (as in Patroni, where a
 *   manual restart works in maintenance mode). The lifecycle, blocked by
 *   the pause, does not start PostgreSQL again if the action fails.
 * - An action found `running` that this agent process did not take up was
 *   interrupted (the agent stopped meanwhile): it ends as failed, so the
 *   operator can ask again; it is never resumed half-way.
 */

export interface MemberActionObservation {
  /** Wall clock, ms: a scheduled restart names a wall-clock time. */
  readonly wallNowMs: number;
  readonly self: string;
  readonly state: ClusterState;
  /** Ids of the actions this agent process already took up: never again. */
  readonly handled: ReadonlySet<string>;
  readonly dataDir: DataDirSummary;
  readonly postgres: { readonly running: boolean; readonly role: 'primary' | 'replica' | null };
  /** What the lifecycle rules decided this turn. */
  readonly lifecycle: LifecycleAction;
}

export const MEMBER_ACTION_FAILURES = ['INTERRUPTED', 'NOT_RUNNING', 'IS_PRIMARY', 'NO_PRIMARY', 'FOREIGN_DATA'] as const;
export type MemberActionFailure = (typeof MEMBER_ACTION_FAILURES)[number];

export type MemberActionDecision =
  | { readonly kind: 'none'; readonly reason: 'NO_ACTION' | 'HANDLED' | 'NOT_SETTLED' }
  | { readonly kind: 'none'; readonly reason: 'SCHEDULED'; readonly waitMs: number }
  /** Restart PostgreSQL (as `role`), or reload it. */
  | { readonly kind: 'restart' | 'reload'; readonly action: MemberAction; readonly role: 'primary' | 'replica'; readonly epoch: number | null }
  /** Stop, empty the data directory, pg_basebackup from `source` with this member's slot, start as its replica. */
  | { readonly kind: 'reinit'; readonly action: MemberAction; readonly source: string }
  /** End the action as failed without touching anything. */
  | { readonly kind: 'fail'; readonly action: MemberAction; readonly reason: MemberActionFailure; readonly detail: string };

export function decideMemberAction(o: MemberActionObservation): MemberActionDecision {
  const action = Object.hasOwn(o.state.actions, o.self) ? o.state.actions[o.self] : undefined;
  if (action === undefined || (action.status !== 'pending' && action.status !== 'running')) return { kind: 'none', reason: 'NO_ACTION' };
  if (o.handled.has(action.id)) return { kind: 'none', reason: 'HANDLED' };
  if (action.status === 'running') {
    return { kind: 'fail', action, reason: 'INTERRUPTED', detail: `the agent stopped while the ${action.kind} ran; check the member and ask again if it is still needed` };
  }
  if (action.scheduledAtMs !== null && o.wallNowMs < action.scheduledAtMs) return { kind: 'none', reason: 'SCHEDULED', waitMs: action.scheduledAtMs - o.wallNowMs };
  return action.kind === 'reinit' ? decideReinit(o, action) : decideRestartOrReload(o, action);
}

function decideRestartOrReload(o: MemberActionObservation, action: MemberAction): MemberActionDecision {
  if (!o.postgres.running) {
    const after = action.kind === 'reload' ? 'nothing to reload' : 'nothing to restart';
    const paused = o.state.pause.paused ? 'the cluster is paused, so the agent does not start it: resume, or start it by hand' : 'the agent starts it by itself';
    return { kind: 'fail', action, reason: 'NOT_RUNNING', detail: `PostgreSQL is not running: ${after}; ${paused}` };
  }
  const settled = o.lifecycle.kind === 'wait' && o.lifecycle.reason === 'RUNNING' && o.postgres.role !== null;
  if (!settled) return { kind: 'none', reason: 'NOT_SETTLED' };
  const leader = o.state.leader;
  if (o.postgres.role === 'primary') {
    // A primary without the leader key is demoted by the lease rules first; restart it as what it then is.
    if (leader?.member !== o.self) return { kind: 'none', reason: 'NOT_SETTLED' };
    return { kind: action.kind as 'restart' | 'reload', action, role: 'primary', epoch: leader.epoch };
  }
  return { kind: action.kind as 'restart' | 'reload', action, role: 'replica', epoch: null };
}

function decideReinit(o: MemberActionObservation, action: MemberAction): MemberActionDecision {
  const leader = o.state.leader;
  if (leader?.member === o.self || o.postgres.role === 'primary') {
    return { kind: 'fail', action, reason: 'IS_PRIMARY', detail: `${o.self} is the primary: reinit re-clones a replica from the primary; switch over first` };
  }
  const systemIdentifier = o.state.initialize?.systemIdentifier ?? null;
  const data = o.dataDir;
  if (data.kind === 'foreign' || (data.kind === 'pgdata' && data.systemIdentifier !== systemIdentifier)) {
    return { kind: 'fail', action, reason: 'FOREIGN_DATA', detail: 'the data directory does not belong to this cluster: it is never emptied by the agent; move it away' };
  }
  if (leader === null || systemIdentifier === null) {
    return { kind: 'fail', action, reason: 'NO_PRIMARY', detail: 'no member holds the leader key: there is no primary to clone from; ask again once there is one' };
  }
  const bootstrapping = o.lifecycle.kind === 'register' || o.lifecycle.kind === 'claimInitialize' || o.lifecycle.kind === 'initialize' || o.lifecycle.kind === 'restoreCluster';
  if (bootstrapping) return { kind: 'none', reason: 'NOT_SETTLED' };
  return { kind: 'reinit', action, source: leader.member };
}

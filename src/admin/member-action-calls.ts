import { randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { ApplyRejection } from '../cluster/results.js';
import type { ClusterState, MemberAction } from '../cluster/state.js';
import type { Logger } from '../lib/logger.js';
import type { ActionContext } from './actions.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal } from './errors.js';
import { resolveTargets, type MemberActionRequest } from './member-action-requests.js';
import { memberActionView } from './member-action-view.js';
import { proposeCommand, readForAction, refusalOf } from './raft-calls.js';
import { formatTime } from './time.js';
import { pollAfterSync } from './wait.js';
import type { WireMemberAction, WireMemberActionsResponse } from './wire.js';

/** How often a waiting call looks at the local state (as a switchover wait does). */
export const MEMBER_ACTION_POLL_MS = 100;

/** A recorded action the call waits for. */
export interface TrackedAction {
  readonly member: string;
  readonly id: string;
}

/**
 * Restart, Reload, Reinit and CancelMemberActions over an AdminBackend:
 * check the whole request on one linearizable read, record one action per
 * member through Raft, then wait (unless scheduled) until every member
 * has ended its action or the wait is over. Each member's HA loop carries
 * its action out (src/ha/action-runner.ts).
 */
export class MemberActionCalls {
  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
    private readonly newId: () => string = () => randomBytes(6).toString('hex'),
  ) {}

  async request(request: MemberActionRequest, ctx: ActionContext): Promise<WireMemberActionsResponse> {
    const startedMs = performance.now();
    const targets = resolveTargets(await readForAction(this.backend), request);
    Object.assign(ctx.fields, { kind: request.kind, members: targets, pendingOnly: request.pendingOnly || undefined, scheduledAt: formatTime(request.scheduledAtMs) || undefined });
    const atMs = this.backend.wallNow();
    const tracked: TrackedAction[] = [];
    for (const member of targets) {
      const id = this.newId();
      const command = { type: 'requestMemberAction', atMs, member, id, kind: request.kind, pendingOnly: request.pendingOnly, scheduledAtMs: request.scheduledAtMs, by: request.by } as const;
      const result = await proposeCommand(this.backend, command, `the ${request.kind} of ${member}`);
      this.log.debug({ command: command.type, member, ok: result.ok }, 'admin.proposed');
      if (!result.ok) throw actionRefusal(result, `the ${request.kind} of ${member}`, tracked);
      tracked.push({ member, id });
    }
    ctx.fields['ids'] = tracked.map((t) => `${t.member}:${t.id}`);
    if (request.scheduledAtMs !== null) {
      return { actions: currentViews(this.backend.local(), tracked), message: `scheduled the ${request.kind} of ${targets.join(', ')} for ${formatTime(request.scheduledAtMs)}: cancel with pgherdctl restart --cancel` };
    }
    const actions = await waitForActions(this.backend, tracked, Math.min(ctx.deadlineMs, startedMs + request.waitMs), ctx.signal, this.log);
    const open = actions.filter((a) => a.status === 'pending' || a.status === 'running');
    ctx.fields['results'] = actions.map((a) => `${a.member}:${a.status}`);
    const summary = actions.map((a) => `${a.member} ${a.status}${a.detail === '' || open.includes(a) ? '' : ` (${a.detail})`}`).join('; ');
    const late = open.length === 0 ? '' : `; not ended after ${Math.round(performance.now() - startedMs)} ms: ${open.map((a) => a.member).join(', ')} (pgherdctl list shows how they stand)`;
    return { actions, message: `${request.kind}: ${summary}${late}` };
  }

  /** Withdraw the pending (not running) actions of `members`, or every pending one. */
  async cancel(members: readonly string[] | null, by: string, ctx: ActionContext): Promise<WireMemberActionsResponse> {
    const state = await readForAction(this.backend);
    const unknown = (members ?? []).filter((name) => !Object.hasOwn(state.members, name));
    if (unknown.length > 0) throw new AdminRefusal(Status.NOT_FOUND, 'UNKNOWN_MEMBER', `${unknown.join(', ')}: not a member of the cluster`);
    const pending = (members ?? Object.keys(state.actions).sort()).filter((name) => Object.hasOwn(state.actions, name) && state.actions[name]!.status === 'pending');
    if (pending.length === 0) {
      throw new AdminRefusal(Status.NOT_FOUND, 'NO_ACTION', `no pending restart, reload or reinit${members === null ? '' : ` of ${members.join(', ')}`} to cancel (one already running cannot be cancelled)`);
    }
    const tracked: TrackedAction[] = [];
    for (const member of pending) {
      const id = state.actions[member]!.id;
      const command = { type: 'updateMemberAction', atMs: this.backend.wallNow(), member, id, status: 'cancelled', detail: `cancelled by ${by}` } as const;
      const result = await proposeCommand(this.backend, command, `the cancellation of ${member}'s ${state.actions[member]!.kind}`);
      if (!result.ok) throw actionRefusal(result, `the cancellation of ${member}'s ${state.actions[member]!.kind}`, tracked);
      tracked.push({ member, id });
    }
    ctx.fields['cancelled'] = tracked.map((t) => `${t.member}:${t.id}`);
    return { actions: currentViews(this.backend.local(), tracked), message: `cancelled the pending action of ${pending.join(', ')}` };
  }
}

/** A refusal by the cluster state, with what was already recorded before it. */
function actionRefusal(result: ApplyRejection, what: string, recorded: readonly TrackedAction[]): AdminRefusal {
  const before = recorded.length === 0 ? '' : ` (recorded before it: ${recorded.map((t) => t.member).join(', ')})`;
  const message = `the cluster state refused ${what}: ${result.reason}${before}`;
  if (result.code === 'ACTION_PENDING') return new AdminRefusal(Status.ALREADY_EXISTS, result.code, message);
  if (result.code === 'NO_ACTION' || result.code === 'UNKNOWN_MEMBER') return new AdminRefusal(Status.NOT_FOUND, result.code, message);
  if (result.code === 'ACTION_RUNNING' || result.code === 'MEMBER_IS_LEADER') return new AdminRefusal(Status.FAILED_PRECONDITION, result.code, message);
  return refusalOf(result, what);
}

/** Each tracked action as the state has it; one the state no longer has (its member removed, a newer one recorded) as withdrawn. */
export function currentViews(state: ClusterState, tracked: readonly TrackedAction[]): WireMemberAction[] {
  return tracked.map(({ member, id }) => {
    const action: MemberAction | undefined = Object.hasOwn(state.actions, member) ? state.actions[member] : undefined;
    if (action !== undefined && action.id === id) return memberActionView(member, action);
    return { member, id, kind: '', status: 'cancelled', pending_only: false, scheduled_at: '', requested_at: '', by: '', started_at: '', finished_at: '', detail: 'withdrawn: the member was removed, or a newer action replaced this one' };
  });
}

/**
 * Wait until every tracked action has ended (or is gone), polling the
 * local state after one successful linearizable read (so the state
 * includes the recorded requests); at deadlineMs (performance.now() time)
 * answer with what stands. The signal aborting ends the wait with its reason.
 */
export async function waitForActions(backend: AdminBackend, tracked: readonly TrackedAction[], deadlineMs: number, signal: AbortSignal, log: Logger, pollMs = MEMBER_ACTION_POLL_MS): Promise<WireMemberAction[]> {
  const ended = await pollAfterSync(backend, { deadlineMs, signal, log, pollMs, what: 'member_action' }, (synced) => {
    const views = currentViews(backend.local(), tracked);
    return synced && !views.some((view) => view.status === 'pending' || view.status === 'running') ? views : undefined;
  });
  return ended ?? currentViews(backend.local(), tracked);
}

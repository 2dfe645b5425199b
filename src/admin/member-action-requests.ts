import { status as Status } from '@grpc/grpc-js';
import { isActionOpen, type ClusterState, type MemberAction, type MemberActionKind } from '../cluster/state.js';
import { AdminRefusal, invalidField } from './errors.js';
import { parseBy, parseMemberName, parseScheduledAt, SWITCHOVER_WAIT_MS_MAX } from './requests.js';
import { formatTime } from './time.js';
import type { WireCancelMemberActionsRequest, WireReinitRequest, WireReloadRequest, WireRestartRequest } from './wire.js';

/**
 * Restart, Reload, Reinit and CancelMemberActions requests: their fields,
 * checked before anything is read or proposed, and which members they
 * name in a given state. Pure. Refusals name the field or the member.
 */

/** How long the call waits for the members to finish when the request does not say. */
export const MEMBER_ACTION_WAIT_MS_DEFAULT = 60_000;
/** The most members one request names: more than any cluster has (MEMBERS_MAX), so a request is never cut short. */
export const MEMBER_ACTION_MEMBERS_MAX = 64;

export const MEMBER_ROLES_FILTER = ['primary', 'replica', 'any'] as const;
export type MemberRoleFilter = (typeof MEMBER_ROLES_FILTER)[number];

export interface MemberActionRequest {
  readonly kind: MemberActionKind;
  /** null: every member (of the role). */
  readonly members: readonly string[] | null;
  readonly role: MemberRoleFilter;
  readonly pendingOnly: boolean;
  /** null: now. */
  readonly scheduledAtMs: number | null;
  readonly waitMs: number;
  /** '' when the request named nobody: the service uses the caller's address. */
  readonly by: string;
}

export function parseRestartRequest(request: WireRestartRequest, wallNowMs: number): MemberActionRequest {
  return {
    kind: 'restart',
    members: parseMembers(request.members, false),
    role: parseRole(request.role),
    pendingOnly: request.pending,
    scheduledAtMs: parseScheduledAt(request.scheduled_at, wallNowMs),
    waitMs: parseActionWaitMs(request.timeout_ms),
    by: parseBy('requested_by', request.requested_by),
  };
}

export function parseReloadRequest(request: WireReloadRequest): MemberActionRequest {
  return { kind: 'reload', members: parseMembers(request.members, false), role: parseRole(request.role), pendingOnly: false, scheduledAtMs: null, waitMs: parseActionWaitMs(request.timeout_ms), by: parseBy('requested_by', request.requested_by) };
}

export function parseReinitRequest(request: WireReinitRequest): MemberActionRequest {
  return { kind: 'reinit', members: parseMembers(request.members, true), role: 'any', pendingOnly: false, scheduledAtMs: null, waitMs: parseActionWaitMs(request.timeout_ms), by: parseBy('requested_by', request.requested_by) };
}

export function parseCancelMembers(request: WireCancelMemberActionsRequest): readonly string[] | null {
  return parseMembers(request.members, false);
}

function parseMembers(names: readonly string[], required: boolean): readonly string[] | null {
  if (names.length === 0) {
    if (required) throw invalidField('members', 'is required: the replicas to re-clone');
    return null;
  }
  if (names.length > MEMBER_ACTION_MEMBERS_MAX) throw invalidField('members', `names ${names.length} members; at most ${MEMBER_ACTION_MEMBERS_MAX}`);
  return [...new Set(names.map((name) => parseMemberName('members', name)))].sort();
}

function parseRole(text: string): MemberRoleFilter {
  if (text === '') return 'any';
  if (!(MEMBER_ROLES_FILTER as readonly string[]).includes(text)) throw invalidField('role', `expected one of ${MEMBER_ROLES_FILTER.join(', ')} (or empty for any), got ${JSON.stringify(text)}`);
  return text as MemberRoleFilter;
}

export function parseActionWaitMs(timeoutMs: number): number {
  if (timeoutMs === 0) return MEMBER_ACTION_WAIT_MS_DEFAULT;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > SWITCHOVER_WAIT_MS_MAX) {
    throw invalidField('timeout_ms', `expected 0 (the default, ${MEMBER_ACTION_WAIT_MS_DEFAULT} ms) up to ${SWITCHOVER_WAIT_MS_MAX}, got ${timeoutMs}`);
  }
  return timeoutMs;
}

/**
 * The members a request acts on, sorted, or a refusal: an unknown member
 * (NOT_FOUND), none of the role (NO_MEMBERS), a reinit of the primary
 * (MEMBER_IS_LEADER), a member whose last action has not ended
 * (ACTION_PENDING). Checked in that order, all before anything is recorded.
 */
export function resolveTargets(state: ClusterState, request: MemberActionRequest): string[] {
  const known = Object.keys(state.members).sort();
  const unknown = (request.members ?? []).filter((name) => !Object.hasOwn(state.members, name));
  if (unknown.length > 0) throw new AdminRefusal(Status.NOT_FOUND, 'UNKNOWN_MEMBER', `${unknown.join(', ')} ${unknown.length === 1 ? 'is not a member' : 'are not members'} of the cluster (members: ${known.join(', ') || 'none'})`);
  const leader = state.leader?.member ?? null;
  const ofRole = (name: string): boolean => request.role === 'any' || (request.role === 'primary') === (name === leader);
  const targets = (request.members ?? known).filter(ofRole);
  if (targets.length === 0) {
    const named = request.members === null ? 'no member' : `none of ${request.members.join(', ')}`;
    const why = request.role === 'primary' && leader === null ? ': no member holds the leader key' : '';
    throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_MEMBERS', `${named} has the role ${request.role}${why}: nothing to ${request.kind}`);
  }
  if (request.kind === 'reinit' && leader !== null && targets.includes(leader)) {
    throw new AdminRefusal(Status.FAILED_PRECONDITION, 'MEMBER_IS_LEADER', `${leader} is the primary: reinit re-clones a replica from the primary, never the primary itself; switch over first (pgherdctl switchover)`);
  }
  const busy = targets.flatMap((name) => {
    const action = Object.hasOwn(state.actions, name) ? state.actions[name] : undefined;
    return action !== undefined && isActionOpen(action) ? [`${name}: ${describeAction(action)}`] : [];
  });
  if (busy.length > 0) {
    throw new AdminRefusal(Status.ALREADY_EXISTS, 'ACTION_PENDING', `an earlier action has not ended (${busy.join('; ')}): wait for it, or cancel a pending one (pgherdctl restart --cancel)`);
  }
  return targets;
}

/** "pending restart 3f2a… requested by bob (scheduled for …)" for messages. */
export function describeAction(action: MemberAction): string {
  const when = action.scheduledAtMs === null ? '' : ` scheduled for ${formatTime(action.scheduledAtMs)}`;
  return `${action.status} ${action.pendingOnly ? 'pending-only ' : ''}${action.kind} ${action.id} requested by ${action.by}${when}`;
}

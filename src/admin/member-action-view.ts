import type { MemberAction } from '../cluster/state.js';
import { formatTime } from './time.js';
import type { MemberActionView } from './types.js';
import type { WireMemberAction } from './wire.js';

/** A member's action on the wire and back (the client's view), pure. */

export function memberActionView(member: string, action: MemberAction): WireMemberAction {
  return {
    member,
    id: action.id,
    kind: action.kind,
    status: action.status,
    pending_only: action.pendingOnly,
    scheduled_at: formatTime(action.scheduledAtMs),
    requested_at: formatTime(action.requestedAtMs),
    by: action.by,
    started_at: formatTime(action.startedAtMs),
    finished_at: formatTime(action.finishedAtMs),
    detail: action.detail,
  };
}

const text = (value: string): string | null => (value === '' ? null : value);

export function decodeMemberAction(w: WireMemberAction): MemberActionView {
  return {
    member: w.member,
    id: w.id,
    kind: w.kind,
    status: w.status,
    pendingOnly: w.pending_only,
    scheduledAt: text(w.scheduled_at),
    requestedAt: w.requested_at,
    by: w.by,
    startedAt: text(w.started_at),
    finishedAt: text(w.finished_at),
    detail: text(w.detail),
  };
}

export type MemberActionEventType = 'action_requested' | 'action_started' | 'action_ended';

/** The Watch event of a member action's change (watch-events.ts), from its record after the change. */
export function memberActionEvent(member: string, action: MemberAction): { type: MemberActionEventType; member: string; text: string; details: Record<string, unknown> } {
  const details = { ...decodeMemberAction(memberActionView(member, action)) };
  if (action.status === 'pending') {
    const how = action.pendingOnly ? ' if a restart is pending' : '';
    const when = action.scheduledAtMs === null ? '' : ` at ${formatTime(action.scheduledAtMs)}`;
    return { type: 'action_requested', member, text: `${action.by} asked ${member} to ${action.kind}${how}${when} (${action.id})`, details };
  }
  if (action.status === 'running') return { type: 'action_started', member, text: `${member} started its ${action.kind} (${action.id})`, details };
  return { type: 'action_ended', member, text: `${member}'s ${action.kind} ${action.status}${action.detail === '' ? '' : `: ${action.detail}`} (${action.id})`, details };
}

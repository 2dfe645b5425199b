import { unknownMember } from './apply-members.js';
import type { CommandOf } from './commands.js';
import { lookup, withEntry } from './records.js';
import { accepted, rejected, type ApplyOutcome } from './results.js';
import { isActionOpen, type ClusterState, type MemberAction } from './state.js';

/**
 * Operator actions on one member's PostgreSQL (restart, reload, reinit):
 * recorded here, carried out by that member's HA loop (src/ha/member-actions.ts),
 * which reports how it went. One open action per member; the record of the
 * last one stays (with its outcome) until the next request replaces it.
 */
export function applyRequestMemberAction(state: ClusterState, command: CommandOf<'requestMemberAction'>): ApplyOutcome {
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  const open = lookup(state.actions, command.member);
  if (open !== undefined && isActionOpen(open)) {
    return rejected(state, 'ACTION_PENDING', `${command.member} already has a ${open.status} ${open.kind} (${open.id}, requested by ${open.by}): wait for it or cancel it`);
  }
  if (command.kind !== 'restart' && (command.pendingOnly || command.scheduledAtMs !== null)) {
    return rejected(state, 'INVALID', `only a restart can be pending-only or scheduled, not a ${command.kind}`);
  }
  if (command.scheduledAtMs !== null && command.scheduledAtMs <= command.atMs) {
    return rejected(state, 'INVALID', `the scheduled time ${command.scheduledAtMs} is not after the request (${command.atMs})`);
  }
  // Patroni refuses it too: the primary's data is what every other member is cloned from.
  if (command.kind === 'reinit' && state.leader?.member === command.member) {
    return rejected(state, 'MEMBER_IS_LEADER', `${command.member} holds the leader key: reinit re-clones a replica from the primary; switch over first`);
  }
  const action: MemberAction = {
    id: command.id,
    kind: command.kind,
    pendingOnly: command.pendingOnly,
    scheduledAtMs: command.scheduledAtMs,
    requestedAtMs: command.atMs,
    by: command.by,
    status: 'pending',
    startedAtMs: null,
    finishedAtMs: null,
    detail: '',
  };
  return accepted({ ...state, actions: withEntry(state.actions, command.member, action) });
}

/** pending → running | cancelled | done | failed | skipped; running → done | failed | skipped. Nothing else. */
export function applyUpdateMemberAction(state: ClusterState, command: CommandOf<'updateMemberAction'>): ApplyOutcome {
  const current = lookup(state.actions, command.member);
  if (current === undefined || current.id !== command.id) {
    return rejected(state, 'NO_ACTION', `${command.member} has no action ${command.id}${current === undefined ? '' : ` (its latest is ${current.id})`}`);
  }
  if (!isActionOpen(current)) return rejected(state, 'NO_ACTION', `the ${current.kind} ${current.id} of ${command.member} already ended (${current.status})`);
  if (current.status === 'running' && (command.status === 'running' || command.status === 'cancelled')) {
    return rejected(state, 'ACTION_RUNNING', `the ${current.kind} ${current.id} of ${command.member} is running: it can no longer be ${command.status === 'cancelled' ? 'cancelled' : 'started'}`);
  }
  const ended = command.status !== 'running';
  const action: MemberAction = {
    ...current,
    status: command.status,
    startedAtMs: command.status === 'running' ? command.atMs : current.startedAtMs,
    finishedAtMs: ended ? command.atMs : null,
    detail: command.detail,
  };
  return accepted({ ...state, actions: withEntry(state.actions, command.member, action) });
}

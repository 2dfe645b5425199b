import type { ClusterCommand, CommandOf } from '../cluster/commands.js';
import { lookup } from '../cluster/records.js';
import type { AppliedEvent } from '../cluster/state-machine.js';
import type { ClusterState, MemberRegistration, MemberStatus, Switchover } from '../cluster/state.js';
import { diffDynamicConfig } from '../config/dynamic-diff.js';
import { memberActionEvent } from './member-action-view.js';
import { formatTime } from './time.js';

/**
 * The events of the Watch stream (proto/admin.proto, WatchEvent), pure:
 * what one applied entry changed, said once, for people (text) and scripts
 * (details). Stable: pgherdctl watch --types and scripts name them; add
 * types, never rename one.
 */
export const WATCH_EVENT_TYPES = [
  'snapshot',
  'initialized',
  'leader_changed',
  'leader_released',
  'member_joined',
  'member_updated',
  'member_left',
  'member_status',
  'config_changed',
  'paused',
  'resumed',
  'switchover_requested',
  'switchover_cancelled',
  'sync_changed',
  'action_requested',
  'action_started',
  'action_ended',
] as const;

export type WatchEventType = (typeof WATCH_EVENT_TYPES)[number];

export function isWatchEventType(text: string): text is WatchEventType {
  return (WATCH_EVENT_TYPES as readonly string[]).includes(text);
}

/** An event before a stream numbers it. */
export interface WatchEventDraft {
  readonly type: WatchEventType;
  /** null: about the cluster as a whole. */
  readonly member: string | null;
  readonly text: string;
  /** camelCase, JSON-safe; null = none. Never credentials. */
  readonly details: Readonly<Record<string, unknown>>;
  /** The change's own time (its command's proposer clock); a snapshot: the answering member's clock. */
  readonly atMs: number;
  /** The Raft log index of the change; a snapshot: the applied index it reflects. */
  readonly index: number;
}

type Fields = Omit<WatchEventDraft, 'atMs' | 'index'>;

/**
 * What one applied entry changed, as events (usually none or one), from the
 * command and the states before and after it. A refused command changed
 * nothing: none. Commands that change nothing an operator watches give none
 * (lease renewals, slots, bootstrap plans, initialization claims), and a
 * status report only when the member's role or state differs from its
 * previous report: agents report every few seconds.
 */
export function watchEventsOf(before: ClusterState, after: ClusterState, applied: AppliedEvent): WatchEventDraft[] {
  const { command, result, index } = applied;
  if (command === null || !result.ok) return [];
  return fieldsOf(before, after, command).map((fields) => ({ ...fields, atMs: command.atMs, index }));
}

function fieldsOf(before: ClusterState, after: ClusterState, command: ClusterCommand): Fields[] {
  switch (command.type) {
    case 'initializeDone':
      return before.initialize?.systemIdentifier == null && after.initialize?.systemIdentifier != null ? [initialized(command)] : [];
    case 'registerMember':
      return registered(lookup(before.members, command.member)?.registration, after.members[command.member]!.registration, command.member);
    case 'updateMemberStatus':
      return reported(lookup(before.members, command.member)?.status ?? null, after.members[command.member]!.status!, command.member);
    case 'removeMember':
      return [{ type: 'member_left', member: command.member, text: `${command.member} was removed from the cluster`, details: {} }, ...withdrawn(before, after, `its candidate ${command.member} was removed`)];
    case 'promote':
      return [promoted(before, after, command)];
    case 'releaseLeader':
      return [{ type: 'leader_released', member: command.member, text: `${command.member} released the leader key (epoch ${command.epoch}): no primary until the next promotion`, details: { epoch: command.epoch } }];
    case 'setSync':
      return syncChanged(before, after);
    case 'patchConfig':
      return configChanged(before, after);
    case 'setPause':
      return before.pause.paused === after.pause.paused ? [] : [paused(after)];
    case 'requestSwitchover':
      return [switchoverRequested(after.switchover!)];
    case 'cancelSwitchover':
      return withdrawn(before, after, 'cancelled');
    case 'requestMemberAction':
    case 'updateMemberAction':
      return [memberActionEvent(command.member, after.actions[command.member]!)];
    default:
      return [];
  }
}

/** The state as of now, for a stream that asked for it first. */
export function snapshotEvent(state: ClusterState, atMs: number, index: number): WatchEventDraft {
  const leader = state.leader;
  const members = Object.keys(state.members)
    .sort()
    .map((name) => {
      const status = state.members[name]!.status;
      return { name, role: status?.role ?? null, state: status?.state ?? null, timeline: status?.timeline ?? null, lagBytes: status?.lagBytes ?? null, primary: leader?.member === name, sync: state.sync.members.includes(name) };
    });
  const parts = [
    leader === null ? 'no primary' : `primary ${leader.member} (epoch ${leader.epoch}, timeline ${leader.timeline})`,
    `${members.length} member${members.length === 1 ? '' : 's'}`,
    `sync [${state.sync.members.join(', ')}]`,
    `configuration version ${state.config.version}`,
    ...(state.pause.paused ? [`paused by ${state.pause.by}`] : []),
    ...(state.switchover === null ? [] : [`switchover pending from ${state.switchover.from} to ${state.switchover.to ?? 'the best candidate'}`]),
  ];
  const details = {
    leader: leader === null ? null : { member: leader.member, epoch: leader.epoch, timeline: leader.timeline, since: formatTime(leader.sinceMs) },
    epoch: state.epoch,
    pause: { paused: state.pause.paused, by: state.pause.by, changedAt: state.pause.atMs === null ? null : formatTime(state.pause.atMs) },
    switchover: state.switchover === null ? null : switchoverDetails(state.switchover),
    syncMembers: [...state.sync.members],
    configVersion: state.config.version,
    members,
  };
  return { type: 'snapshot', member: null, text: parts.join(', '), details, atMs, index };
}

function initialized(command: CommandOf<'initializeDone'>): Fields {
  const from = command.restoredFrom;
  if (from) {
    const to = from.targetTimeMs === null ? 'the end of the archived WAL' : new Date(from.targetTimeMs).toISOString();
    return {
      type: 'initialized',
      member: command.member,
      text: `${command.member} restored the database from backup ${from.backupId} to ${to}, timeline ${from.timeline} (system identifier ${command.systemIdentifier})`,
      details: { systemIdentifier: command.systemIdentifier, restoredFrom: { ...from } },
    };
  }
  return { type: 'initialized', member: command.member, text: `${command.member} initialized the database (system identifier ${command.systemIdentifier})`, details: { systemIdentifier: command.systemIdentifier } };
}

/** A new member, or a re-registration that changed an address or tag (agents register again at every start). */
function registered(previous: MemberRegistration | undefined, next: MemberRegistration, member: string): Fields[] {
  const details = { raftAddress: next.raftAddress, postgresHost: next.postgresHost, postgresPort: next.postgresPort, httpAddress: next.httpAddress, tags: { ...next.tags } };
  if (previous === undefined) return [{ type: 'member_joined', member, text: `${member} joined (PostgreSQL ${next.postgresHost}:${next.postgresPort}, peer ${next.raftAddress})`, details }];
  const changed: string[] = (['raftAddress', 'postgresHost', 'postgresPort', 'httpAddress'] as const).filter((key) => previous[key] !== next[key]);
  if (JSON.stringify(previous.tags) !== JSON.stringify(next.tags)) changed.push('tags');
  if (changed.length === 0) return [];
  return [{ type: 'member_updated', member, text: `${member} registered again with changed ${changed.join(', ')}`, details: { ...details, changed } }];
}

function reported(previous: MemberStatus | null, next: MemberStatus, member: string): Fields[] {
  if (previous !== null && previous.role === next.role && previous.state === next.state) return [];
  const was = previous === null ? 'first report' : `was ${previous.role}, ${previous.state}`;
  return [
    {
      type: 'member_status',
      member,
      text: `${member} is ${next.role}, ${next.state} (${was})`,
      details: { role: next.role, state: next.state, timeline: next.timeline, lagBytes: next.lagBytes, previousRole: previous?.role ?? null, previousState: previous?.state ?? null },
    },
  ];
}

function promoted(before: ClusterState, after: ClusterState, command: CommandOf<'promote'>): Fields {
  const from = before.lastPrimary.member;
  const leader = after.leader!;
  const again = from === command.candidate;
  const head = again ? `${command.candidate} is the primary again` : `${command.candidate} is the primary (${command.kind}${from === null ? '' : ` from ${from}`})`;
  return {
    type: 'leader_changed',
    member: command.candidate,
    text: `${head}: epoch ${leader.epoch}, timeline ${leader.timeline}; ${command.reason}`,
    details: {
      kind: command.kind,
      from,
      to: command.candidate,
      epoch: leader.epoch,
      timeline: leader.timeline,
      previousTimeline: before.lastPrimary.timeline === 0 ? null : before.lastPrimary.timeline,
      reason: command.reason,
      switchLsn: command.switchLsn,
      switchoverSettled: before.switchover !== null && after.switchover === null,
    },
  };
}

function syncChanged(before: ClusterState, after: ClusterState): Fields[] {
  const previous = before.sync.members;
  const members = after.sync.members;
  if (previous.length === members.length && previous.every((name, i) => members[i] === name)) return [];
  return [{ type: 'sync_changed', member: null, text: `synchronous standbys [${members.join(', ')}] (were [${previous.join(', ')}])`, details: { members: [...members], previous: [...previous], syncEpoch: after.sync.epoch } }];
}

function configChanged(before: ClusterState, after: ClusterState): Fields[] {
  if (after.config.version === before.config.version) return [];
  const changes = diffDynamicConfig(before.config.values, after.config.values);
  const what = changes.length === 0 ? 'no value changed' : changes.map((change) => `${change.key} ${JSON.stringify(change.from)} → ${JSON.stringify(change.to)}`).join(', ');
  return [
    {
      type: 'config_changed',
      member: null,
      text: `configuration version ${after.config.version}: ${what}`,
      details: { version: after.config.version, previousVersion: before.config.version, changes: changes.map((change) => ({ ...change })) },
    },
  ];
}

function paused(after: ClusterState): Fields {
  const by = after.pause.by ?? '';
  return after.pause.paused
    ? { type: 'paused', member: null, text: `paused by ${by}: no automatic failover`, details: { by } }
    : { type: 'resumed', member: null, text: `resumed by ${by}: automatic failover is on again`, details: { by } };
}

function switchoverRequested(request: Switchover): Fields {
  const when = request.scheduledAtMs === null ? 'as soon as possible' : `scheduled for ${formatTime(request.scheduledAtMs)}`;
  return { type: 'switchover_requested', member: request.to ?? request.from, text: `switchover requested from ${request.from} to ${request.to ?? 'the best candidate'}, ${when}`, details: switchoverDetails(request) };
}

/** The pending switchover disappeared without a promotion (a promotion says so in leader_changed). */
function withdrawn(before: ClusterState, after: ClusterState, why: string): Fields[] {
  const request = before.switchover;
  if (request === null || after.switchover !== null) return [];
  return [{ type: 'switchover_cancelled', member: request.to ?? request.from, text: `the switchover from ${request.from} to ${request.to ?? 'the best candidate'} was withdrawn: ${why}`, details: { ...switchoverDetails(request), why } }];
}

function switchoverDetails(request: Switchover): Record<string, unknown> {
  return { from: request.from, to: request.to, scheduledAt: request.scheduledAtMs === null ? null : formatTime(request.scheduledAtMs), requestedAt: formatTime(request.requestedAtMs) };
}

import { unknownMember } from './apply-members.js';
import type { CommandOf } from './commands.js';
import { lookup } from './records.js';
import { accepted, rejected, type ApplyOutcome } from './results.js';
import { isPromotable, type ClusterState, type HistoryEntry, type Member } from './state.js';

/** Refusal unless `member` holds the leader key at `epoch`; null when it does. */
export function refuseUnlessHolder(state: ClusterState, member: string, epoch: number): ApplyOutcome | null {
  const leader = state.leader;
  if (leader === null) return rejected(state, 'NOT_LEADER_HOLDER', 'no member holds the leader key');
  if (leader.member !== member) return rejected(state, 'NOT_LEADER_HOLDER', `${leader.member} holds the leader key, not ${member}`);
  if (leader.epoch !== epoch) return rejected(state, 'EPOCH_MISMATCH', `the leader epoch is ${leader.epoch}, not ${epoch}`);
  return null;
}

/** Refusal unless some member holds the leader key at `epoch` (commands only the current primary issues). */
export function refuseUnlessLeaderEpoch(state: ClusterState, epoch: number): ApplyOutcome | null {
  if (state.leader === null) return rejected(state, 'NOT_LEADER_HOLDER', 'no member holds the leader key');
  return refuseUnlessHolder(state, state.leader.member, epoch);
}

export function applyRenewLease(state: ClusterState, command: CommandOf<'renewLease'>): ApplyOutcome {
  const refusal = refuseUnlessHolder(state, command.member, command.epoch);
  if (refusal) return refusal;
  const leader = state.leader!;
  const seq = leader.lastRenewal.seq + 1;
  return accepted({ ...state, leader: { ...leader, lastRenewal: { atMs: command.atMs, seq } } }, { epoch: leader.epoch, seq });
}

export function applyReleaseLeader(state: ClusterState, command: CommandOf<'releaseLeader'>): ApplyOutcome {
  const refusal = refuseUnlessHolder(state, command.member, command.epoch);
  if (refusal) return refusal;
  return accepted({ ...state, leader: null }, { epoch: state.epoch });
}

/**
 * Grant the leader key to `candidate` at epoch `expectedEpoch + 1`. The
 * first primary (epoch 0) must be the member that ran initdb; later ones
 * must be promotable, on a newer timeline (only the last primary may take
 * the key back on its own timeline) and, in synchronous mode, in `sync`.
 */
export function applyPromote(state: ClusterState, command: CommandOf<'promote'>): ApplyOutcome {
  const candidate = lookup(state.members, command.candidate);
  if (!candidate) return unknownMember(state, command.candidate);
  if (command.expectedEpoch !== state.epoch) {
    return rejected(state, 'EPOCH_MISMATCH', `the leader epoch is ${state.epoch}, not ${command.expectedEpoch}`);
  }
  const refusal = state.epoch === 0 ? refuseFirstPrimary(state, command) : refuseSuccessor(state, command, candidate);
  if (refusal) return refusal;
  const renewal = state.leader?.lastRenewal;
  if (command.expectedRenewalSeq !== null && renewal !== undefined && renewal.seq !== command.expectedRenewalSeq) {
    return rejected(state, 'LEASE_RENEWED', `the primary renewed its lease (renewal ${renewal.seq}) after the failover was decided on renewal ${command.expectedRenewalSeq}`);
  }
  const epoch = state.epoch + 1;
  const switched = state.epoch > 0 && command.timeline > state.lastPrimary.timeline;
  const history = switched ? [...state.history, historyEntry(state, command)] : state.history;
  const switchoverCleared = state.switchover !== null && state.switchover.from !== command.candidate;
  const next: ClusterState = {
    ...state,
    epoch,
    leader: { member: command.candidate, epoch, timeline: command.timeline, sinceMs: command.atMs, lastRenewal: { atMs: command.atMs, seq: 0 } },
    lastPrimary: { member: command.candidate, timeline: command.timeline },
    history,
    switchover: switchoverCleared ? null : state.switchover,
  };
  return accepted(next, { epoch, switchoverCleared });
}

function refuseFirstPrimary(state: ClusterState, command: CommandOf<'promote'>): ApplyOutcome | null {
  const initialize = state.initialize;
  if (initialize === null || initialize.systemIdentifier === null) return rejected(state, 'NOT_INITIALIZED', 'the database has not been initialized');
  if (initialize.member !== command.candidate) {
    return rejected(state, 'NOT_INITIALIZER', `the first primary must be ${initialize.member}, which initialized the database`);
  }
  return null;
}

function refuseSuccessor(state: ClusterState, command: CommandOf<'promote'>, candidate: Member): ApplyOutcome | null {
  const name = command.candidate;
  const isLastPrimary = state.lastPrimary.member === name;
  if (!isLastPrimary && !isPromotable(candidate.registration.tags)) {
    return rejected(state, 'MEMBER_INELIGIBLE', `${name} is tagged nofailover or failover_priority 0`);
  }
  const syncMode = state.config.values.synchronous_mode;
  // An empty set means the primary ran without a synchronous standby: nobody else is known to hold
  // every acknowledged write (the simulator found the loss when an empty set admitted anyone).
  if (syncMode !== 'off' && !isLastPrimary && !state.sync.members.includes(name)) {
    return rejected(state, 'NOT_SYNC_STANDBY', `synchronous_mode is ${syncMode} and ${name} is not in sync [${state.sync.members.join(', ')}]`);
  }
  const lastTimeline = state.lastPrimary.timeline;
  if (command.timeline < lastTimeline || (command.timeline === lastTimeline && !isLastPrimary)) {
    return rejected(state, 'TIMELINE_NOT_NEWER', `a new primary needs a timeline after ${lastTimeline}, got ${command.timeline}`);
  }
  return null;
}

function historyEntry(state: ClusterState, command: CommandOf<'promote'>): HistoryEntry {
  return {
    timeline: command.timeline,
    switchLsn: command.switchLsn,
    atMs: command.atMs,
    reason: command.reason,
    oldPrimary: state.lastPrimary.member,
    newPrimary: command.candidate,
    kind: command.kind,
  };
}

/** Record the synchronous standby set (sorted). The HA layer orders this against synchronous_standby_names. */
export function applySetSync(state: ClusterState, command: CommandOf<'setSync'>): ApplyOutcome {
  const refusal = refuseUnlessLeaderEpoch(state, command.leaderEpoch) ?? refuseSyncMembers(state, command.members);
  if (refusal) return refusal;
  if (command.expectedEpoch !== state.sync.epoch) {
    return rejected(state, 'SYNC_EPOCH_MISMATCH', `the sync epoch is ${state.sync.epoch}, not ${command.expectedEpoch}`);
  }
  const epoch = state.sync.epoch + 1;
  return accepted({ ...state, sync: { members: [...command.members].sort(), epoch } }, { syncEpoch: epoch });
}

function refuseSyncMembers(state: ClusterState, names: readonly string[]): ApplyOutcome | null {
  if (new Set(names).size !== names.length) return rejected(state, 'INVALID', `the sync set names a member twice: [${names.join(', ')}]`);
  for (const name of names) {
    const member = lookup(state.members, name);
    if (!member) return unknownMember(state, name);
    if (member.registration.tags.nosync) return rejected(state, 'MEMBER_NOSYNC', `${name} is tagged nosync`);
    if (state.leader?.member === name) return rejected(state, 'INVALID', `${name} is the primary, not a standby`);
  }
  return null;
}

export function applyRequestSwitchover(state: ClusterState, command: CommandOf<'requestSwitchover'>): ApplyOutcome {
  if (state.switchover !== null) {
    return rejected(state, 'SWITCHOVER_PENDING', `a switchover from ${state.switchover.from} is already pending`);
  }
  if (state.leader?.member !== command.from) {
    return rejected(state, 'NOT_LEADER_HOLDER', `${command.from} is not the primary (${state.leader?.member ?? 'none'} is)`);
  }
  if (command.to !== null) {
    const target = lookup(state.members, command.to);
    if (command.to === command.from) return rejected(state, 'INVALID', 'a switchover must go to another member');
    if (!target) return unknownMember(state, command.to);
    if (!isPromotable(target.registration.tags)) return rejected(state, 'MEMBER_INELIGIBLE', `${command.to} is tagged nofailover or failover_priority 0`);
  }
  const switchover = { from: command.from, to: command.to, scheduledAtMs: command.scheduledAtMs, requestedAtMs: command.atMs };
  return accepted({ ...state, switchover });
}

export function applyCancelSwitchover(state: ClusterState): ApplyOutcome {
  if (state.switchover === null) return rejected(state, 'NO_SWITCHOVER', 'no switchover is pending');
  return accepted({ ...state, switchover: null });
}

import type { CommandOf } from './commands.js';
import { lookup, withEntry, withoutEntry } from './records.js';
import { accepted, rejected, type ApplyOutcome } from './results.js';
import { MEMBERS_MAX, type ClusterState, type Member } from './state.js';

export function applyInitializeClaim(state: ClusterState, command: CommandOf<'initializeClaim'>): ApplyOutcome {
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  const current = state.initialize;
  if (current !== null) {
    // A retry by the claimant (its first proposal timed out) is answered, not refused.
    if (current.member === command.member && current.systemIdentifier === null) return accepted(state, { changed: false });
    const what = current.systemIdentifier === null ? 'claimed' : 'initialized';
    return rejected(state, 'ALREADY_INITIALIZED', `the database was already ${what} by ${current.member}`);
  }
  const initialize = { member: command.member, claimedAtMs: command.atMs, systemIdentifier: null, doneAtMs: null, credentials: null, restoredFrom: null };
  return accepted({ ...state, initialize }, { changed: true });
}

export function applyInitializeDone(state: ClusterState, command: CommandOf<'initializeDone'>): ApplyOutcome {
  const current = state.initialize;
  if (current === null) return rejected(state, 'NOT_INITIALIZED', 'nobody claimed initialization');
  if (current.member !== command.member) {
    return rejected(state, 'NOT_INITIALIZER', `initialization was claimed by ${current.member}, not ${command.member}`);
  }
  if (current.systemIdentifier !== null) {
    if (current.systemIdentifier === command.systemIdentifier) return accepted(state, { changed: false });
    return rejected(state, 'ALREADY_INITIALIZED', `system identifier ${current.systemIdentifier} is already recorded`);
  }
  // A command built without the schema (the simulator) has no restoredFrom: initdb.
  const restoredFrom = command.restoredFrom ? { ...command.restoredFrom } : null;
  const initialize = { ...current, systemIdentifier: command.systemIdentifier, doneAtMs: command.atMs, credentials: { ...command.credentials }, restoredFrom };
  return accepted({ ...state, initialize }, { changed: true });
}

/** Register a member, or update its addresses and tags; the first registration time and the last status are kept. */
export function applyRegisterMember(state: ClusterState, command: CommandOf<'registerMember'>): ApplyOutcome {
  if (lookup(state.membership, command.member)?.target === 'removed') return removedMember(state, command.member);
  const existing = lookup(state.members, command.member);
  if (!existing && Object.keys(state.members).length >= MEMBERS_MAX) {
    return rejected(state, 'TOO_MANY_MEMBERS', `the cluster already has ${MEMBERS_MAX} members`);
  }
  const registration = {
    raftAddress: command.raftAddress,
    postgresHost: command.postgresHost,
    postgresPort: command.postgresPort,
    httpAddress: command.httpAddress,
    tags: { ...command.tags },
    registeredAtMs: existing?.registration.registeredAtMs ?? command.atMs,
  };
  const member: Member = { registration, status: existing?.status ?? null };
  return accepted({ ...state, members: withEntry(state.members, command.member, member) }, { created: existing === undefined });
}

export function applyUpdateMemberStatus(state: ClusterState, command: CommandOf<'updateMemberStatus'>): ApplyOutcome {
  const existing = lookup(state.members, command.member);
  if (!existing) return unknownMember(state, command.member);
  const status = {
    role: command.role,
    state: command.state,
    timeline: command.timeline,
    receiveLsn: command.receiveLsn,
    replayLsn: command.replayLsn,
    flushLsn: command.flushLsn,
    lagBytes: command.lagBytes,
    archive: command.archive,
    reportedAtMs: command.atMs,
  };
  return accepted({ ...state, members: withEntry(state.members, command.member, { ...existing, status }) });
}

/**
 * Forget a member, its bootstrap plan and its operator action. Refused while it is the primary
 * or a recorded synchronous standby. Its slot record stays until the
 * primary has dropped the slot itself (dropSlot), so no slot is orphaned.
 */
export function applyRemoveMember(state: ClusterState, command: CommandOf<'removeMember'>): ApplyOutcome {
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  if (state.leader?.member === command.member) return rejected(state, 'MEMBER_IS_LEADER', `${command.member} holds the leader key`);
  if (state.sync.members.includes(command.member)) {
    return rejected(state, 'MEMBER_IN_SYNC', `${command.member} is a synchronous standby; remove it from sync first`);
  }
  const switchover = state.switchover?.to === command.member ? null : state.switchover;
  return accepted({
    ...state,
    members: withoutEntry(state.members, command.member),
    bootstrap: withoutEntry(state.bootstrap, command.member),
    actions: withoutEntry(state.actions, command.member),
    switchover,
  });
}

/**
 * Record a requested Raft membership. Adding needs the node's Raft address;
 * a node asking to join by itself is refused once an operator removed its
 * name (MEMBER_REMOVED), an operator's add is not. Removing the member that
 * holds the leader key is refused: switch over first.
 */
export function applySetMembership(state: ClusterState, command: CommandOf<'setMembership'>): ApplyOutcome {
  const current = lookup(state.membership, command.member);
  if (command.target === 'member') {
    if (command.raftAddress === null) return rejected(state, 'INVALID', `adding ${command.member} needs its Raft address`, 'raftAddress');
    if (command.source === 'join' && current?.target === 'removed') return removedMember(state, command.member);
    if (current?.target === 'member' && current.raftAddress === command.raftAddress) return accepted(state, { changed: false });
  } else {
    if (state.leader?.member === command.member) {
      return rejected(state, 'MEMBER_IS_LEADER', `${command.member} is the primary (it holds the leader key): switch over to another member first`);
    }
    if (current?.target === 'removed') return accepted(state, { changed: false });
  }
  const intent = { target: command.target, raftAddress: command.raftAddress, source: command.source, by: command.by, atMs: command.atMs };
  return accepted({ ...state, membership: withEntry(state.membership, command.member, intent) }, { changed: true });
}

function removedMember(state: ClusterState, member: string): ApplyOutcome {
  return rejected(state, 'MEMBER_REMOVED', `${member} was removed from the cluster; an operator can add it again (pgherdctl members add)`);
}

export function unknownMember(state: ClusterState, member: string): ApplyOutcome {
  return rejected(state, 'UNKNOWN_MEMBER', `${member} is not a registered member`);
}

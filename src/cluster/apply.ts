import { assert, unreachable } from '../lib/assert.js';
import { applyRequestMemberAction, applyUpdateMemberAction } from './apply-actions.js';
import { applyRequestBackup, applyUpdateBackup } from './apply-backups.js';
import { applyCancelSwitchover, applyPromote, applyReleaseLeader, applyRenewLease, applyRequestSwitchover, applySetSync } from './apply-leader.js';
import { applyInitializeClaim, applyInitializeDone, applyRegisterMember, applyRemoveMember, applySetMembership, applyUpdateMemberStatus } from './apply-members.js';
import { applyBootstrapFallback, applyDropSlot, applyPatchConfig, applyRecordBootstrapPlan, applyRecordSlot, applySetPause } from './apply-records.js';
import type { ClusterCommand } from './commands.js';
import type { ApplyOutcome } from './results.js';
import type { ClusterState } from './state.js';

/**
 * Apply one command: pure and deterministic (no clock, no I/O, no
 * randomness); the input state is never mutated. A refused command returns
 * the same state object with `{ok: false, code, reason}`. Invariants are
 * checked on every transition: a violation is a bug and throws.
 */
export function applyCommand(state: ClusterState, command: ClusterCommand): ApplyOutcome {
  const outcome = dispatch(state, command);
  if (!outcome.result.ok) assert(outcome.state === state, () => `${command.type} was refused but changed the state`);
  else checkTransition(state, outcome.state);
  return outcome;
}

/** Apply commands in order from `state` (for tests, the simulator and replays). */
export function applyAll(state: ClusterState, commands: readonly ClusterCommand[]): ClusterState {
  return commands.reduce((current, command) => applyCommand(current, command).state, state);
}

function dispatch(state: ClusterState, command: ClusterCommand): ApplyOutcome {
  switch (command.type) {
    case 'initializeClaim':
      return applyInitializeClaim(state, command);
    case 'initializeDone':
      return applyInitializeDone(state, command);
    case 'registerMember':
      return applyRegisterMember(state, command);
    case 'updateMemberStatus':
      return applyUpdateMemberStatus(state, command);
    case 'removeMember':
      return applyRemoveMember(state, command);
    case 'renewLease':
      return applyRenewLease(state, command);
    case 'promote':
      return applyPromote(state, command);
    case 'releaseLeader':
      return applyReleaseLeader(state, command);
    case 'setSync':
      return applySetSync(state, command);
    case 'recordSlot':
      return applyRecordSlot(state, command);
    case 'dropSlot':
      return applyDropSlot(state, command);
    case 'recordBootstrapPlan':
      return applyRecordBootstrapPlan(state, command);
    case 'bootstrapFallback':
      return applyBootstrapFallback(state, command);
    case 'patchConfig':
      return applyPatchConfig(state, command);
    case 'requestSwitchover':
      return applyRequestSwitchover(state, command);
    case 'cancelSwitchover':
      return applyCancelSwitchover(state);
    case 'setPause':
      return applySetPause(state, command);
    case 'setMembership':
      return applySetMembership(state, command);
    case 'requestMemberAction':
      return applyRequestMemberAction(state, command);
    case 'updateMemberAction':
      return applyUpdateMemberAction(state, command);
    case 'requestBackup':
      return applyRequestBackup(state, command);
    case 'updateBackup':
      return applyUpdateBackup(state, command);
    default:
      return unreachable(command, 'command');
  }
}

/** The relationships every accepted transition keeps. */
function checkTransition(before: ClusterState, after: ClusterState): void {
  assert(after.epoch >= before.epoch, () => `leader epoch went back from ${before.epoch} to ${after.epoch}`);
  assert(after.epoch <= before.epoch + 1, () => `leader epoch jumped from ${before.epoch} to ${after.epoch}`);
  if (after.leader !== null) {
    assert(after.leader.epoch === after.epoch, () => `leader holds epoch ${after.leader!.epoch} but the state's epoch is ${after.epoch}`);
    if (after.leader.epoch === before.leader?.epoch) assert(after.leader.member === before.leader.member, 'the leader key changed hands without a new epoch');
  }
  assert(after.sync.epoch >= before.sync.epoch, 'sync epoch went back');
  assert(after.config.version >= before.config.version, 'config version went back');
  assert(after.lastPrimary.timeline >= before.lastPrimary.timeline, 'the primary timeline went back');
  checkHistory(before, after);
}

function checkHistory(before: ClusterState, after: ClusterState): void {
  assert(after.history.length >= before.history.length, 'history is append-only');
  if (after.history.length === before.history.length) return;
  assert(after.history.length === before.history.length + 1, 'one transition appends at most one history entry');
  const added = after.history[after.history.length - 1]!;
  const previous = before.history[before.history.length - 1];
  assert(previous === undefined || added.timeline > previous.timeline, () => `history timeline ${added.timeline} does not follow ${previous!.timeline}`);
  assert(added.timeline === after.lastPrimary.timeline, 'the last history entry is the current primary timeline');
}

import { parseDynamicConfig } from '../config/dynamic.js';
import { ConfigError } from '../lib/errors.js';
import { refuseUnlessLeaderEpoch } from './apply-leader.js';
import { unknownMember } from './apply-members.js';
import type { CommandOf } from './commands.js';
import { mergePatch } from './merge-patch.js';
import { lookup, withEntry, withoutEntry } from './records.js';
import { accepted, rejected, type ApplyOutcome } from './results.js';
import { slotNameFor, type ClusterState } from './state.js';

/** The primary (at `leaderEpoch`) created `member`'s slot; a re-creation (e.g. by a new primary) replaces the record. */
export function applyRecordSlot(state: ClusterState, command: CommandOf<'recordSlot'>): ApplyOutcome {
  const refusal = refuseUnlessLeaderEpoch(state, command.leaderEpoch);
  if (refusal) return refusal;
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  const slotName = slotNameFor(command.member);
  const clash = Object.entries(state.slots).find(([owner, slot]) => owner !== command.member && slot.slotName === slotName);
  if (clash) return rejected(state, 'SLOT_NAME_CONFLICT', `slot ${slotName} already belongs to ${clash[0]}`);
  const slot = { slotName, createdAtLsn: command.createdAtLsn, createdByEpoch: command.leaderEpoch };
  return accepted({ ...state, slots: withEntry(state.slots, command.member, slot) });
}

/** The primary dropped `member`'s slot (the member may already be removed). */
export function applyDropSlot(state: ClusterState, command: CommandOf<'dropSlot'>): ApplyOutcome {
  const refusal = refuseUnlessLeaderEpoch(state, command.leaderEpoch);
  if (refusal) return refusal;
  if (!lookup(state.slots, command.member)) return rejected(state, 'UNKNOWN_SLOT', `no slot is recorded for ${command.member}`);
  return accepted({ ...state, slots: withoutEntry(state.slots, command.member) });
}

/** The primary's decision on how `member` gets its data; an s3 plan must carry the numbers behind it. */
export function applyRecordBootstrapPlan(state: ClusterState, command: CommandOf<'recordBootstrapPlan'>): ApplyOutcome {
  const refusal = refuseUnlessLeaderEpoch(state, command.leaderEpoch);
  if (refusal) return refusal;
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  if (command.method === 's3' && (command.walBytesSinceBackup === null || command.backupBytes === null)) {
    return rejected(state, 'INVALID', 'an s3 bootstrap plan needs walBytesSinceBackup and backupBytes');
  }
  const plan = {
    method: command.method,
    source: command.source,
    reason: command.reason,
    walBytesSinceBackup: command.walBytesSinceBackup,
    backupBytes: command.backupBytes,
    decidedAtMs: command.atMs,
  };
  return accepted({ ...state, bootstrap: withEntry(state.bootstrap, command.member, plan) });
}

/**
 * The member's restore of its planned base backup failed: its s3 plan for
 * `backupId` becomes pg_basebackup from `source`. Compare-and-set on that
 * plan (PLAN_CHANGED otherwise), so a late report never overwrites a newer
 * decision. The numbers that chose S3 stay: they still explain the plan.
 */
export function applyBootstrapFallback(state: ClusterState, command: CommandOf<'bootstrapFallback'>): ApplyOutcome {
  if (!lookup(state.members, command.member)) return unknownMember(state, command.member);
  if (!lookup(state.members, command.source)) return unknownMember(state, command.source);
  if (command.source === command.member) return rejected(state, 'INVALID', `${command.member} cannot copy its data from itself`);
  const plan = lookup(state.bootstrap, command.member);
  if (plan === undefined || plan.method !== 's3' || plan.source !== command.backupId) {
    const current = plan === undefined ? `${command.member} has no bootstrap plan` : `the plan of ${command.member} is ${plan.method} from ${plan.source}`;
    return rejected(state, 'PLAN_CHANGED', `${current}, not the restore of ${command.backupId}`);
  }
  const fallback = { ...plan, method: 'basebackup' as const, source: command.source, reason: command.reason, decidedAtMs: command.atMs };
  return accepted({ ...state, bootstrap: withEntry(state.bootstrap, command.member, fallback) });
}

/** Merge-patch the dynamic configuration; the merged whole must pass parseDynamicConfig (errors name the key). */
export function applyPatchConfig(state: ClusterState, command: CommandOf<'patchConfig'>): ApplyOutcome {
  if (command.expectedVersion !== state.config.version) {
    return rejected(state, 'VERSION_MISMATCH', `the config version is ${state.config.version}, not ${command.expectedVersion}`);
  }
  let values;
  try {
    values = parseDynamicConfig(mergePatch(state.config.values, command.patch), 'config');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return rejected(state, 'INVALID_CONFIG', error.message, error.key);
  }
  if (state.leader !== null && values.ttl_ms < state.config.values.ttl_ms) {
    // The Raft leader counts the lease with the new ttl as soon as it applies this; the primary may not
    // have applied it yet and writes on for the old one: a failover could begin while it still writes.
    return rejected(
      state,
      'UNSAFE_LEASE_CHANGE',
      `lowering ttl_ms (${state.config.values.ttl_ms} -> ${values.ttl_ms}) while ${state.leader.member} holds the lease could start a failover before that primary, counting with the old ttl, stops writing; only raising it is allowed while a primary holds the lease`,
      'ttl_ms',
    );
  }
  const version = state.config.version + 1;
  return accepted({ ...state, config: { version, values } }, { version });
}

/** Enter or leave maintenance mode; `by`/`atMs` record the last effective change. */
export function applySetPause(state: ClusterState, command: CommandOf<'setPause'>): ApplyOutcome {
  if (state.pause.paused === command.paused) return accepted(state, { changed: false });
  return accepted({ ...state, pause: { paused: command.paused, by: command.by, atMs: command.atMs } }, { changed: true });
}

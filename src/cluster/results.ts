import { ClusterDecodeError, parseJsonBytes } from './errors.js';
import type { ClusterState } from './state.js';

/**
 * Why a command was refused. Stable: the HA loop branches on them and they
 * go to logs, metrics and the admin API (test/unit/cluster/commands.test.ts
 * freezes the list). A refused command changes nothing.
 */
export const REJECTION_CODES = [
  /** initializeClaim: someone already claimed (or finished) initialization; initializeDone: a different system identifier is recorded. */
  'ALREADY_INITIALIZED',
  /** initializeDone: nobody claimed initialization; promote: the first primary before initdb finished. */
  'NOT_INITIALIZED',
  /** initializeDone / first promote: by a member other than the claimant. */
  'NOT_INITIALIZER',
  'UNKNOWN_MEMBER',
  /** registerMember: the cluster already has MEMBERS_MAX members. */
  'TOO_MANY_MEMBERS',
  /** removeMember, requestMemberAction (reinit): the member holds the leader key. */
  'MEMBER_IS_LEADER',
  /** removeMember: the member is in the sync set (remove it from sync first). */
  'MEMBER_IN_SYNC',
  /** registerMember / setMembership (join): the member was removed; only an operator's add brings the name back. */
  'MEMBER_REMOVED',
  /** promote / requestSwitchover: the member is tagged nofailover or failover_priority 0. */
  'MEMBER_INELIGIBLE',
  /** setSync: a member is tagged nosync. */
  'MEMBER_NOSYNC',
  /** No leader, or a different member holds it. */
  'NOT_LEADER_HOLDER',
  /** The leader epoch is not the one the command expected. */
  'EPOCH_MISMATCH',
  /** setSync: the sync epoch is not the one the command expected. */
  'SYNC_EPOCH_MISMATCH',
  /** promote: a new primary's timeline must be newer than the last one. */
  'TIMELINE_NOT_NEWER',
  /** promote in synchronous mode: the candidate is neither in the sync set nor the last primary. */
  'NOT_SYNC_STANDBY',
  /** promote: the primary committed a renewal after the failover was decided (its lease is fresh again). */
  'LEASE_RENEWED',
  /** patchConfig: the config version is not the one the command expected. */
  'VERSION_MISMATCH',
  /** patchConfig: the merged configuration is invalid; `key` names the offending key. */
  'INVALID_CONFIG',
  /** recordSlot: another member's slot already has this slot name. */
  'SLOT_NAME_CONFLICT',
  'UNKNOWN_SLOT',
  /** bootstrapFallback: the member's plan is no longer the S3 restore that failed. */
  'PLAN_CHANGED',
  'SWITCHOVER_PENDING',
  'NO_SWITCHOVER',
  /** The command is self-contradictory (e.g. a switchover to the primary itself). */
  'INVALID',
  /** The log entry did not decode as a command (ClusterStateMachine only). */
  'MALFORMED_COMMAND',
  /** patchConfig: lowering ttl_ms while a primary holds the lease (its renewals count with the old one). */
  'UNSAFE_LEASE_CHANGE',
  /** requestMemberAction: the member has an action that has not ended (pending or running). */
  'ACTION_PENDING',
  /** updateMemberAction: the member has no open action with this id (none, another one, or it already ended). */
  'NO_ACTION',
  /** updateMemberAction: a running action cannot be cancelled or started again. */
  'ACTION_RUNNING',
  'BACKUP_PENDING',
  'BACKUP_RUNNING',
  'ALREADY_SCHEDULED',
  'NO_BACKUP',
  'NOT_ASKED',
  'NOT_TAKER',
] as const;

export type RejectionCode = (typeof REJECTION_CODES)[number];

export interface ApplySuccess {
  readonly ok: true;
  /** The leader epoch after the command (promote, renewLease, releaseLeader). */
  readonly epoch?: number;
  /** The sync epoch after setSync. */
  readonly syncEpoch?: number;
  /** The config version after patchConfig. */
  readonly version?: number;
  /** The renewal sequence number after renewLease. */
  readonly seq?: number;
  /** registerMember: a new member (false: a re-registration). */
  readonly created?: boolean;
  /** False when the command was a no-op repeat (initializeClaim/Done retries, setPause to the current value). */
  readonly changed?: boolean;
  /** promote: a pending switchover was settled by this promotion. */
  readonly switchoverCleared?: boolean;
}

export interface ApplyRejection {
  readonly ok: false;
  readonly code: RejectionCode;
  readonly reason: string;
  /** INVALID_CONFIG: the configuration key at fault. */
  readonly key?: string;
}

export type ApplyResult = ApplySuccess | ApplyRejection;

export interface ApplyOutcome {
  readonly state: ClusterState;
  readonly result: ApplyResult;
}

export function accepted(state: ClusterState, detail: Omit<ApplySuccess, 'ok'> = {}): ApplyOutcome {
  return { state, result: { ok: true, ...detail } };
}

export function rejected(state: ClusterState, code: RejectionCode, reason: string, key?: string): ApplyOutcome {
  return { state, result: key === undefined ? { ok: false, code, reason } : { ok: false, code, reason, key } };
}

/** The fields of ApplySuccess besides `ok`, with their JSON types (decodeApplyResult checks them). */
const SUCCESS_FIELD_TYPES: Readonly<Record<Exclude<keyof ApplySuccess, 'ok'>, 'number' | 'boolean'>> = Object.freeze({
  epoch: 'number',
  syncEpoch: 'number',
  version: 'number',
  seq: 'number',
  created: 'boolean',
  changed: 'boolean',
  switchoverCleared: 'boolean',
});

/** A result as the leader answers a forwarded proposal: UTF-8 JSON of the object (results are plain data). */
export function encodeApplyResult(result: ApplyResult): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(result));
}

/**
 * A result from the leader. ClusterDecodeError naming the field when it is not
 * one this version writes (an unknown rejection code: a newer leader).
 */
export function decodeApplyResult(bytes: Uint8Array): ApplyResult {
  const value = parseJsonBytes(bytes, 'result');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClusterDecodeError('result', 'must be an object');
  const fields = value as Record<string, unknown>;
  if (fields['ok'] === true) {
    for (const [key, type] of Object.entries(SUCCESS_FIELD_TYPES)) {
      if (key in fields && typeof fields[key] !== type) throw new ClusterDecodeError(`result.${key}`, `must be a ${type}, got ${JSON.stringify(fields[key])}`);
    }
    return fields as unknown as ApplySuccess;
  }
  if (fields['ok'] !== false) throw new ClusterDecodeError('result.ok', `must be true or false, got ${JSON.stringify(fields['ok'])}`);
  if (!(REJECTION_CODES as readonly unknown[]).includes(fields['code'])) {
    throw new ClusterDecodeError('result.code', `must be a rejection code this version knows, got ${JSON.stringify(fields['code'])}`);
  }
  if (typeof fields['reason'] !== 'string') throw new ClusterDecodeError('result.reason', 'must be a string');
  if ('key' in fields && typeof fields['key'] !== 'string') throw new ClusterDecodeError('result.key', 'must be a string when set');
  return fields as unknown as ApplyRejection;
}

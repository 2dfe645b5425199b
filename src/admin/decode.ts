import { DEFAULT_TAGS } from '../cluster/state.js';
import { decodeMemberAction } from './member-action-view.js';
import type { ArchiveView, BootstrapPlanView, ClusterStatus, HaView, MemberChangeResult, MemberView, PauseView, PendingSwitchoverView, SwitchoverResult } from './types.js';
import type { WireArchiveReport, WireBootstrapPlan, WireClusterStatusResponse, WireHaStatus, WireMember, WireMemberChangeResponse, WirePauseState, WirePendingSwitchover, WireSwitchoverResponse } from './wire.js';
import { decodeBackupRun } from './backup-wire.js';

/**
 * Answers of the admin service → the client's view (types.ts), pure. The
 * wire's "none" ('' and 0, absent optionals, unset messages) becomes null.
 */

const text = (value: string): string | null => (value === '' ? null : value);
const positive = (value: number): number | null => (value === 0 ? null : value);

export function decodeClusterStatus(w: WireClusterStatusResponse): ClusterStatus {
  const raft = w.raft;
  return {
    clusterName: w.cluster_name,
    answeredBy: w.answered_by,
    linearizable: w.linearizable,
    staleReason: text(w.stale_reason),
    leader: w.leader === null ? null : { member: w.leader.member, epoch: w.leader.epoch, timeline: w.leader.timeline, since: w.leader.since, lastRenewalAt: w.leader.last_renewal_at },
    epoch: w.epoch,
    pause: decodePause(w.pause),
    switchover: w.switchover === null ? null : decodePendingSwitchover(w.switchover),
    syncMembers: w.sync_members,
    configVersion: w.config_version,
    historyLength: w.history_length,
    systemIdentifier: text(w.system_identifier),
    raft: {
      leaderId: text(raft?.leader_id ?? ''),
      term: raft?.term ?? 0,
      commitIndex: raft?.commit_index ?? 0,
      appliedIndex: raft?.applied_index ?? 0,
      role: raft?.role ?? '',
      voters: raft?.voters ?? [],
      learners: raft?.learners ?? [],
    },
    members: w.members.map(decodeMember),
    answeringHa: decodeHa(w.answering_ha),
    backupCurrent: decodeBackupRun(w.backup_current),
    backupLast: decodeBackupRun(w.backup_last),
  };
}

export function decodePause(w: WirePauseState | null): PauseView {
  return { paused: w?.paused ?? false, by: text(w?.by ?? ''), changedAt: text(w?.changed_at ?? '') };
}

export function decodePendingSwitchover(w: WirePendingSwitchover): PendingSwitchoverView {
  return { from: w.from, to: text(w.to), scheduledAt: text(w.scheduled_at), requestedAt: w.requested_at };
}

export function decodeSwitchoverResult(w: WireSwitchoverResponse): SwitchoverResult {
  const completed = w.outcome === 'SWITCHOVER_OUTCOME_COMPLETED';
  return {
    outcome: completed ? 'completed' : 'scheduled',
    from: w.from,
    to: text(w.to),
    epoch: completed ? w.epoch : null,
    timeline: completed ? positive(w.timeline) : null,
    scheduledAt: text(w.scheduled_at),
    elapsedMs: completed ? w.elapsed_ms : null,
    message: w.message,
  };
}

function decodeMember(w: WireMember): MemberView {
  const r = w.registration;
  const s = w.status;
  return {
    name: w.name,
    registration: {
      raftAddress: r?.raft_address ?? '',
      postgresHost: r?.postgres_host ?? '',
      postgresPort: r?.postgres_port ?? 0,
      httpAddress: r?.http_address ?? '',
      tags: r?.tags ? { ...r.tags } : { ...DEFAULT_TAGS },
      registeredAt: r?.registered_at ?? '',
    },
    status:
      s === null
        ? null
        : {
            role: s.role,
            state: s.state,
            timeline: positive(s.timeline),
            receiveLsn: text(s.receive_lsn),
            replayLsn: text(s.replay_lsn),
            flushLsn: text(s.flush_lsn),
            lagBytes: s.lag_bytes ?? null,
            reportedAt: s.reported_at,
            archive: s.archive ? decodeArchive(s.archive) : null,
          },
    primary: w.primary,
    sync: w.sync,
    raftRole: w.raft_role,
    action: w.action ? decodeMemberAction(w.action) : null,
    bootstrap: w.bootstrap ? decodeBootstrap(w.bootstrap) : null,
  };
}

function decodeArchive(w: WireArchiveReport): ArchiveView {
  return { readyFiles: w.ready_files, lastArchived: text(w.last_archived), lastArchivedAt: text(w.last_archived_at), failure: text(w.failure) };
}

function decodeBootstrap(w: WireBootstrapPlan): BootstrapPlanView {
  return {
    method: w.method,
    source: w.source,
    reason: w.reason,
    walBytesSinceBackup: w.wal_bytes_since_backup ?? null,
    backupBytes: w.backup_bytes ?? null,
    decidedAt: text(w.decided_at),
  };
}

function decodeHa(w: WireHaStatus | null): HaView {
  return {
    role: w?.role ?? 'unknown',
    state: w?.state ?? '',
    lastAction: w?.last_action ?? '',
    lastReason: w?.last_reason ?? '',
    leaseRemainingMs: w?.lease_remaining_ms ?? null,
    refused: text(w?.refused ?? ''),
  };
}

const RAFT_ROLE_NAMES: ReadonlySet<string> = new Set(['voter', 'learner', 'none']);

export function decodeMemberChange(response: WireMemberChangeResponse): MemberChangeResult {
  const raftRole = RAFT_ROLE_NAMES.has(response.raft_role) ? (response.raft_role as MemberChangeResult['raftRole']) : 'none';
  return { name: response.name, raftRole, changed: response.changed, registered: response.registered, elapsedMs: Number(response.elapsed_ms), message: response.message };
}

import type { ConfState } from '../raft/core/types.js';
import type { ArchiveReport, BootstrapPlan, ClusterState, Member, PauseState, Switchover } from '../cluster/state.js';
import type { HaStatus } from '../ha/loop.js';
import type { AdminRaftView } from './backend.js';
import { memberActionView } from './member-action-view.js';
import { formatTime } from './time.js';
import type { WireArchiveReport, WireBootstrapPlan, WireClusterStatusResponse, WireHaStatus, WireMember, WirePauseState, WirePendingSwitchover } from './wire.js';
import { backupRunWire } from './backup-wire.js';

/**
 * The ClusterStatus answer, pure: the cluster state (never its credentials)
 * plus what the answering node knows of Raft and its own HA loop.
 */
export interface StatusSources {
  readonly self: string;
  readonly clusterName: string;
  readonly state: ClusterState;
  readonly linearizable: boolean;
  readonly staleReason: string;
  readonly raft: AdminRaftView;
  readonly ha: HaStatus;
}

export function clusterStatusView(s: StatusSources): WireClusterStatusResponse {
  const { state, raft } = s;
  const leader = state.leader;
  return {
    cluster_name: s.clusterName,
    answered_by: s.self,
    linearizable: s.linearizable,
    stale_reason: s.staleReason,
    leader: leader === null ? null : { member: leader.member, epoch: leader.epoch, timeline: leader.timeline, since: formatTime(leader.sinceMs), last_renewal_at: formatTime(leader.lastRenewal.atMs) },
    epoch: state.epoch,
    pause: pauseView(state.pause),
    switchover: state.switchover === null ? null : switchoverView(state.switchover),
    sync_members: [...state.sync.members],
    config_version: state.config.version,
    history_length: state.history.length,
    system_identifier: state.initialize?.systemIdentifier ?? '',
    raft: {
      leader_id: raft.leaderId,
      term: raft.term,
      commit_index: raft.commit,
      applied_index: raft.applied,
      role: raft.role,
      voters: [...raft.confState.voters].sort(),
      learners: [...raft.confState.learners].sort(),
    },
    members: Object.keys(state.members)
      .sort()
      .map((name) => memberView(name, state.members[name]!, state, raft)),
    answering_ha: haView(s.ha),
    backup_current: state.backup.current === null ? null : backupRunWire(state.backup.current),
    backup_last: state.backup.last === null ? null : backupRunWire(state.backup.last),
  };
}

export function pauseView(pause: PauseState): WirePauseState {
  return { paused: pause.paused, by: pause.by ?? '', changed_at: formatTime(pause.atMs) };
}

export function switchoverView(request: Switchover): WirePendingSwitchover {
  return { from: request.from, to: request.to ?? '', scheduled_at: formatTime(request.scheduledAtMs), requested_at: formatTime(request.requestedAtMs) };
}

function memberView(name: string, member: Member, state: ClusterState, raft: AdminRaftView): WireMember {
  const { registration, status } = member;
  return {
    name,
    registration: {
      raft_address: registration.raftAddress,
      postgres_host: registration.postgresHost,
      postgres_port: registration.postgresPort,
      http_address: registration.httpAddress,
      tags: { ...registration.tags },
      registered_at: formatTime(registration.registeredAtMs),
    },
    status:
      status === null
        ? null
        : {
            role: status.role,
            state: status.state,
            timeline: status.timeline ?? 0,
            receive_lsn: status.receiveLsn ?? '',
            replay_lsn: status.replayLsn ?? '',
            flush_lsn: status.flushLsn ?? '',
            ...(status.lagBytes === null ? {} : { lag_bytes: status.lagBytes }),
            reported_at: formatTime(status.reportedAtMs),
            archive: status.archive === null ? null : archiveView(status.archive),
          },
    primary: state.leader?.member === name,
    sync: state.sync.members.includes(name),
    raft_role: raftRole(name, raft),
    action: Object.hasOwn(state.actions, name) ? memberActionView(name, state.actions[name]!) : null,
    bootstrap: Object.hasOwn(state.bootstrap, name) ? bootstrapView(state.bootstrap[name]!) : null,
  };
}

function archiveView(archive: ArchiveReport): WireArchiveReport {
  return {
    ready_files: archive.readyFiles,
    last_archived: archive.lastArchived ?? '',
    last_archived_at: formatTime(archive.lastArchivedAtMs),
    failure: archive.failure ?? '',
  };
}

function bootstrapView(plan: BootstrapPlan): WireBootstrapPlan {
  return {
    method: plan.method,
    source: plan.source,
    reason: plan.reason,
    ...(plan.walBytesSinceBackup === null ? {} : { wal_bytes_since_backup: plan.walBytesSinceBackup }),
    ...(plan.backupBytes === null ? {} : { backup_bytes: plan.backupBytes }),
    decided_at: formatTime(plan.decidedAtMs),
  };
}

function raftRole(name: string, raft: AdminRaftView): string {
  return raft.leaderId === name ? 'leader' : membershipRole(name, raft.confState);
}

/** A member's place in a Raft configuration. */
export function membershipRole(name: string, confState: ConfState): 'voter' | 'learner' | 'none' {
  if (confState.voters.includes(name)) return 'voter';
  if (confState.learners.includes(name)) return 'learner';
  return 'none';
}

function haView(ha: HaStatus): WireHaStatus {
  return {
    role: ha.role,
    state: ha.state,
    last_action: ha.lastAction,
    last_reason: ha.lastReason,
    ...(ha.leaseRemainingMs === null ? {} : { lease_remaining_ms: Math.max(0, Math.round(ha.leaseRemainingMs)) }),
    refused: ha.refused ?? '',
  };
}

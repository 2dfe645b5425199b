import { unknownMember } from './apply-members.js';
import type { CommandOf } from './commands.js';
import { lookup } from './records.js';
import { accepted, rejected, type ApplyOutcome } from './results.js';
import { BACKUP_STALE_MS, type BackupRun, type ClusterState } from './state.js';

/**
 * Base backups asked for by the schedule or an operator and taken by one
 * member (src/node/backup-runner.ts): recorded here, one at a time. The
 * member that takes a run up owns it; it sends a heartbeat while it works,
 * and only once that heartbeat is BACKUP_STALE_MS old may another member
 * end the run (its agent or host died), so two members never both believe
 * they are taking the cluster's backup.
 */
export function applyRequestBackup(state: ClusterState, command: CommandOf<'requestBackup'>): ApplyOutcome {
  const current = state.backup.current;
  if (current !== null) {
    return rejected(state, 'BACKUP_PENDING', `backup run ${current.id} is ${current.status}${current.takenBy === null ? '' : ` on ${current.takenBy}`} (requested by ${current.by}): wait for it to end`);
  }
  if (command.member !== null && !lookup(state.members, command.member)) return unknownMember(state, command.member);
  const scheduled = command.trigger === 'schedule';
  if (scheduled !== (command.fireAtMs !== null)) return rejected(state, 'INVALID', 'a scheduled backup names its schedule time (fireAtMs), and only a scheduled one does');
  const lastFire = state.backup.lastScheduledFireMs;
  if (scheduled && lastFire !== null && command.fireAtMs! <= lastFire) {
    return rejected(state, 'ALREADY_SCHEDULED', `the scheduled backup for schedule time ${command.fireAtMs} (ms since the epoch) was already asked for (the latest asked for: ${lastFire})`);
  }
  const run: BackupRun = {
    id: command.id,
    trigger: command.trigger,
    by: command.by,
    label: command.label,
    member: command.member,
    requestedAtMs: command.atMs,
    status: 'pending',
    takenBy: null,
    startedAtMs: null,
    heartbeatAtMs: null,
    finishedAtMs: null,
    backupId: null,
    detail: '',
  };
  return accepted({ ...state, backup: { ...state.backup, current: run, lastScheduledFireMs: scheduled ? command.fireAtMs : lastFire } });
}

export function applyUpdateBackup(state: ClusterState, command: CommandOf<'updateBackup'>): ApplyOutcome {
  const current = state.backup.current;
  if (current === null || current.id !== command.id) {
    return rejected(state, 'NO_BACKUP', `no backup run ${command.id} is pending or running${current === null ? '' : ` (the current one is ${current.id})`}`);
  }
  const owner = current.takenBy;
  switch (command.status) {
    case 'running': {
      if (current.status === 'running' && owner !== command.member) return rejected(state, 'BACKUP_RUNNING', `backup run ${current.id} is being taken by ${owner}, not ${command.member}`);
      if (current.member !== null && current.member !== command.member) return rejected(state, 'NOT_ASKED', `backup run ${current.id} asks ${current.member} to take it, not ${command.member}`);
      const started = current.status === 'pending';
      const run: BackupRun = { ...current, status: 'running', takenBy: command.member, startedAtMs: started ? command.atMs : current.startedAtMs, heartbeatAtMs: command.atMs, detail: command.detail };
      return accepted({ ...state, backup: { ...state.backup, current: run } });
    }
    case 'done':
      if (current.status !== 'running' || owner !== command.member) return rejected(state, 'NOT_TAKER', `only the member taking backup run ${current.id} ends it as done (${current.status}${owner === null ? '' : ` on ${owner}`})`);
      if (command.backupId === null) return rejected(state, 'INVALID', 'a backup that is done names its id in the store (backupId)');
      return ended(state, current, command);
    case 'cancelled':
      if (current.status !== 'pending') return rejected(state, 'BACKUP_RUNNING', `backup run ${current.id} is already running on ${owner}: it can no longer be cancelled`);
      return ended(state, current, command);
    case 'failed': {
      if (current.status === 'running' && owner !== command.member) {
        const quietMs = command.atMs - (current.heartbeatAtMs ?? current.startedAtMs ?? current.requestedAtMs);
        if (quietMs < BACKUP_STALE_MS) {
          return rejected(state, 'BACKUP_RUNNING', `backup run ${current.id} is being taken by ${owner}, whose last heartbeat is ${Math.max(0, Math.round(quietMs / 1000))} s old (stale after ${BACKUP_STALE_MS / 1000} s)`);
        }
      }
      return ended(state, current, command);
    }
  }
}

function ended(state: ClusterState, current: BackupRun, command: CommandOf<'updateBackup'>): ApplyOutcome {
  const run: BackupRun = {
    ...current,
    status: command.status,
    takenBy: current.takenBy ?? (command.status === 'failed' ? command.member : null),
    finishedAtMs: command.atMs,
    backupId: command.status === 'done' ? command.backupId : null,
    detail: command.detail,
  };
  return accepted({ ...state, backup: { ...state.backup, current: null, last: run } });
}

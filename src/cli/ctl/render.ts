import type { ArchiveView, BootstrapPlanView, CancelSwitchoverResult, ClusterStatus, MemberView, PauseView, PendingSwitchoverView, SwitchoverResult } from '../../admin/types.js';
import { DEFAULT_TAGS, type MemberTags } from '../../cluster/state.js';
import type { BackupRunView } from '../../admin/backup-wire.js';
import { formatBytes } from '../../lib/bytes.js';

/** Human output of pgherdctl, pure: what --json prints as data, said for people. */

const MIB = 1024 * 1024;

/** `list`: a header line (cluster, primary, epoch; paused, pending switchover, staleness), then a table like `patronictl list`. */
export function renderList(status: ClusterStatus): string {
  const leader = status.leader;
  const primary = leader === null ? 'no primary' : `primary ${leader.member} (epoch ${leader.epoch}, timeline ${leader.timeline})`;
  const raftLeader = status.raft.leaderId === null ? 'no Raft leader' : `Raft leader ${status.raft.leaderId} (term ${status.raft.term})`;
  const lines = [`Cluster: ${status.clusterName} — ${primary} — ${raftLeader} — answered by ${status.answeredBy}`];
  if (status.pause.paused) lines.push(`Paused: no automatic failover${status.pause.by === null ? '' : ` (by ${status.pause.by} since ${status.pause.changedAt})`}; pgherdctl resume ends it`);
  if (status.switchover !== null) lines.push(`Switchover pending: ${describePending(status.switchover)}`);
  for (const member of status.members) {
    const action = member.action;
    if (action === null || (action.status !== 'pending' && action.status !== 'running')) continue;
    const when = action.status === 'running' ? 'running' : action.scheduledAt === null ? 'pending' : `scheduled for ${action.scheduledAt}`;
    lines.push(`${action.kind.charAt(0).toUpperCase()}${action.kind.slice(1)}${action.pendingOnly ? ' (if pending)' : ''} of ${member.name} ${when} (requested by ${action.by}); pgherdctl restart --cancel ${member.name} withdraws a pending one`);
  }
  if (!status.linearizable && status.staleReason !== null) lines.push(`Warning: this member's view, possibly stale (${status.staleReason})`);
  const headers = ['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB', 'Tags', 'Raft'];
  const rows = status.members.map((member) => [
    member.name,
    `${member.registration.postgresHost}:${member.registration.postgresPort}`,
    roleText(roleFacts(member)),
    member.status?.state ?? 'no report',
    String(member.status?.timeline ?? ''),
    lagText(roleFacts(member)),
    tagsText(member.registration.tags),
    member.raftRole,
  ]);
  lines.push(table(headers, rows, new Set([4, 5])));
  for (const member of status.members) {
    const archive = member.status?.archive;
    // Every member archives (archive_mode always); the primary is shown, a replica only when its archiving fails.
    if (archive && (member.primary || archive.failure !== null)) lines.push(`Archive: ${member.name} — ${archiveText(archive)}`);
  }
  for (const member of status.members) {
    if (member.bootstrap) lines.push(`Data source: ${member.name} — ${bootstrapText(member.bootstrap)}`);
  }
  if (status.backupCurrent !== null) lines.push(`Backup: ${backupRunText(status.backupCurrent)}`);
  // The last one only when it failed, or when nothing runs now: a done backup is news once.
  const last = status.backupLast;
  if (last !== null && (last.status === 'failed' || status.backupCurrent === null)) lines.push(`Last backup: ${backupRunText(last)}`);
  return `${lines.join('\n')}\n`;
}

/** "running on n1 since …, requested by schedule '0 1 * * *'" / "done on n1 at …: backup 2026…". */
export function backupRunText(run: BackupRunView): string {
  const where = run.takenBy === null ? (run.member === null ? '' : ` (asked of ${run.member})`) : ` on ${run.takenBy}`;
  const when = run.status === 'pending' ? ` since ${run.requestedAt}` : run.status === 'running' ? ` since ${run.startedAt ?? run.requestedAt}` : ` at ${run.finishedAt ?? run.requestedAt}`;
  const failed = run.status === 'failed' ? 'FAILED' : run.status;
  return `${failed}${where}${when}, requested by ${run.by}${run.detail === null ? '' : ` — ${run.detail}`}`;
}

export function archiveText(archive: ArchiveView): string {
  const waiting = `${archive.readyFiles} WAL file${archive.readyFiles === 1 ? '' : 's'} waiting`;
  const last = archive.lastArchived === null ? 'nothing archived yet' : `last ${archive.lastArchived}${archive.lastArchivedAt === null ? '' : ` at ${archive.lastArchivedAt}`}`;
  if (archive.failure !== null) return `FAILING: ${archive.failure}; ${waiting} (PostgreSQL keeps them until they are archived); ${last}`;
  return `${waiting}; ${last}`;
}

export function bootstrapText(plan: BootstrapPlanView): string {
  const how = plan.method === 's3' ? `S3 base backup ${plan.source}` : plan.method === 'basebackup' ? `pg_basebackup from ${plan.source}` : `${plan.method} from ${plan.source}`;
  const numbers =
    plan.walBytesSinceBackup === null || plan.backupBytes === null ? '' : ` (WAL since the backup ${formatBytes(plan.walBytesSinceBackup)}, backup ${formatBytes(plan.backupBytes)})`;
  return `${how}: ${plan.reason}${numbers}`;
}

export function renderSwitchover(kind: 'switchover' | 'failover', result: SwitchoverResult): string {
  if (result.outcome === 'scheduled') {
    return `Scheduled a switchover from ${result.from} to ${result.to ?? 'the best candidate'} for ${result.scheduledAt}: cancel it with pgherdctl switchover --cancel\n`;
  }
  const verb = kind === 'failover' ? 'Failed over' : 'Switched over';
  return `${verb} from ${result.from} to ${result.to}: ${result.message}\n`;
}

export function renderCancel(result: CancelSwitchoverResult): string {
  return `Cancelled the switchover ${describePending(result.cancelled)}\n`;
}

export function renderPause(clusterName: string, pause: PauseView): string {
  return pause.paused
    ? `Paused cluster ${clusterName} (by ${pause.by}): no automatic failover or restarts until pgherdctl resume\n`
    : `Resumed cluster ${clusterName} (by ${pause.by}): automatic failover is on again\n`;
}

export function describePending(request: PendingSwitchoverView): string {
  const when = request.scheduledAt === null ? 'as soon as possible' : `scheduled for ${request.scheduledAt}`;
  return `from ${request.from} to ${request.to ?? 'the best candidate'}, ${when} (requested ${request.requestedAt})`;
}

/** What the Role and Lag columns say of a member (list, topology). */
export interface RoleFacts {
  /** It holds the leader key. */
  readonly primary: boolean;
  readonly sync: boolean;
  /** Its reported role; null before its first report. */
  readonly role: string | null;
  readonly lagBytes: number | null;
}

function roleFacts(member: MemberView): RoleFacts {
  return { primary: member.primary, sync: member.sync, role: member.status?.role ?? null, lagBytes: member.status?.lagBytes ?? null };
}

export function roleText(member: RoleFacts): string {
  if (member.primary) return 'Primary';
  const role = member.role ?? 'unknown';
  if (role === 'replica') return member.sync ? 'Sync Standby' : 'Replica';
  return role.charAt(0).toUpperCase() + role.slice(1);
}

export function lagText(member: RoleFacts): string {
  if (member.primary || member.role === null) return '';
  return member.lagBytes === null ? 'unknown' : String(Math.round(member.lagBytes / MIB));
}

/** The tags that differ from the defaults, as `nofailover, failover_priority=2`. */
export function tagsText(tags: MemberTags): string {
  const parts: string[] = [];
  for (const key of Object.keys(DEFAULT_TAGS) as (keyof MemberTags)[]) {
    const value = tags[key];
    if (value === DEFAULT_TAGS[key]) continue;
    parts.push(typeof value === 'boolean' ? (value ? key : `${key}=false`) : `${key}=${value}`);
  }
  return parts.join(', ');
}

/** A bordered table; columns in `rightAligned` are aligned right. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: readonly string[], align: boolean): string =>
    `|${widths.map((w, i) => ` ${align && rightAligned.has(i) ? (cells[i] ?? '').padStart(w) : (cells[i] ?? '').padEnd(w)} `).join('|')}|`;
  return [rule, line(headers, false), rule, ...rows.map((row) => line(row, true)), rule].join('\n');
}

import { lookup } from '../cluster/records.js';
import { BACKUP_STALE_MS, type BackupRun, type ClusterState } from '../cluster/state.js';
import { cronPreviousMs } from '../lib/cron.js';

/*
 * What a member does about the cluster's base backups now (DESIGN §7), pure:
 * every agent asks this every few seconds, and only the member it names
 * acts. The run itself is recorded in the cluster state (src/cluster/
 * apply-backups.ts), so a failover or an agent restart never loses track of
 * it and two members never take the cluster's backup at once.
 *
 * - The taker: the member a run names, else the one dynamic config
 *   backup_take_on names — the primary, or the most caught-up streaming
 *   replica on the primary's timeline (the primary when none streams).
 * - Schedule: when the latest time of backup_schedule (UTC cron) is later
 *   than the last schedule time asked for (or than the cluster's bootstrap),
 *   the taker asks for a scheduled run — unless a backup that started after
 *   that time already succeeded. A scheduled run that fails is not retried
 *   before the next schedule time; pgherdctl list and the metrics show it.
 * - A run this agent process did not start but that names it as taker was
 *   interrupted (the agent restarted): it ends as failed. A run whose taker
 *   sent no heartbeat for BACKUP_STALE_MS is ended by the current taker.
 */

export type BackupFailure = 'INTERRUPTED' | 'ABANDONED' | 'NO_STORE' | 'MEMBER_GONE';

export type BackupDuty =
  | { readonly kind: 'none'; readonly reason: 'NOT_READY' | 'NOT_TAKER' | 'RUNNING_HERE' | 'RUNNING_ELSEWHERE' | 'NOT_DUE' | 'SCHEDULE_OFF' | 'NO_STORE' }
  /** Ask for the scheduled backup of schedule time `fireAtMs`. */
  | { readonly kind: 'request'; readonly fireAtMs: number }
  /** Take `run` up (record it running) and take the backup. */
  | { readonly kind: 'take'; readonly run: BackupRun }
  /** End `run` as failed, saying why. */
  | { readonly kind: 'fail'; readonly run: BackupRun; readonly reason: BackupFailure; readonly detail: string };

export interface BackupDutyObservation {
  readonly state: ClusterState;
  readonly self: string;
  readonly wallNowMs: number;
  /** Run ids this agent process took up. */
  readonly handled: ReadonlySet<string>;
  /** A backup store is configured on this member. */
  readonly storeConfigured: boolean;
}

export function decideBackupDuty(o: BackupDutyObservation): BackupDuty {
  const { state, self } = o;
  const initializedAtMs = state.initialize?.systemIdentifier === null ? null : (state.initialize?.doneAtMs ?? null);
  if (initializedAtMs === null || state.leader === null) return { kind: 'none', reason: 'NOT_READY' };
  const taker = backupTaker(state);
  const current = state.backup.current;
  if (current !== null && current.status === 'running') {
    if (current.takenBy === self) {
      if (o.handled.has(current.id)) return { kind: 'none', reason: 'RUNNING_HERE' };
      return { kind: 'fail', run: current, reason: 'INTERRUPTED', detail: `the agent on ${self} stopped while it took this backup; nothing was committed to the store (ask again: pgherdctl backup create)` };
    }
    const quietMs = o.wallNowMs - (current.heartbeatAtMs ?? current.startedAtMs ?? current.requestedAtMs);
    if (taker === self && quietMs >= BACKUP_STALE_MS) {
      return { kind: 'fail', run: current, reason: 'ABANDONED', detail: `abandoned by ${self}: ${current.takenBy} sent no heartbeat for ${Math.round(quietMs / 1000)} s (its agent or host is gone)` };
    }
    return { kind: 'none', reason: 'RUNNING_ELSEWHERE' };
  }
  if (current !== null) {
    if (current.member !== null && !lookup(state.members, current.member)) {
      if (taker !== self) return { kind: 'none', reason: 'NOT_TAKER' };
      return { kind: 'fail', run: current, reason: 'MEMBER_GONE', detail: `${current.member}, asked to take it, is no longer a member` };
    }
    if ((current.member ?? taker) !== self) return { kind: 'none', reason: 'NOT_TAKER' };
    if (!o.storeConfigured) return { kind: 'fail', run: current, reason: 'NO_STORE', detail: `no backup store is configured on ${self} (backup.store.kind is none)` };
    return { kind: 'take', run: current };
  }
  if (taker !== self) return { kind: 'none', reason: 'NOT_TAKER' };
  const schedule = state.config.values.backup_schedule;
  if (schedule === 'off') return { kind: 'none', reason: 'SCHEDULE_OFF' };
  if (!o.storeConfigured) return { kind: 'none', reason: 'NO_STORE' };
  const fireAtMs = cronPreviousMs(schedule, o.wallNowMs);
  const since = state.backup.lastScheduledFireMs ?? initializedAtMs;
  const last = state.backup.last;
  const covered = last !== null && last.status === 'done' && last.startedAtMs !== null && last.startedAtMs >= fireAtMs;
  if (fireAtMs <= since || covered) return { kind: 'none', reason: 'NOT_DUE' };
  return { kind: 'request', fireAtMs };
}

/**
 * The member backup_take_on names: the leader-key holder, or for 'replica'
 * the streaming replica on the primary's timeline with the least lag (then
 * by name), falling back to the primary. null without a primary.
 */
export function backupTaker(state: ClusterState): string | null {
  const leader = state.leader;
  if (leader === null) return null;
  if (state.config.values.backup_take_on === 'primary') return leader.member;
  const replicas = Object.keys(state.members)
    .filter((name) => {
      const status = state.members[name]!.status;
      return name !== leader.member && status !== null && status.role === 'replica' && status.receiveLsn !== null && status.timeline === leader.timeline;
    })
    .sort((a, b) => (state.members[a]!.status!.lagBytes ?? Infinity) - (state.members[b]!.status!.lagBytes ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));
  return replicas[0] ?? leader.member;
}

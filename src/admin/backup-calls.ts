import { randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import { listBackups } from '../backup/backup-catalog.js';
import { backupTaker } from '../backup/backup-duty.js';
import { StoreError } from '../backup/store.js';
import type { BackupRun, ClusterState } from '../cluster/state.js';
import { cronNextMs } from '../lib/cron.js';
import type { Logger } from '../lib/logger.js';
import type { ActionContext } from './actions.js';
import type { AdminBackend } from './backend.js';
import { BACKUP_WAIT_MS_DEFAULT, BACKUP_WAIT_MS_MAX, backupRunWire, storedBackupWire, type WireBackupRunResponse, type WireCreateBackupRequest, type WireListBackupsResponse } from './backup-wire.js';
import { AdminRefusal, invalidField } from './errors.js';
import { proposeCommand, readForAction, refusalOf } from './raft-calls.js';
import { parseBy, parseMemberName } from './requests.js';
import { formatTime } from './time.js';
import { pollAfterSync } from './wait.js';

const BACKUP_POLL_MS = 250;
const LABEL_CHARS_MAX = 200;

export interface CreateBackupRequest {
  readonly label: string;
  readonly member: string | null;
  readonly waitMs: number;
  readonly noWait: boolean;
  /** '' when the request named nobody: the service uses the caller's address. */
  readonly by: string;
}

/** Every field checked before anything is read or proposed; refusals name the field. Pure. */
export function parseCreateBackupRequest(request: WireCreateBackupRequest): CreateBackupRequest {
  if (request.label.length > LABEL_CHARS_MAX || !/^[\x20-\x7e]*$/.test(request.label)) {
    throw invalidField('label', `expected printable ASCII of at most ${LABEL_CHARS_MAX} characters (it goes into pg_basebackup's label and the manifest), got ${JSON.stringify(request.label.slice(0, 40))}`);
  }
  const timeoutMs = request.timeout_ms;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > BACKUP_WAIT_MS_MAX) {
    throw invalidField('timeout_ms', `expected 0 (the default, ${BACKUP_WAIT_MS_DEFAULT} ms) up to ${BACKUP_WAIT_MS_MAX}, got ${timeoutMs}`);
  }
  return {
    label: request.label,
    member: request.member === '' ? null : parseMemberName('member', request.member),
    waitMs: timeoutMs === 0 ? BACKUP_WAIT_MS_DEFAULT : timeoutMs,
    noWait: request.no_wait,
    by: parseBy('requested_by', request.requested_by),
  };
}

/**
 * CreateBackup and ListBackups over an AdminBackend: a backup is recorded
 * through Raft and taken by a member's backup runner (src/node/backup-runner.ts);
 * the list is read from the answering agent's own backup store.
 */
export class BackupCalls {
  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
    private readonly newId: () => string = () => randomBytes(6).toString('hex'),
  ) {}

  async create(request: CreateBackupRequest, ctx: ActionContext): Promise<WireBackupRunResponse> {
    const startedMs = performance.now();
    const state = await readForAction(this.backend);
    if (request.member !== null && !Object.hasOwn(state.members, request.member)) {
      throw new AdminRefusal(Status.NOT_FOUND, 'UNKNOWN_MEMBER', `${request.member} is not a member of the cluster (members: ${Object.keys(state.members).sort().join(', ') || 'none'})`);
    }
    if (state.leader === null) throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_PRIMARY', 'no member holds the leader key: backups are taken once the cluster has a primary');
    const busy = state.backup.current;
    if (busy !== null) throw new AdminRefusal(Status.ALREADY_EXISTS, 'BACKUP_PENDING', `${describeRun(busy)}: one backup at a time; wait for it (pgherdctl backup list)`);
    const id = this.newId();
    Object.assign(ctx.fields, { runId: id, member: request.member ?? undefined, label: request.label || undefined });
    const result = await proposeCommand(this.backend, { type: 'requestBackup', atMs: this.backend.wallNow(), id, trigger: 'operator', by: request.by, label: request.label, member: request.member, fireAtMs: null }, 'the backup request');
    if (!result.ok) {
      if (result.code === 'BACKUP_PENDING') throw new AdminRefusal(Status.ALREADY_EXISTS, result.code, `the cluster state refused the backup request: ${result.reason}`);
      if (result.code === 'UNKNOWN_MEMBER') throw new AdminRefusal(Status.NOT_FOUND, result.code, `the cluster state refused the backup request: ${result.reason}`);
      throw refusalOf(result, 'the backup request');
    }
    const taker = request.member ?? backupTaker(state) ?? 'the primary';
    if (request.noWait) {
      // Until this node applied it (the leader may have answered the proposal first), briefly.
      const run = await pollAfterSync(this.backend, { deadlineMs: Math.min(ctx.deadlineMs, performance.now() + 5_000), signal: ctx.signal, log: this.log, pollMs: 20, what: 'backup' }, (synced) => (synced ? (runOf(this.backend.local(), id) ?? undefined) : undefined));
      return { run: run === undefined ? null : backupRunWire(run), message: `recorded backup run ${id}; ${taker} takes it: follow it with pgherdctl backup list` };
    }
    const ended = await pollAfterSync(this.backend, { deadlineMs: Math.min(ctx.deadlineMs, startedMs + request.waitMs), signal: ctx.signal, log: this.log, pollMs: BACKUP_POLL_MS, what: 'backup' }, (synced) => {
      const last = this.backend.local().backup.last;
      return synced && last !== null && last.id === id ? last : undefined;
    });
    const run = ended ?? runOf(this.backend.local(), id);
    ctx.fields['status'] = run?.status;
    if (run === null) return { run: null, message: `backup run ${id} is no longer recorded (a newer run replaced it): pgherdctl backup list shows what the store holds` };
    const elapsed = `${Math.round((performance.now() - startedMs) / 1000)} s`;
    const message =
      run.status === 'done'
        ? `${run.detail} (taken on ${run.takenBy})`
        : run.status === 'failed' || run.status === 'cancelled'
          ? `backup run ${id} ${run.status}${run.takenBy === null ? '' : ` on ${run.takenBy}`}: ${run.detail}`
          : `backup run ${id} is still ${run.status}${run.takenBy === null ? '' : ` on ${run.takenBy}`} after ${elapsed}: pgherdctl backup list shows how it stands`;
    return { run: backupRunWire(run), message };
  }

  async list(): Promise<WireListBackupsResponse> {
    const store = this.backend.backupStore?.() ?? null;
    if (store === null) throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_STORE', `no backup store is configured on ${this.backend.self} (backup.store.kind is none)`);
    // The local state: a listing must work without a Raft leader too (the cluster may be down, the store is not).
    const state = this.backend.local();
    let catalog;
    try {
      catalog = await listBackups(store, this.backend.clusterName);
    } catch (error) {
      if (error instanceof StoreError) throw new AdminRefusal(Status.UNAVAILABLE, 'STORE_UNAVAILABLE', `cannot list the backups in ${store.description}: ${error.message}`);
      throw error;
    }
    const values = state.config.values;
    const next = values.backup_schedule === 'off' ? null : cronNextMs(values.backup_schedule, this.backend.wallNow());
    return {
      backups: catalog.backups.map(storedBackupWire),
      unusable: [...catalog.invalid.map((i) => ({ id: i.id, reason: i.reason })), ...catalog.incomplete.map((id) => ({ id, reason: 'incomplete: it has no manifest (an upload that did not finish, or one still running)' }))],
      current: state.backup.current === null ? null : backupRunWire(state.backup.current),
      last: state.backup.last === null ? null : backupRunWire(state.backup.last),
      schedule: values.backup_schedule,
      next_scheduled_at: formatTime(next),
      taker: backupTaker(state) ?? '',
      keep_count: values.backup_keep_count,
      keep_days: values.backup_keep_days,
      store: store.description,
    };
  }
}

/** The run `id` as the state has it: current or last; null when neither. */
function runOf(state: ClusterState, id: string): BackupRun | null {
  if (state.backup.current?.id === id) return state.backup.current;
  if (state.backup.last?.id === id) return state.backup.last;
  return null;
}

/** "backup run 3f2a… is running on n1 (requested by bob)" for messages. */
export function describeRun(run: BackupRun): string {
  return `backup run ${run.id} is ${run.status}${run.takenBy === null ? '' : ` on ${run.takenBy}`} (requested by ${run.by} at ${formatTime(run.requestedAtMs)})`;
}

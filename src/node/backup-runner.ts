import { randomBytes } from 'node:crypto';
import type { BackupManifest } from '../backup/backup-manifest.js';
import { decideBackupDuty, type BackupDuty } from '../backup/backup-duty.js';
import { takeBaseBackup, type TakeBaseBackupOptions } from '../backup/base-backup.js';
import { applyRetention, type RetentionOutcome } from '../backup/retention-run.js';
import type { ObjectStore } from '../backup/store.js';
import type { ClusterCommandInput } from '../cluster/commands.js';
import { BACKUP_HEARTBEAT_MS, type BackupRun, type ClusterState } from '../cluster/state.js';
import type { ClusterStore } from '../cluster/store.js';
import { formatBytes } from '../lib/bytes.js';
import type { Logger } from '../lib/logger.js';
import type { PgBinaries, PgOsUser } from '../postgres/index.js';
import { REPLICATION_ROLE } from '../postgres/initdb.js';

/*
 * The agent side of the cluster's base backups: every few seconds (and on
 * every applied command) ask backup-duty.ts what this member must do, and do
 * it — ask for a scheduled run, take a run up, or end one as failed. A
 * backup runs beside the HA loop, never inside it: the primary keeps
 * renewing its lease while pg_basebackup streams for an hour. While it
 * runs, a heartbeat goes through Raft every BACKUP_HEARTBEAT_MS; after it
 * committed, retention runs (expired backups deleted, WAL behind the oldest
 * kept backup pruned). One line per change: backup.run_* for operators.
 */

const TICK_MS = 2_000;

export interface BackupRunnerOptions {
  readonly self: string;
  readonly cluster: string;
  readonly store: ClusterStore;
  /** The backup store; null when backup.store.kind is none (runs asked of this member fail, saying so). */
  readonly objectStore: ObjectStore | null;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly log: Logger;
  readonly wallNow: () => number;
  /** Injected by tests; takeBaseBackup by default. */
  readonly take?: (options: TakeBaseBackupOptions) => Promise<BackupManifest>;
  /** Told about every run this member ended (metrics). */
  readonly onEnded?: (run: { status: 'done' | 'failed'; durationMs: number; manifest: BackupManifest | null }) => void;
  readonly tickMs?: number;
}

export class BackupRunner {
  private readonly handled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private ticking = false;
  private again = false;
  private stopped = false;
  private running: { promise: Promise<void>; abort: AbortController } | undefined;
  private lastDutyLog = '';

  constructor(private readonly o: BackupRunnerOptions) {}

  start(): void {
    this.unsubscribe = this.o.store.on('applied', (event) => {
      if (event.command?.type === 'requestBackup' || event.command?.type === 'updateBackup') this.kick();
    });
    this.timer = setInterval(() => this.kick(), this.o.tickMs ?? TICK_MS);
    this.kick();
  }

  /** Stop asking; abort a backup in flight (nothing is committed to the store) and wait for it to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.running?.abort.abort(new Error('the agent is stopping'));
    await this.running?.promise;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.tick();
        } while (this.again && !this.stopped);
      } catch (error) {
        this.o.log.warn({ err: (error as Error).message }, 'backup.runner_step_failed');
      } finally {
        this.ticking = false;
      }
    })();
  }

  private async tick(): Promise<void> {
    const state = this.o.store.local();
    const duty = decideBackupDuty({ state, self: this.o.self, wallNowMs: this.o.wallNow(), handled: this.handled, storeConfigured: this.o.objectStore !== null });
    this.logDuty(duty);
    switch (duty.kind) {
      case 'none':
        return;
      case 'request': {
        const schedule = state.config.values.backup_schedule;
        const command: ClusterCommandInput = { type: 'requestBackup', atMs: this.o.wallNow(), id: newRunId(), trigger: 'schedule', by: `schedule '${schedule}'`, label: 'scheduled', member: null, fireAtMs: duty.fireAtMs };
        const result = await this.o.store.propose(command);
        if (result.ok) this.o.log.info({ runId: command.id, scheduledFor: new Date(duty.fireAtMs).toISOString(), schedule }, 'backup.run_scheduled');
        return;
      }
      case 'fail': {
        const result = await this.o.store.propose({ type: 'updateBackup', atMs: this.o.wallNow(), id: duty.run.id, member: this.o.self, status: 'failed', detail: duty.detail });
        if (result.ok) this.o.log.error({ runId: duty.run.id, reason: duty.reason, detail: duty.detail }, 'backup.run_failed');
        return;
      }
      case 'take':
        await this.takeUp(state, duty.run);
        return;
    }
  }

  /** Record the run as running here, then take the backup beside the loop. */
  private async takeUp(state: ClusterState, run: BackupRun): Promise<void> {
    if (this.running !== undefined) return;
    const started = await this.o.store.propose({ type: 'updateBackup', atMs: this.o.wallNow(), id: run.id, member: this.o.self, status: 'running', detail: `taking a base backup on ${this.o.self}` });
    if (!started.ok) {
      this.o.log.warn({ runId: run.id, code: started.code, detail: started.reason }, 'backup.run_not_started');
      return;
    }
    this.handled.add(run.id);
    const abort = new AbortController();
    const promise = this.runBackup(state, run, abort.signal).finally(() => {
      this.running = undefined;
      this.kick();
    });
    this.running = { promise, abort };
  }

  private async runBackup(state: ClusterState, run: BackupRun, signal: AbortSignal): Promise<void> {
    const log = this.o.log.child({ runId: run.id });
    const startedMs = performance.now();
    log.warn({ trigger: run.trigger, requestedBy: run.by, label: run.label }, 'backup.run_started');
    const heartbeat = setInterval(() => {
      const seconds = Math.round((performance.now() - startedMs) / 1000);
      void this.send({ type: 'updateBackup', atMs: this.o.wallNow(), id: run.id, member: this.o.self, status: 'running', detail: `taking a base backup on ${this.o.self} (${seconds} s so far)` }, log);
    }, BACKUP_HEARTBEAT_MS);
    let outcome: { status: 'done' | 'failed'; detail: string; manifest: BackupManifest | null };
    try {
      const manifest = await this.takeBackup(state, run, signal);
      const retention = await this.retention(state, log);
      outcome = { status: 'done', detail: `${describeBackup(manifest)}${retention}`, manifest };
    } catch (error) {
      outcome = { status: 'failed', detail: (error as Error).message.slice(0, 900), manifest: null };
    } finally {
      clearInterval(heartbeat);
    }
    const durationMs = Math.round(performance.now() - startedMs);
    if (outcome.status === 'done') log.warn({ backupId: outcome.manifest!.id, detail: outcome.detail, durationMs }, 'backup.run_done');
    else log.error({ detail: outcome.detail, durationMs }, 'backup.run_failed');
    this.o.onEnded?.({ status: outcome.status, durationMs, manifest: outcome.manifest });
    // Reported until it commits (or is refused for good): the run must not stay "running" on a live agent.
    const report: ClusterCommandInput = { type: 'updateBackup', atMs: this.o.wallNow(), id: run.id, member: this.o.self, status: outcome.status, backupId: outcome.manifest?.id ?? null, detail: outcome.detail };
    while (!(await this.send(report, log)) && !this.stopped) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }

  private async takeBackup(state: ClusterState, run: BackupRun, signal: AbortSignal): Promise<BackupManifest> {
    const self = state.members[this.o.self];
    const credentials = state.initialize?.credentials ?? null;
    if (self === undefined || credentials === null) throw new Error(`${this.o.self} is not a registered member of an initialized cluster`);
    const take = this.o.take ?? takeBaseBackup;
    return take({
      binaries: this.o.binaries,
      osUser: this.o.osUser,
      store: this.o.objectStore!,
      cluster: this.o.cluster,
      // The member's own server, as a replica would connect to it (pg_hba admits members' addresses).
      connection: { host: self.registration.postgresHost, port: self.registration.postgresPort, user: REPLICATION_ROLE, password: credentials.replicationPassword },
      takenOn: this.o.self,
      label: run.label,
      log: this.o.log,
      signal,
    });
  }

  /** Retention after a committed backup; its failure does not fail the backup, it is said in the run's detail. */
  private async retention(state: ClusterState, log: Logger): Promise<string> {
    const values = state.config.values;
    let outcome: RetentionOutcome;
    try {
      outcome = await applyRetention({ store: this.o.objectStore!, cluster: this.o.cluster, keepCount: values.backup_keep_count, keepDays: values.backup_keep_days, now: new Date(this.o.wallNow()), log });
    } catch (error) {
      log.error({ err: (error as Error).message }, 'backup.retention_failed');
      return `; retention failed: ${(error as Error).message}`;
    }
    const deleted = outcome.deletedBackups.length === 0 ? 'no backup expired' : `deleted ${outcome.deletedBackups.length} expired (${outcome.deletedBackups.join(', ')})`;
    return `; retention: ${outcome.keptBackups} kept, ${deleted}, ${outcome.prunedWalFiles} WAL files pruned`;
  }

  /** True once committed or refused for good (the run ended or was replaced meanwhile). */
  private async send(command: ClusterCommandInput, log: Logger): Promise<boolean> {
    try {
      const result = await this.o.store.propose(command);
      if (!result.ok) log.warn({ code: result.code, detail: result.reason }, 'backup.report_refused');
      return true;
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'backup.report_failed');
      return false;
    }
  }

  private logDuty(duty: BackupDuty): void {
    const key = duty.kind === 'none' ? `none:${duty.reason}` : duty.kind;
    if (key === this.lastDutyLog) return;
    this.lastDutyLog = key;
    this.o.log.debug({ duty: duty.kind, ...('reason' in duty ? { reason: duty.reason } : {}) }, 'backup.duty');
  }
}

function newRunId(): string {
  return randomBytes(6).toString('hex');
}

/** "backup 20261126T…-3fa9c2: 1.2 GiB (stored 310 MiB) in 35 s, 0/3000028 to 0/3000100 on timeline 1". */
export function describeBackup(m: BackupManifest): string {
  return `backup ${m.id}: ${formatBytes(m.dataBytes)} (stored ${formatBytes(m.storedBytes)}) in ${Math.round(m.durationMs / 100) / 10} s, ${m.startLsn} to ${m.stopLsn} on timeline ${m.timeline}`;
}

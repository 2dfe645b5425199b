import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MEMBER_ROLES, SWITCH_KINDS, type ClusterState } from '../cluster/state.js';
import type { HaStatus } from '../ha/loop.js';
import type { RaftRole } from '../raft/core/types.js';
import type { BackupManifest } from '../backup/backup-manifest.js';
import type { WalArchiverStats } from '../backup/wal-archiver.js';
import type { WalRestorerStats } from '../backup/wal-restorer.js';

/**
 * `/metrics`: this agent's view in Prometheus text format (prom-client).
 * Every value but the HA loop's durations is read from its source when
 * scraped (collect callbacks), so it is never stale and nothing has to push
 * it. A value this node does not know (the lag of a primary, the lease of a
 * replica, a Raft leader during an election) has no sample rather than a
 * made-up one. Each agent has its own Registry, never prom-client's global
 * one, so several agents in one process (tests) do not clash.
 */

/** Raft as this node sees it (RaftDriver.status()). */
export interface RaftView {
  /** '' when no leader is known. */
  readonly leaderId: string;
  readonly role: RaftRole;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
}

export interface MetricsSources {
  readonly self: string;
  readonly status: () => HaStatus;
  readonly state: () => ClusterState;
  readonly raft: () => RaftView;
  /** This node is the writable primary (holds the leader key with lease left): what /primary answers 200 for. */
  readonly isWritablePrimary: () => boolean;
  /** WAL archiving and the backup store; absent when no store is configured (then no such metric). */
  readonly backup?: BackupMetricsSource;
}

export interface BackupMetricsSource {
  archiverStats(): WalArchiverStats;
  restorerStats(): WalRestorerStats;
  readyFiles(): Promise<number>;
  /** undefined: not checked yet; null: the store works; else what is wrong. */
  storeProblem(): string | null | undefined;
}

/**
 * The HA loop runs every loop_wait_ms (1 s by default) and takes a few ms
 * when nothing happens; a promotion, a pg_rewind or a clone takes seconds
 * to minutes. Seconds, as Prometheus has it.
 */
export const HA_LOOP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly haLoop: Histogram;
  private readonly baseBackups: Counter;
  private readonly lastBackupAt: Gauge;
  private readonly lastBackupDuration: Gauge;
  private readonly lastBackupBytes: Gauge;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    nodeGauges(registers, sources);
    raftGauges(registers, sources.raft);
    clusterMetrics(registers, sources.state);
    if (sources.backup) backupMetrics(registers, sources.backup);
    this.haLoop = new Histogram({ name: 'pgherd_ha_loop_duration_seconds', help: "How long each run of this member's HA loop took", buckets: HA_LOOP_BUCKETS_S, registers });
    this.baseBackups = new Counter({ name: 'pgherd_base_backups_total', help: 'Base backups this member took, by outcome (done, failed)', labelNames: ['outcome'], registers });
    this.lastBackupAt = new Gauge({ name: 'pgherd_base_backup_last_success_timestamp_seconds', help: 'When the last base backup this member took successfully finished; no sample before the first', registers });
    this.lastBackupDuration = new Gauge({ name: 'pgherd_base_backup_last_duration_seconds', help: 'How long the last successful base backup this member took lasted (retention included)', registers });
    this.lastBackupBytes = new Gauge({ name: 'pgherd_base_backup_last_size_bytes', help: 'The data directory size of the last successful base backup this member took', registers });
  }

  /** A base backup this member took ended (BackupRunnerOptions.onEnded). */
  observeBackup(run: { status: 'done' | 'failed'; durationMs: number; manifest: BackupManifest | null }): void {
    this.baseBackups.inc({ outcome: run.status });
    if (run.status !== 'done' || run.manifest === null) return;
    this.lastBackupAt.set(Date.parse(run.manifest.finishedAt) / 1000);
    this.lastBackupDuration.set(run.durationMs / 1000);
    this.lastBackupBytes.set(run.manifest.dataBytes);
  }

  /** One HA loop run took `durationMs` (HaLoopOptions.onLoopRun). */
  observeHaLoop(durationMs: number): void {
    this.haLoop.observe(Math.max(0, durationMs) / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text of every metric, collected now. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** This member: its role, whether it is the writable primary, timeline, lag and lease. */
function nodeGauges(registers: Registry[], sources: MetricsSources): void {
  const { status, state } = sources;
  new Gauge({
    name: 'pgherd_role',
    help: "This member's PostgreSQL role as its HA loop last saw it: 1 for the current role, 0 for the others",
    labelNames: ['role'],
    registers,
    collect() {
      const role = status().role;
      for (const each of MEMBER_ROLES) this.set({ role: each }, each === role ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pgherd_writable_primary',
    help: 'This member is the primary and holds a valid lease (1) or not (0): what /primary answers 200 for',
    registers,
    collect() {
      this.set(sources.isWritablePrimary() ? 1 : 0);
    },
  });
  optionalGauge(registers, 'pgherd_timeline', "This member's PostgreSQL timeline; no sample while unknown", () => status().timeline);
  optionalGauge(registers, 'pgherd_replication_lag_bytes', 'WAL bytes this replica is behind the primary, as it last reported; no sample for a primary or while unknown', () => {
    return state().members[sources.self]?.status?.lagBytes ?? null;
  });
  optionalGauge(registers, 'pgherd_lease_remaining_seconds', "The primary's lease left on this member's clock; no sample unless this member is the primary", () => {
    const ms = status().leaseRemainingMs;
    return ms === null ? null : Math.max(0, ms) / 1000;
  });
}

/** The cluster state as this member has applied it: history, pause, configuration version. */
function clusterMetrics(registers: Registry[], state: () => ClusterState): void {
  new Counter({
    name: 'pgherd_failovers_total',
    help: "Timeline switches recorded in the cluster history, by kind: failover (automatic), switchover (planned), manual (an operator's failover)",
    labelNames: ['kind'],
    registers,
    collect() {
      // The history is append-only: the count never goes down, as a counter's must not.
      this.reset();
      const history = state().history;
      for (const kind of SWITCH_KINDS) this.inc({ kind }, history.filter((entry) => entry.kind === kind).length);
    },
  });
  new Gauge({
    name: 'pgherd_paused',
    help: 'The cluster is in maintenance mode (1): no automatic failover',
    registers,
    collect() {
      this.set(state().pause.paused ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pgherd_config_version',
    help: "The dynamic configuration's version this member has applied",
    registers,
    collect() {
      this.set(state().config.version);
    },
  });
}

/** Raft as this member sees it. */
function raftGauges(registers: Registry[], raft: () => RaftView): void {
  new Gauge({
    name: 'pgherd_raft_term',
    help: 'The Raft term this member is in',
    registers,
    collect() {
      this.set(raft().term);
    },
  });
  new Gauge({
    name: 'pgherd_raft_commit_index',
    help: 'The highest Raft log index this member knows to be committed',
    registers,
    collect() {
      this.set(raft().commit);
    },
  });
  new Gauge({
    name: 'pgherd_raft_applied_index',
    help: 'The highest Raft log index this member has applied to its cluster state',
    registers,
    collect() {
      this.set(raft().applied);
    },
  });
  new Gauge({
    name: 'pgherd_raft_is_leader',
    help: 'This member is the Raft leader (1) or not (0)',
    registers,
    collect() {
      this.set(raft().role === 'leader' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pgherd_raft_leader',
    help: 'The Raft leader as this member knows it (1, labelled with its name); no sample while none is known',
    labelNames: ['member'],
    registers,
    collect() {
      this.reset();
      const leaderId = raft().leaderId;
      if (leaderId !== '') this.set({ member: leaderId }, 1);
    },
  });
}

/** A gauge without labels whose value may be unknown (null): then it has no sample. */
/** WAL archiving (the primary's archive_command through the agent), restores and the store's health. */
function backupMetrics(registers: Registry[], backup: BackupMetricsSource): void {
  new Gauge({
    name: 'pgherd_wal_archive_ready_files',
    help: 'WAL files PostgreSQL marked ready and the store does not hold yet: the archive lag in files',
    registers,
    async collect() {
      this.set(await backup.readyFiles());
    },
  });
  const counters: [string, string, (a: WalArchiverStats, r: WalRestorerStats) => number][] = [
    ['pgherd_wal_archived_files_total', 'WAL files this agent stored (archive_command and read-ahead)', (a) => a.archivedFiles],
    ['pgherd_wal_archived_bytes_total', 'Uncompressed bytes of the WAL files this agent stored', (a) => a.archivedBytes],
    ['pgherd_wal_archive_stored_bytes_total', 'Bytes written to the store for WAL (after compression)', (a) => a.storedBytes],
    ['pgherd_wal_archive_failures_total', 'archive_command calls that failed (conflicts included)', (a) => a.failures],
    ['pgherd_wal_archive_conflicts_total', 'WAL files whose name the store already holds with other content (never overwritten)', (a) => a.conflicts],
    ['pgherd_wal_archive_markers_written_total', 'WAL files read ahead into the store and marked for archive_command\'s shell fast path', (a) => a.markersWritten],
    ['pgherd_wal_archive_markers_consumed_total', 'WAL files archive_command confirmed from the agent\'s marker without reaching the agent (its fast path)', (a) => a.markersConsumed],
    ['pgherd_wal_restored_files_total', 'WAL files restore_command got from the store', (_, r) => r.restoredFiles],
    ['pgherd_wal_restore_failures_total', 'restore_command calls that failed (a file the store does not hold is not a failure)', (_, r) => r.failures],
  ];
  for (const [name, help, value] of counters) {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value(backup.archiverStats(), backup.restorerStats()));
      },
    });
  }
  optionalGauge(registers, 'pgherd_wal_last_archived_timestamp_seconds', 'When this agent last stored a WAL file; no sample before the first', () => {
    const at = backup.archiverStats().lastArchivedAtMs;
    return at === null ? null : at / 1000;
  });
  optionalGauge(registers, 'pgherd_backup_store_up', '1 when the last check of the backup store passed, 0 when it failed; no sample before the first check', () => {
    const problem = backup.storeProblem();
    return problem === undefined ? null : problem === null ? 1 : 0;
  });
}

function optionalGauge(registers: Registry[], name: string, help: string, value: () => number | null): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      const v = value();
      if (v === null) this.remove({});
      else this.set(v);
    },
  });
}

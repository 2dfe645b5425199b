import type { MemberTags } from '../cluster/state.js';
import type { BackupRunView } from './backup-wire.js';

/**
 * What AdminClient returns: the admin.proto answers in camelCase, with null
 * where the wire says "none" ('' times and LSNs, timeline 0, absent
 * optionals). `pgherdctl --json` prints exactly these objects, so their
 * field names are API: add fields, never rename one.
 */

export interface ClusterStatus {
  readonly clusterName: string;
  /** The member that answered. */
  readonly answeredBy: string;
  /** The answer includes every change committed before the call. */
  readonly linearizable: boolean;
  /** Why it is not linearizable (null when it is, or when a local answer was asked for). */
  readonly staleReason: string | null;
  readonly leader: LeaderView | null;
  /** The highest leader epoch ever granted. */
  readonly epoch: number;
  readonly pause: PauseView;
  readonly switchover: PendingSwitchoverView | null;
  readonly syncMembers: readonly string[];
  readonly configVersion: number;
  readonly historyLength: number;
  readonly systemIdentifier: string | null;
  readonly raft: RaftView;
  readonly members: readonly MemberView[];
  /** The answering member's HA loop. */
  readonly answeringHa: HaView;
  /** The base backup pending or running, and the last one that ended. */
  readonly backupCurrent: BackupRunView | null;
  readonly backupLast: BackupRunView | null;
}

export interface LeaderView {
  readonly member: string;
  readonly epoch: number;
  readonly timeline: number;
  readonly since: string;
  readonly lastRenewalAt: string;
}

export interface PauseView {
  readonly paused: boolean;
  readonly by: string | null;
  readonly changedAt: string | null;
}

export interface PendingSwitchoverView {
  readonly from: string;
  /** null: the best candidate at the time. */
  readonly to: string | null;
  /** null: as soon as possible. */
  readonly scheduledAt: string | null;
  readonly requestedAt: string;
}

export interface RaftView {
  readonly leaderId: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** The answering member's Raft role. */
  readonly role: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

export interface MemberView {
  readonly name: string;
  readonly registration: {
    readonly raftAddress: string;
    readonly postgresHost: string;
    readonly postgresPort: number;
    readonly httpAddress: string;
    readonly tags: MemberTags;
    readonly registeredAt: string;
  };
  /** Its last reported status; null before the first report. */
  readonly status: MemberReportView | null;
  /** It holds the leader key. */
  readonly primary: boolean;
  readonly sync: boolean;
  /** 'leader', 'voter', 'learner' or 'none'. */
  readonly raftRole: string;
  /** Its latest restart, reload or reinit; null: none. */
  readonly action: MemberActionView | null;
  /** How the primary decided it gets its data; null: no decision recorded. */
  readonly bootstrap: BootstrapPlanView | null;
}

export interface BootstrapPlanView {
  /** 's3' (a base backup from the store) or 'basebackup' (pg_basebackup from a member). */
  readonly method: string;
  /** The backup id or the member copied from. */
  readonly source: string;
  readonly reason: string;
  readonly walBytesSinceBackup: number | null;
  readonly backupBytes: number | null;
  readonly decidedAt: string | null;
}

export interface ArchiveView {
  /** WAL files ready and not yet archived. */
  readonly readyFiles: number;
  readonly lastArchived: string | null;
  readonly lastArchivedAt: string | null;
  /** Why archiving fails now; null when it does not. */
  readonly failure: string | null;
}

export interface MemberReportView {
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  readonly receiveLsn: string | null;
  readonly replayLsn: string | null;
  readonly flushLsn: string | null;
  readonly lagBytes: number | null;
  readonly reportedAt: string;
  /** null: no backup store is configured on this member; a replica reports its store's health. */
  readonly archive: ArchiveView | null;
}

export interface HaView {
  readonly role: string;
  readonly state: string;
  readonly lastAction: string;
  readonly lastReason: string;
  readonly leaseRemainingMs: number | null;
  readonly refused: string | null;
}

export interface SwitchoverResult {
  readonly outcome: 'scheduled' | 'completed';
  /** The primary when the request was recorded. */
  readonly from: string;
  /** completed: the new primary; scheduled: the requested candidate (null = the best at that time). */
  readonly to: string | null;
  /** completed: the new primary's epoch and timeline. */
  readonly epoch: number | null;
  readonly timeline: number | null;
  /** scheduled: when. */
  readonly scheduledAt: string | null;
  /** completed: from recording the request to seeing the new primary. */
  readonly elapsedMs: number | null;
  readonly message: string;
}

export interface CancelSwitchoverResult {
  readonly cancelled: PendingSwitchoverView;
}

/** The dynamic configuration (src/config/dynamic.ts) and its version. */
export interface ConfigView {
  /** 0 until the first patch. */
  readonly version: number;
  readonly values: Readonly<Record<string, unknown>>;
}

/** One value that changed: a top-level key or postgresql_parameters.<name>; null = absent. */
export interface ConfigChangeView {
  readonly key: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface PatchConfigResult {
  /** The version after the change (unchanged when nothing changed, or a dry run). */
  readonly version: number;
  /** The version the patch was applied (or checked) on. */
  readonly previousVersion: number;
  readonly values: Readonly<Record<string, unknown>>;
  /** Empty: nothing changed. */
  readonly changes: readonly ConfigChangeView[];
  readonly dryRun: boolean;
  /** Patroni names taken for ours, as 'ttl -> ttl_ms'. */
  readonly aliases: readonly string[];
}

/** A timeline switch. */
export interface HistoryEntryView {
  readonly timeline: number;
  /** Where the old timeline ended. */
  readonly switchLsn: string;
  readonly at: string;
  /** 'failover' (automatic), 'switchover' (planned) or 'manual' (an operator's failover). */
  readonly kind: string;
  /** The previous primary; null when unknown. */
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
}

export interface HistoryResult {
  /** Oldest first. */
  readonly entries: readonly HistoryEntryView[];
}

export interface DsnResult {
  readonly role: 'primary' | 'replica' | 'any';
  /** A libpq connection string (keyword=value form), without a password. */
  readonly dsn: string;
  /** The members' PostgreSQL addresses in the string's order. */
  readonly hosts: readonly string[];
  readonly targetSessionAttrs: string;
}

/**
 * One change of the cluster state from Watch (the types and their details:
 * proto/admin.proto, WatchEvent; src/admin/watch-events.ts).
 * `pgherdctl watch --json` prints these, one per line.
 */
export interface WatchEventView {
  /** 1, 2, 3, ... in this stream: no event is skipped. */
  readonly seq: number;
  /** When it happened (the change's own time; a snapshot: the answering member's clock). */
  readonly at: string;
  readonly type: string;
  /** The member it is about; null: the cluster. */
  readonly member: string | null;
  /** One line for people. */
  readonly text: string;
  readonly details: Readonly<Record<string, unknown>>;
  /** The Raft log index of the change (a snapshot: the applied index it reflects). */
  readonly index: number;
}

/** The outcome of pgherdctl members add / remove. */
export interface MemberChangeResult {
  readonly name: string;
  readonly raftRole: 'voter' | 'learner' | 'none';
  /** false: the membership already was as requested. */
  readonly changed: boolean;
  /** The cluster state still holds its registration. */
  readonly registered: boolean;
  readonly elapsedMs: number;
  readonly message: string;
}

/** A member's restart, reload or reinit (proto/admin.proto, MemberAction). */
export interface MemberActionView {
  readonly member: string;
  readonly id: string;
  /** 'restart', 'reload' or 'reinit'. */
  readonly kind: string;
  /** 'pending', 'running', 'done', 'skipped', 'failed' or 'cancelled'. */
  readonly status: string;
  readonly pendingOnly: boolean;
  /** null: as soon as possible. */
  readonly scheduledAt: string | null;
  readonly requestedAt: string;
  readonly by: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** What happened; null until the member says. */
  readonly detail: string | null;
}

export interface MemberActionsResult {
  /** One per member, by name. */
  readonly actions: readonly MemberActionView[];
  readonly message: string;
}

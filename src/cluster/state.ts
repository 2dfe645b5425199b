import { DYNAMIC_DEFAULTS, type DynamicConfig } from '../config/dynamic.js';
import type { Lsn } from './lsn.js';

/**
 * The replicated cluster state (DESIGN §4): plain, immutable data. Only
 * apply.ts produces new states; every time in here came from a command
 * (`atMs`, wall-clock milliseconds set by the proposer), never from a clock
 * read during apply. Absent values are `null` (not `undefined`) so that the
 * snapshot encoding round-trips exactly.
 */
export interface ClusterState {
  readonly initialize: InitializeState | null;
  readonly config: VersionedConfig;
  readonly members: Readonly<Record<string, Member>>;
  /** The highest leader epoch ever granted; 0 before the first primary. Kept when the leader key is released. */
  readonly epoch: number;
  /** The timeline and member of the most recent primary (0 and null before the first). */
  readonly lastPrimary: { readonly member: string | null; readonly timeline: number };
  readonly leader: Leader | null;
  readonly sync: SyncState;
  readonly slots: Readonly<Record<string, Slot>>;
  readonly bootstrap: Readonly<Record<string, BootstrapPlan>>;
  /** Every timeline switch, oldest first; timelines strictly increase. */
  readonly history: readonly HistoryEntry[];
  readonly switchover: Switchover | null;
  readonly pause: PauseState;
  /** What the Raft configuration should become, by member name: the Raft leader's agent carries it out (src/node/membership.ts). */
  readonly membership: Readonly<Record<string, MembershipIntent>>;
  /** Each member's latest operator action (restart, reload, reinit) and how it ended; absent: none yet. */
  readonly actions: Readonly<Record<string, MemberAction>>;
  /** Base backups into the object store: the one asked for or running, the last one that ended, the schedule's progress. */
  readonly backup: BackupState;
}

export interface InitializeState {
  /** The member that claimed the right to run initdb (first claim wins). */
  readonly member: string;
  readonly claimedAtMs: number;
  /** PostgreSQL's system identifier (a 64-bit unsigned integer as decimal text) once initdb succeeded. */
  readonly systemIdentifier: string | null;
  readonly doneAtMs: number | null;
  /** The generated role passwords (set with the system identifier); see credentialsSchema. */
  readonly credentials: Credentials | null;
  /** Set with the system identifier when the database was restored from a base backup (bootstrap.method restore) instead of initdb. */
  readonly restoredFrom: RestoredFrom | null;
}

/**
 * Where a restored cluster came from. Timelines before `timeline` (and the
 * backups taken on them) are the source cluster's, not this one's.
 */
export interface RestoredFrom {
  /** The base backup in the store. */
  readonly backupId: string;
  /** The timeline the restored database was promoted on: this cluster's first. */
  readonly timeline: number;
  /** The recovery_target_time it was restored to (wall-clock ms); null: the end of the archived WAL. */
  readonly targetTimeMs: number | null;
}

export interface Credentials {
  readonly superuserPassword: string;
  readonly replicationPassword: string;
  readonly rewindPassword: string;
}

export interface VersionedConfig {
  /** 0 until the first patch (the values are then the schema defaults); +1 on every accepted patch. */
  readonly version: number;
  readonly values: DynamicConfig;
}

/**
 * Tags as in Patroni, with Patroni's names. `failover_priority`: higher is
 * preferred among candidates at equal LSN; 0 means never promote (as
 * `nofailover`). Default 1.
 */
export interface MemberTags {
  readonly nofailover: boolean;
  readonly noloadbalance: boolean;
  readonly clonefrom: boolean;
  readonly nosync: boolean;
  readonly failover_priority: number;
}

export interface MemberRegistration {
  /** host:port of the Raft peer service. */
  readonly raftAddress: string;
  readonly postgresHost: string;
  readonly postgresPort: number;
  /** host:port of the HTTP health/metrics endpoint. */
  readonly httpAddress: string;
  readonly tags: MemberTags;
  /** When the member first registered (kept across re-registrations). */
  readonly registeredAtMs: number;
}

export const MEMBER_ROLES = ['primary', 'replica', 'starting', 'stopped', 'crashed', 'unknown'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

/** What a member's WAL archiving reports (src/backup/wal-archiver.ts). */
export interface ArchiveReport {
  /** WAL files PostgreSQL has marked ready and the store does not hold yet: the archive lag, in files. */
  readonly readyFiles: number;
  readonly lastArchived: string | null;
  readonly lastArchivedAtMs: number | null;
  /** Why the last attempt failed, while archiving fails; null once a file was archived again. */
  readonly failure: string | null;
}

export interface MemberStatus {
  readonly role: MemberRole;
  /** Free text for operators (e.g. 'streaming', 'running pg_rewind'); never branched on. */
  readonly state: string;
  readonly timeline: number | null;
  readonly receiveLsn: Lsn | null;
  readonly replayLsn: Lsn | null;
  readonly flushLsn: Lsn | null;
  readonly lagBytes: number | null;
  /** null: no backup store is configured on this member. Replicas report their store's health (readyFiles 0). */
  readonly archive: ArchiveReport | null;
  readonly reportedAtMs: number;
}

export interface Member {
  readonly registration: MemberRegistration;
  /** The latest reported status; null until the first report. */
  readonly status: MemberStatus | null;
}

export interface Leader {
  readonly member: string;
  /** Strictly increasing across promotions, starting at 1. */
  readonly epoch: number;
  readonly timeline: number;
  readonly sinceMs: number;
  /** The last committed renewal: its proposer's time and a per-epoch sequence number (0 = the promotion itself). */
  readonly lastRenewal: { readonly atMs: number; readonly seq: number };
}

export interface SyncState {
  /** The synchronous standbys recorded for failover decisions (sorted, unique). */
  readonly members: readonly string[];
  /** A compare-and-set version: +1 on every accepted setSync. */
  readonly epoch: number;
}

export interface Slot {
  readonly slotName: string;
  readonly createdAtLsn: Lsn;
  readonly createdByEpoch: number;
}

export const BOOTSTRAP_METHODS = ['s3', 'basebackup'] as const;
export type BootstrapMethod = (typeof BOOTSTRAP_METHODS)[number];

export interface BootstrapPlan {
  readonly method: BootstrapMethod;
  /** The base backup id (s3) or the member to copy from (basebackup). */
  readonly source: string;
  readonly reason: string;
  /** WAL written since the backup started, and the backup's size: the numbers behind the choice (required for s3). */
  readonly walBytesSinceBackup: number | null;
  readonly backupBytes: number | null;
  readonly decidedAtMs: number;
}

export const SWITCH_KINDS = ['failover', 'switchover', 'manual'] as const;
export type SwitchKind = (typeof SWITCH_KINDS)[number];

export interface HistoryEntry {
  /** The new timeline. */
  readonly timeline: number;
  /** Where the old timeline ended (as reported by the promoter). */
  readonly switchLsn: Lsn;
  readonly atMs: number;
  readonly reason: string;
  readonly oldPrimary: string | null;
  readonly newPrimary: string;
  readonly kind: SwitchKind;
}

export interface Switchover {
  readonly from: string;
  /** The chosen replica; null lets the HA layer pick the best candidate. */
  readonly to: string | null;
  /** Not before this wall-clock time; null = as soon as possible. */
  readonly scheduledAtMs: number | null;
  readonly requestedAtMs: number;
}

export interface PauseState {
  readonly paused: boolean;
  /** Who changed it last (a member or an operator) and when; null before the first change. */
  readonly by: string | null;
  readonly atMs: number | null;
}

export const MEMBERSHIP_TARGETS = ['member', 'removed'] as const;
export type MembershipTarget = (typeof MEMBERSHIP_TARGETS)[number];
/** Who asked: an operator (pgherdctl members add/remove) or the node itself (a new node asking to join). */
export const MEMBERSHIP_SOURCES = ['operator', 'join'] as const;
export type MembershipSource = (typeof MEMBERSHIP_SOURCES)[number];

/**
 * A requested Raft membership. `member`: add it as a learner at
 * `raftAddress`, promote it to voter once it has caught up. `removed`: take
 * it out of the Raft configuration, then forget its registration; the
 * record stays as a tombstone, so the removed node cannot join again by
 * itself under that name (an operator's add can).
 */
export interface MembershipIntent {
  readonly target: MembershipTarget;
  readonly raftAddress: string | null;
  readonly source: MembershipSource;
  readonly by: string;
  readonly atMs: number;
}

export const MEMBER_ACTION_KINDS = ['restart', 'reload', 'reinit'] as const;
export type MemberActionKind = (typeof MEMBER_ACTION_KINDS)[number];

/**
 * pending → running → done | failed | skipped; pending → cancelled. Only the
 * member itself moves its action on; an operator may cancel a pending one.
 */
export const MEMBER_ACTION_STATUSES = ['pending', 'running', 'done', 'failed', 'skipped', 'cancelled'] as const;
export type MemberActionStatus = (typeof MEMBER_ACTION_STATUSES)[number];

/** An action that has not ended yet: the member still owes it, and no other may be requested. */
export function isActionOpen(action: MemberAction | undefined): boolean {
  return action !== undefined && (action.status === 'pending' || action.status === 'running');
}

/** An operator's request that one member restart, reload or re-clone its PostgreSQL, run by that member's HA loop. */
export interface MemberAction {
  /** Chosen by the requester; names this request in the updates. */
  readonly id: string;
  readonly kind: MemberActionKind;
  /** restart: only when PostgreSQL has a setting waiting for a restart (else it ends 'skipped'). */
  readonly pendingOnly: boolean;
  /** restart: not before this wall-clock time; null = as soon as possible. */
  readonly scheduledAtMs: number | null;
  readonly requestedAtMs: number;
  /** Who asked (an operator, as the admin service recorded it). */
  readonly by: string;
  readonly status: MemberActionStatus;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
  /** What happened, for people ('' until the member says). */
  readonly detail: string;
}

export const BACKUP_TRIGGERS = ['schedule', 'operator'] as const;
export type BackupTrigger = (typeof BACKUP_TRIGGERS)[number];

/** pending → running → done | failed; pending → cancelled | failed. Running heartbeats keep it running. */
export const BACKUP_RUN_STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
export type BackupRunStatus = (typeof BACKUP_RUN_STATUSES)[number];

/**
 * A running backup whose member sent no heartbeat for this long may be
 * ended as failed by another member (its agent or host died). Members send
 * one every BACKUP_HEARTBEAT_MS while they take it.
 */
export const BACKUP_STALE_MS = 5 * 60_000;
export const BACKUP_HEARTBEAT_MS = 60_000;

/** One base backup asked for (by the schedule or an operator), taken by one member (src/node/backup-runner.ts). */
export interface BackupRun {
  /** Chosen by the requester; names this run in the updates. */
  readonly id: string;
  readonly trigger: BackupTrigger;
  /** Who asked: an operator as the admin service recorded it, or the schedule. */
  readonly by: string;
  /** Free text recorded in the backup's manifest. */
  readonly label: string;
  /** The member asked to take it; null: the member dynamic config backup_take_on names when it starts. */
  readonly member: string | null;
  readonly requestedAtMs: number;
  readonly status: BackupRunStatus;
  /** The member that took it up. */
  readonly takenBy: string | null;
  readonly startedAtMs: number | null;
  /** The taker's last heartbeat (or its start). */
  readonly heartbeatAtMs: number | null;
  readonly finishedAtMs: number | null;
  /** The backup's id in the store once it is committed there. */
  readonly backupId: string | null;
  /** What happened, for people ('' until the taker says). */
  readonly detail: string;
}

export interface BackupState {
  /** The run asked for or in progress (one at a time); null: none. */
  readonly current: BackupRun | null;
  /** The last run that ended, with its outcome. */
  readonly last: BackupRun | null;
  /** The latest schedule time (cron fire, wall ms) a scheduled run was asked for. */
  readonly lastScheduledFireMs: number | null;
}

/** Member names are Raft node ids: at most 56 characters so that `pgherd_<name>` fits PostgreSQL's 63-byte names. */
export { MEMBER_NAME_PATTERN } from '../config/member-name.js';

/**
 * A bound on registered members: every member costs a status report per
 * loop through the log and a replication slot on the primary; far beyond
 * any Raft group (3-7 voters) plus read replicas that pgherd is meant for.
 */
export const MEMBERS_MAX = 64;

export const DEFAULT_TAGS: MemberTags = Object.freeze({
  nofailover: false,
  noloadbalance: false,
  clonefrom: false,
  nosync: false,
  failover_priority: 1,
});

export function initialClusterState(): ClusterState {
  return {
    initialize: null,
    config: { version: 0, values: DYNAMIC_DEFAULTS },
    members: {},
    epoch: 0,
    lastPrimary: { member: null, timeline: 0 },
    leader: null,
    sync: { members: [], epoch: 0 },
    slots: {},
    bootstrap: {},
    history: [],
    switchover: null,
    pause: { paused: false, by: null, atMs: null },
    membership: {},
    actions: {},
    backup: { current: null, last: null, lastScheduledFireMs: null },
  };
}

/** The physical replication slot the primary keeps for `member`: `pgherd_` + the name lower-cased, other characters as `_`. */
export function slotNameFor(member: string): string {
  return `pgherd_${member.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}

/** Whether a member may ever be promoted by its tags. */
export function isPromotable(tags: MemberTags): boolean {
  return !tags.nofailover && tags.failover_priority > 0;
}

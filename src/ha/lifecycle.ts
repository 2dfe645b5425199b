import { compareLsn } from '../cluster/lsn.js';
import type { ClusterState, MemberRegistration } from '../cluster/state.js';
import { chooseCloneSource, isCloneSource } from './bootstrap-rule.js';

/**
 * What a node does with its data directory and its PostgreSQL process
 * before (and besides) the lease rules of decide.ts: register, initialize
 * the cluster, clone, start, re-point and rejoin. Pure: observation in,
 * one action with a reason code out (DESIGN.md §5 Rejoin, §6 step 1-3).
 *
 * Safety rules this encodes:
 *  - data of another cluster (a different system identifier) or a
 *    directory that is not PostgreSQL's is never overwritten: the node
 *    refuses to join and says why;
 *  - a node starts PostgreSQL as a primary only while it holds the lease
 *    and that lease is confirmed through Raft after this agent started;
 *  - a former primary, and a replica whose start says it replayed past the
 *    new timeline's fork, rejoins only through pg_rewind (or a re-clone),
 *    never by streaming on top of WAL the new primary never had — unless
 *    it was shut down cleanly before every later timeline forked off (a
 *    switchover): then it has nothing the new primary lacks and follows
 *    it as it is (PostgreSQL checks the fork point again when it streams);
 *  - a clone waits until the primary has created this member's slot in
 *    the current epoch and recorded a bootstrap plan (slot first);
 *  - an S3 plan restores the backup into the empty data directory; when
 *    that fails (the executor empties the directory again), the failure is
 *    recorded in the plan first (bootstrapFallback), then the member is
 *    cloned with pg_basebackup like any other;
 *  - with bootstrap.method restore the claimant restores the cluster from
 *    the store into its empty data directory instead of running initdb; a
 *    directory that is not empty is its own only while its restore marker
 *    says a restore was started there (then it is emptied and the restore
 *    resumed); a refusal (nothing this node may restore) is shown, not
 *    retried at once.
 */

/** The data directory, as classified by postgres/controldata.ts (system identifier as decimal text). */
export type DataDirSummary =
  | { readonly kind: 'missing' | 'empty' }
  | { readonly kind: 'foreign'; readonly entries: number }
  | {
      readonly kind: 'pgdata';
      readonly systemIdentifier: string;
      readonly wasPrimary: boolean;
      readonly timeline: number;
      /** A primary shut down cleanly: where its shutdown checkpoint (its last WAL record) starts; null otherwise. */
      readonly cleanShutdownLsn: string | null;
    };

export interface LocalPostgresState {
  readonly running: boolean;
  readonly role: 'primary' | 'replica' | null;
  /** Replica: whether the WAL receiver streams. */
  readonly streaming: boolean;
  /** Replica: the upstream member it was started to follow (null: none, undefined: unknown, e.g. adopted). */
  readonly upstream: string | null | undefined;
}

export interface LifecycleObservation {
  readonly nowMs: number;
  readonly self: string;
  readonly state: ClusterState;
  /** What this node would register now (addresses and tags from its configuration). */
  readonly registration: Omit<MemberRegistration, 'registeredAtMs'>;
  readonly dataDir: DataDirSummary;
  readonly postgres: LocalPostgresState;
  /** This node holds the leader key and a renewal sent after this agent started was confirmed, and is still valid. */
  readonly leaseConfirmed: boolean;
  /** Since when (monotonic) PostgreSQL has not been running while this node holds the leader key; null otherwise. */
  readonly primaryDownSinceMs: number | null;
  /** Since when (monotonic) the local replica has not been streaming from its upstream; null when streaming or not a replica. */
  readonly notStreamingSinceMs: number | null;
  /**
   * The last standby start failed because the data directory holds WAL past
   * the fork of the timeline it must follow (postgres/start-failure.ts
   * DIVERGED); cleared by the next successful start.
   */
  readonly standbyStartDiverged: boolean;
  /**
   * This agent's last attempt at its data failed and the plan does not say so yet: the S3 restore
   * of `backupId`, or the pg_basebackup from `source`; null otherwise (cleared when recorded or done).
   */
  readonly bootstrapFailure: BootstrapFailure | null;
  /** This node's bootstrap.method: how it creates the database if it wins the initialization claim. */
  readonly bootstrapMethod: 'initdb' | 'restore';
  /** This node's restore of the cluster from the store (read only while the cluster is not initialized). */
  readonly restore: RestoreProgress;
}

export interface RestoreProgress {
  /** A restore was started here (the marker in the agent's data_dir): the data directory's contents are that restore's. */
  readonly pending: boolean;
  /** The last attempt refused (nothing this node may restore), still shown; null: none, or time to look again. */
  readonly refusal: string | null;
  /** The last attempt failed (the data directory was emptied): not again before this (monotonic ms); null: no wait. */
  readonly retryAtMs: number | null;
}

/** Nothing started, nothing refused: the progress before the first attempt (and always with method initdb). */
export const NO_RESTORE: RestoreProgress = Object.freeze({ pending: false, refusal: null, retryAtMs: null });

export type BootstrapFailure =
  | { readonly kind: 's3'; readonly backupId: string; readonly error: string }
  | { readonly kind: 'basebackup'; readonly source: string; readonly error: string };

export const LIFECYCLE_REASONS = [
  'NOT_REGISTERED',
  'REGISTRATION_CHANGED',
  'DATA_DIR_FOREIGN',
  'SYSTEM_ID_MISMATCH',
  'DATA_WITHOUT_CLUSTER',
  'CLUSTER_UNINITIALIZED',
  'INITIALIZER',
  'RESUME_INITIALIZE',
  'RESTORE_CLUSTER',
  'RESUME_RESTORE',
  'RESTORE_RETRY',
  'RESTORE_REFUSED',
  'RESTORE_INTERRUPTED',
  'WAITING_FOR_INITIALIZER',
  'WAITING_FOR_SLOT_AND_PLAN',
  'BOOTSTRAP_PLAN',
  'BOOTSTRAP_S3_FAILED',
  'PRIMARY_NOT_RUNNING',
  'PRIMARY_START_TIMEOUT',
  'CONFIRM_LEASE_FIRST',
  'FORMER_PRIMARY',
  'FORMER_PRIMARY_NOT_DIVERGED',
  'REPLICA_DIVERGED',
  'REPLICA_NOT_RUNNING',
  'UPSTREAM_CHANGED',
  'NOT_STREAMING',
  'RUNNING',
  'PAUSED',
  'REMOVED',
] as const;
export type LifecycleReason = (typeof LIFECYCLE_REASONS)[number];

export type LifecycleAction =
  | { readonly kind: 'register'; readonly reason: 'NOT_REGISTERED' | 'REGISTRATION_CHANGED' }
  /** Do nothing with the data; say why at error level (an operator must act). */
  | { readonly kind: 'refuse'; readonly reason: 'DATA_DIR_FOREIGN' | 'SYSTEM_ID_MISMATCH' | 'DATA_WITHOUT_CLUSTER' | 'RESTORE_REFUSED' | 'RESTORE_INTERRUPTED'; readonly detail: string }
  | { readonly kind: 'claimInitialize'; readonly reason: 'CLUSTER_UNINITIALIZED' }
  /** initdb (fresh) or finish an interrupted bootstrap (existing data of our own claim), start, create roles, record the system identifier. */
  | { readonly kind: 'initialize'; readonly fresh: boolean; readonly reason: 'INITIALIZER' | 'RESUME_INITIALIZE' }
  /** bootstrap.method restore: restore the store's backup (fresh: into the empty data directory; else empty ours and start over, or finish a promoted one), record it. */
  | { readonly kind: 'restoreCluster'; readonly reason: 'RESTORE_CLUSTER' | 'RESUME_RESTORE' }
  | { readonly kind: 'clone'; readonly source: string; readonly reason: 'BOOTSTRAP_PLAN' }
  /** Restore base backup `backupId` from the store into the empty data directory, start as `upstream`'s standby (replay the archive, then stream). */
  | { readonly kind: 'restore'; readonly backupId: string; readonly upstream: string; readonly reason: 'BOOTSTRAP_PLAN' }
  /** The restore of the planned backup failed: rewrite the plan to pg_basebackup from `source`, saying why (then clone). */
  | { readonly kind: 'recordBootstrapFallback'; readonly backupId: string; readonly source: string; readonly error: string; readonly reason: 'BOOTSTRAP_S3_FAILED' }
  | { readonly kind: 'startPrimary'; readonly reason: 'PRIMARY_NOT_RUNNING' }
  /** Give the leader key back: PostgreSQL would not come up within primary_start_timeout_ms. */
  | { readonly kind: 'releaseLeader'; readonly epoch: number; readonly reason: 'PRIMARY_START_TIMEOUT' }
  /** Start as a standby of `upstream` (null: no primary known; it replays what it has and answers position queries). */
  | { readonly kind: 'startStandby'; readonly upstream: string | null; readonly reason: 'REPLICA_NOT_RUNNING' | 'UPSTREAM_CHANGED' | 'FORMER_PRIMARY_NOT_DIVERGED' }
  /** Stop (if running), pg_rewind from `source` (re-clone if that fails and the config allows), then start as its standby. */
  | { readonly kind: 'rejoin'; readonly source: string; readonly reason: 'FORMER_PRIMARY' | 'REPLICA_DIVERGED' | 'NOT_STREAMING' }
  /** An operator removed this member: stop PostgreSQL and do nothing more (its data stays for the operator). */
  | { readonly kind: 'retire'; readonly reason: 'REMOVED' }
  | {
      readonly kind: 'wait';
      readonly reason: 'WAITING_FOR_INITIALIZER' | 'WAITING_FOR_SLOT_AND_PLAN' | 'CONFIRM_LEASE_FIRST' | 'RESTORE_RETRY' | 'RUNNING' | 'PAUSED' | 'REMOVED';
    };

/** In maintenance mode (pause) the agent registers and renews but never starts, stops, clones or rewinds PostgreSQL on its own. */
const PAUSE_BLOCKS: ReadonlySet<LifecycleAction['kind']> = new Set(['clone', 'restore', 'startPrimary', 'releaseLeader', 'startStandby', 'rejoin', 'retire']);

export function decideLifecycle(o: LifecycleObservation): LifecycleAction {
  const action = decideUnpaused(o);
  return o.state.pause.paused && PAUSE_BLOCKS.has(action.kind) ? { kind: 'wait', reason: 'PAUSED' } : action;
}

function decideUnpaused(o: LifecycleObservation): LifecycleAction {
  const { state, self } = o;
  // Checked first: a removed member must not register again (apply would refuse it anyway).
  if (Object.hasOwn(state.membership, self) && state.membership[self]!.target === 'removed') {
    return o.postgres.running ? { kind: 'retire', reason: 'REMOVED' } : { kind: 'wait', reason: 'REMOVED' };
  }
  const member = state.members[self];
  if (!member) return { kind: 'register', reason: 'NOT_REGISTERED' };
  if (!sameRegistration(member.registration, o.registration)) return { kind: 'register', reason: 'REGISTRATION_CHANGED' };

  const data = o.dataDir;
  const init = state.initialize;
  if (init !== null && init.member === self && init.systemIdentifier === null) {
    const restore = decideRestoreClaim(o);
    if (restore !== null) return restore;
  }
  if (data.kind === 'foreign') {
    return { kind: 'refuse', reason: 'DATA_DIR_FOREIGN', detail: `the data directory holds ${data.entries} entries but is not a PostgreSQL data directory; move it away` };
  }
  const systemIdentifier = init?.systemIdentifier ?? null;
  if (data.kind === 'pgdata' && systemIdentifier !== null && data.systemIdentifier !== systemIdentifier) {
    return {
      kind: 'refuse',
      reason: 'SYSTEM_ID_MISMATCH',
      detail: `the data directory belongs to database system ${data.systemIdentifier}, this cluster is ${systemIdentifier}; it is never overwritten: move it away to re-clone`,
    };
  }
  if (init === null) {
    if (data.kind === 'pgdata') {
      return { kind: 'refuse', reason: 'DATA_WITHOUT_CLUSTER', detail: `the data directory holds database system ${data.systemIdentifier} but the cluster was never initialized; move it away` };
    }
    return { kind: 'claimInitialize', reason: 'CLUSTER_UNINITIALIZED' };
  }
  if (systemIdentifier === null) {
    if (init.member !== self) return { kind: 'wait', reason: 'WAITING_FOR_INITIALIZER' };
    return data.kind === 'pgdata' ? { kind: 'initialize', fresh: false, reason: 'RESUME_INITIALIZE' } : { kind: 'initialize', fresh: true, reason: 'INITIALIZER' };
  }
  if (data.kind !== 'pgdata') return decideClone(o);

  const leader = state.leader;
  if (leader?.member === self) return decideHolder(o, leader.epoch, data.wasPrimary);
  const upstream = leader?.member ?? null;
  if (!o.postgres.running) {
    if (data.wasPrimary && upstream !== null) {
      if (forkedAfterCleanShutdown(state, data.timeline, data.cleanShutdownLsn)) return { kind: 'startStandby', upstream, reason: 'FORMER_PRIMARY_NOT_DIVERGED' };
      return { kind: 'rejoin', source: upstream, reason: 'FORMER_PRIMARY' };
    }
    // A replica that replayed WAL the new timeline never had can never start as a standby again (chaos seed 2030).
    if (o.standbyStartDiverged && upstream !== null) return { kind: 'rejoin', source: upstream, reason: 'REPLICA_DIVERGED' };
    return { kind: 'startStandby', upstream, reason: 'REPLICA_NOT_RUNNING' };
  }
  if (o.postgres.role !== 'replica' || upstream === null) return { kind: 'wait', reason: 'RUNNING' };
  if (o.postgres.upstream !== upstream) return { kind: 'startStandby', upstream, reason: 'UPSTREAM_CHANGED' };
  // A replica that cannot stream from the current primary for longer than a lease has most
  // likely diverged (it received WAL past the new timeline's fork point): rewind it.
  const stuckMs = o.notStreamingSinceMs === null ? 0 : o.nowMs - o.notStreamingSinceMs;
  if (stuckMs > 2 * state.config.values.ttl_ms) return { kind: 'rejoin', source: upstream, reason: 'NOT_STREAMING' };
  return { kind: 'wait', reason: 'RUNNING' };
}

/**
 * This node won the initialization claim: with bootstrap.method restore it
 * restores (or resumes, or refuses); null lets the initdb rules decide.
 */
function decideRestoreClaim(o: LifecycleObservation): LifecycleAction | null {
  const { restore, dataDir: data } = o;
  if (o.bootstrapMethod === 'initdb') {
    if (!restore.pending) return null;
    return {
      kind: 'refuse',
      reason: 'RESTORE_INTERRUPTED',
      detail:
        'a restore from the backup store was started in this data directory but bootstrap.method is initdb now: set it back to restore to finish it, or empty postgresql.data_dir and delete restore-pending.json in the agent data_dir to run initdb',
    };
  }
  if (restore.refusal !== null) return { kind: 'refuse', reason: 'RESTORE_REFUSED', detail: restore.refusal };
  if (restore.retryAtMs !== null && o.nowMs < restore.retryAtMs) return { kind: 'wait', reason: 'RESTORE_RETRY' };
  if (restore.pending) return { kind: 'restoreCluster', reason: 'RESUME_RESTORE' };
  if (data.kind === 'missing' || data.kind === 'empty') return { kind: 'restoreCluster', reason: 'RESTORE_CLUSTER' };
  if (data.kind === 'pgdata') {
    return {
      kind: 'refuse',
      reason: 'DATA_WITHOUT_CLUSTER',
      detail: `the data directory holds database system ${data.systemIdentifier}, but this node is to restore the cluster from the backup store (bootstrap.method restore) and started no restore there; move it away`,
    };
  }
  return null; // foreign: refused below, as always
}

/**
 * Every timeline after `timeline` forked off at a position past the clean
 * shutdown's checkpoint record, so this data directory holds nothing the
 * new timelines lack. History positions are the promoted candidate's
 * received WAL when the promotion was decided; its actual fork point is
 * never earlier (promotion replays everything received).
 */
function forkedAfterCleanShutdown(state: ClusterState, timeline: number, cleanShutdownLsn: string | null): boolean {
  if (cleanShutdownLsn === null) return false;
  const later = state.history.filter((entry) => entry.timeline > timeline);
  if (!later.some((entry) => entry.timeline === timeline + 1)) return false;
  return later.every((entry) => compareLsn(entry.switchLsn, cleanShutdownLsn) > 0);
}

function decideClone(o: LifecycleObservation): LifecycleAction {
  const { state, self } = o;
  const slot = state.slots[self];
  const plan = state.bootstrap[self];
  const leader = state.leader;
  if (leader === null || leader.member === self || !slot || slot.createdByEpoch !== leader.epoch || !plan) {
    return { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' };
  }
  if (plan.method === 's3') {
    const failure = o.bootstrapFailure;
    if (failure?.kind !== 's3' || failure.backupId !== plan.source) return { kind: 'restore', backupId: plan.source, upstream: leader.member, reason: 'BOOTSTRAP_PLAN' };
    const source = chooseCloneSource(state, self) ?? leader.member;
    return { kind: 'recordBootstrapFallback', backupId: plan.source, source, error: failure.error, reason: 'BOOTSTRAP_S3_FAILED' };
  }
  return { kind: 'clone', source: basebackupSource(o, plan.source, slot.createdAtLsn), reason: 'BOOTSTRAP_PLAN' };
}

/**
 * The plan's source while it still is one: the primary, or a clonefrom
 * replica that still reports itself fit (bootstrap-rule.ts) and did not
 * just fail this member's copy. Otherwise the primary: a plan must never
 * leave a new member waiting on a member that cannot serve it.
 */
function basebackupSource(o: LifecycleObservation, planned: string, slotLsn: string): string {
  const leader = o.state.leader!.member;
  if (planned === leader) return leader;
  const failed = o.bootstrapFailure?.kind === 'basebackup' && o.bootstrapFailure.source === planned;
  return !failed && isCloneSource(o.state, planned, slotLsn) ? planned : leader;
}

/** This node holds the leader key: keep (or bring back) its PostgreSQL as the primary. */
function decideHolder(o: LifecycleObservation, epoch: number, wasPrimary: boolean): LifecycleAction {
  if (o.postgres.running) return { kind: 'wait', reason: 'RUNNING' };
  const downMs = o.primaryDownSinceMs === null ? 0 : o.nowMs - o.primaryDownSinceMs;
  if (downMs > o.state.config.values.primary_start_timeout_ms) return { kind: 'releaseLeader', epoch, reason: 'PRIMARY_START_TIMEOUT' };
  // Elected while stopped as a standby: start it as one; the lease rules promote it.
  if (!wasPrimary) return { kind: 'startStandby', upstream: null, reason: 'REPLICA_NOT_RUNNING' };
  if (!o.leaseConfirmed) return { kind: 'wait', reason: 'CONFIRM_LEASE_FIRST' };
  return { kind: 'startPrimary', reason: 'PRIMARY_NOT_RUNNING' };
}

function sameRegistration(a: Omit<MemberRegistration, 'registeredAtMs'>, b: Omit<MemberRegistration, 'registeredAtMs'>): boolean {
  return (
    a.raftAddress === b.raftAddress &&
    a.postgresHost === b.postgresHost &&
    a.postgresPort === b.postgresPort &&
    a.httpAddress === b.httpAddress &&
    a.tags.nofailover === b.tags.nofailover &&
    a.tags.noloadbalance === b.tags.noloadbalance &&
    a.tags.clonefrom === b.tags.clonefrom &&
    a.tags.nosync === b.tags.nosync &&
    a.tags.failover_priority === b.tags.failover_priority
  );
}

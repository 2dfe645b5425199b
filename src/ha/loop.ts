import { join } from 'node:path';
import type { ApplyResult } from '../cluster/results.js';
import type { ArchiveReport, ClusterState, MemberRegistration, MemberRole } from '../cluster/state.js';
import type { ClusterStore } from '../cluster/store.js';
import { canonicalLsn } from '../cluster/lsn.js';
import type { Config } from '../config/schema.js';
import { formatLsn, parseLsn, type LsnValue } from '../lib/lsn.js';
import type { Logger } from '../lib/logger.js';
import { cleanlyShutDownPrimary, getSynchronousStandbyNames, inspectDataDir, observe, observePosition, setSynchronousStandbyNames, wasPrimary, type Observation } from '../postgres/index.js';
import { withConnection } from '../postgres/sql.js';
import { PgStartFailedError } from '../postgres/errors.js';
import { classifyStartFailure } from '../postgres/start-failure.js';
import type { PgBinaries, PgOsUser } from '../postgres/index.js';
import type { RaftDriver } from '../raft/driver/raft-driver.js';
import type { CandidatePositionAnswer } from '../raft/transport/position.js';
import { ActionRunner } from './action-runner.js';
import type { CandidatePosition } from './candidates.js';
import { decideFailover, decideLocal, decideRaftLeadership, failoverCommand, firstLeaseCommand, type HaObservation, type LocalDecision } from './decide.js';
import type { BootstrapCatalog } from './bootstrap-catalog.js';
import type { BackupCatalogView } from './bootstrap-rule.js';
import { BootstrapRunner } from './bootstrap-runner.js';
import { decidePrimaryDuties, membersAwaitingPlan } from './duties.js';
import type { HaExecutor } from './executor.js';
import type { FenceKeeper } from './fence-keeper.js';
import { primaryLeaseRemainingMs } from './lease.js';
import { decideLifecycle, NO_RESTORE, type DataDirSummary, type LifecycleAction } from './lifecycle.js';
import { RESTORE_PENDING_FILE } from './restore-bootstrap.js';
import { RestoreRunner } from './restore-runner.js';
import { decideMemberAction } from './member-actions.js';
import { SwitchoverRunner } from './switchover-runner.js';
import { decideSync, parseSssn, renderSssn, type SynchronousStandbyNames } from './sync.js';

/**
 * The HA loop of one node (DESIGN.md §5): every loop_wait it observes the
 * local PostgreSQL and the applied cluster state, asks the pure deciders
 * what to do, and has the executor do it. A second, faster loop runs the
 * Raft leader's job: watch the primary's lease and fail it over.
 *
 * The lease clocks live here and nowhere else, on the monotonic clock:
 *  - confirmedRenewalSentAtMs: when this node SENT its newest renewal that
 *    came back committed (the primary's side);
 *  - renewalAppliedAtMs / raftLeaderSinceMs: when this node APPLIED the
 *    newest renewal or promotion, and when it became Raft leader (the
 *    failover side).
 */

export interface HaLoopOptions {
  readonly self: string;
  readonly config: Config;
  readonly store: ClusterStore;
  readonly driver: RaftDriver<ApplyResult>;
  readonly executor: HaExecutor;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly registration: Omit<MemberRegistration, 'registeredAtMs'>;
  readonly queryPositions: (members: readonly string[], timeoutMs: number) => Promise<CandidatePosition[]>;
  /** Replaced by the loop when it fired or was lost (FenceKeeper.ensure). */
  readonly fence: FenceKeeper | null;
  readonly log: Logger;
  readonly now: () => number;
  readonly wallNow: () => number;
  /** The failover loop's period. */
  readonly failoverCheckMs?: number;
  /** Told how long each run of the local loop took, on the monotonic clock (the /metrics histogram). */
  readonly onLoopRun?: (durationMs: number) => void;
  /** This node's WAL archiving and store health, reported with its status; absent: no store configured. */
  readonly archiveReport?: () => Promise<ArchiveReport>;
  /** The store's base backups for bootstrap plans (read only while a member waits for one); absent: no store configured. */
  readonly bootstrapCatalog?: BootstrapCatalog;
}

/** What the node did last, for the HTTP endpoints and the demo. */
export interface HaStatus {
  readonly role: MemberRole;
  readonly state: string;
  readonly timeline: number | null;
  readonly lsn: string | null;
  readonly lastAction: string;
  readonly lastReason: string;
  readonly leaseRemainingMs: number | null;
  readonly refused: string | null;
}

const STATUS_REPORT_EVERY_MS = 10_000;
/** Connect + one statement; the asker's deadline (candidate_query_timeout_ms) bounds the whole answer anyway. */
const POSITION_QUERY_TIMEOUT_MS = 1_000;
const TRANSFER_RETRY_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class HaLoop {
  private confirmedRenewalSentAtMs: number | null = null;
  private renewalAppliedAtMs: number | null = null;
  private raftLeaderSinceMs: number | null = null;
  private primaryDownSinceMs: number | null = null;
  private notStreamingSinceMs: number | null = null;
  /** The last standby start failed as DIVERGED (postgres/start-failure.ts); cleared by a successful start. */
  private standbyStartDiverged = false;
  private lastReport: { key: string; atMs: number } | null = null;
  private lastTransferAtMs = Number.NEGATIVE_INFINITY;
  private lastFailoverLog = '';
  private lastLifecycleLog = '';
  private running = false;
  /** The synchronous_standby_names this agent last set and the WAL position when it took effect. */
  private sssnSetAt: { text: string; lsn: string } | null = null;
  /** The sync epoch this node's own latest accepted setSync produced (null: none, or another proposal since). */
  private syncConfirmedEpoch: number | null = null;
  /** Set by a step whose effect the next step depends on (register → claim → initialize...): run again at once. */
  private again = false;
  private lastLoopDoneAtMs: number;
  private wake: (() => void) | null = null;
  private loops: Promise<void>[] = [];
  private unsubscribe: (() => void) | null = null;
  private statusValue: HaStatus = { role: 'unknown', state: 'starting', timeline: null, lsn: null, lastAction: 'none', lastReason: 'STARTING', leaseRemainingMs: null, refused: null };

  private readonly switchover: SwitchoverRunner;
  /** Operators' restart, reload and reinit of this member (member-actions.ts, action-runner.ts). */
  private readonly actions: ActionRunner;
  /** This member's own clone or S3 restore, and the fallback when the restore fails. */
  private readonly bootstrap: BootstrapRunner;
  /** The claimant's restore of a new cluster from the store (bootstrap.method restore). */
  private readonly restore: RestoreRunner;

  constructor(private readonly o: HaLoopOptions) {
    this.lastLoopDoneAtMs = o.now();
    this.switchover = new SwitchoverRunner({
      self: o.self,
      store: o.store,
      executor: o.executor,
      fence: o.fence,
      log: o.log,
      now: o.now,
      wallNow: o.wallNow,
      queryPositions: o.queryPositions,
      renew: (epoch) => this.renew(epoch),
      leaseRemainingMs: () => this.leaseRemaining(this.o.store.local()),
      forgetLease: () => {
        this.confirmedRenewalSentAtMs = null;
      },
    });
    this.bootstrap = new BootstrapRunner({ self: o.self, store: o.store, executor: o.executor, log: o.log, wallNow: o.wallNow });
    this.restore = new RestoreRunner({ executor: o.executor, pendingFile: join(o.config.data_dir, RESTORE_PENDING_FILE), log: o.log, now: o.now });
    this.actions = new ActionRunner({ self: o.self, store: o.store, executor: o.executor, log: o.log, now: o.now, wallNow: o.wallNow, renew: (epoch) => this.renew(epoch) });
  }

  /** For /liveness: how long since a local loop run finished. */
  sinceLastLoopMs(): number {
    return this.o.now() - this.lastLoopDoneAtMs;
  }

  /**
   * Clean shutdown (SIGTERM): stop PostgreSQL (fast: a primary's streaming
   * replicas receive all WAL) and, as the primary, give the leader key back
   * so the Raft leader fails over at once instead of after the ttl.
   */
  async shutdownPostgres(): Promise<void> {
    const state = this.o.store.local();
    this.o.fence?.disarm();
    await this.o.executor.controller(state.initialize?.credentials ?? null).stop({ mode: 'fast', timeoutMs: 30_000 });
    this.o.executor.callbacksNotifyStop(state.leader?.member === this.o.self ? 'primary' : 'replica');
    if (state.leader?.member === this.o.self) {
      const result = await this.o.store.propose({ type: 'releaseLeader', atMs: this.o.wallNow(), member: this.o.self, epoch: state.leader.epoch }, 2_000).catch((error: Error) => ({ ok: false as const, code: error.message }));
      this.o.log.warn({ epoch: state.leader.epoch, released: result.ok }, 'ha.leader_released_on_shutdown');
    }
  }

  get status(): HaStatus {
    return this.statusValue;
  }

  start(): void {
    this.running = true;
    const offApplied = this.o.store.on('applied', (event) => {
      const command = event.command;
      if (command === null || !event.result.ok) return;
      if (command.type === 'renewLease' || command.type === 'promote') this.renewalAppliedAtMs = this.o.now();
      // A new primary was granted the lease: it promotes, the old one demotes — now, not at the next loop.
      // A switchover request: the primary starts it now (the operator waits on it).
      if (command.type === 'promote' || command.type === 'requestSwitchover') this.kick();
      // An operator's restart, reload or reinit of this member: now, not at the next loop.
      if (command.type === 'requestMemberAction' && command.member === this.o.self) this.kick();
    });
    const onSoft = (soft: { role: string }): void => {
      if (soft.role === 'leader') {
        if (this.raftLeaderSinceMs === null) this.raftLeaderSinceMs = this.o.now();
      } else {
        this.raftLeaderSinceMs = null;
      }
    };
    this.o.driver.on('softState', onSoft);
    if (this.o.driver.isLeader()) this.raftLeaderSinceMs = this.o.now();
    this.unsubscribe = () => {
      offApplied();
      this.o.driver.off('softState', onSoft);
    };
    this.loops = [this.localLoop(), this.failoverLoop()];
  }

  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    this.unsubscribe?.();
    await Promise.all(this.loops);
  }

  private kick(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async localLoop(): Promise<void> {
    while (this.running) {
      const started = this.o.now();
      try {
        await this.runLocal();
      } catch (error) {
        const code = (error as { code?: string }).code;
        // No Raft leader for a moment (an election, a partition): the next loop retries.
        if (code === 'PGHERD_RAFT_NOT_LEADER' || code === 'PGHERD_RAFT_TIMEOUT' || code === 'PGHERD_RAFT_PROPOSAL_DROPPED') this.o.log.warn({ code, detail: (error as Error).message }, 'ha.raft_unavailable');
        // The new primary holds the leader key but has not promoted yet: rejoining waits for it.
        else if (code === 'PGHERD_PG_REWIND_SOURCE_NOT_PRIMARY') this.o.log.info({ detail: (error as Error).message }, 'ha.rejoin_waiting_for_promotion');
        else this.o.log.error({ err: error }, 'ha.loop_failed');
        this.statusValue = { ...this.statusValue, lastAction: 'error', lastReason: (error as Error).message };
      }
      this.lastLoopDoneAtMs = this.o.now();
      this.o.onLoopRun?.(this.lastLoopDoneAtMs - started);
      if (!this.running) break;
      const wait = this.again ? 0 : this.o.store.local().config.values.loop_wait_ms - (this.o.now() - started);
      this.again = false;
      await this.pause(Math.max(10, wait));
    }
  }

  private async failoverLoop(): Promise<void> {
    const period = this.o.failoverCheckMs ?? 250;
    while (this.running) {
      try {
        await this.runFailover();
      } catch (error) {
        this.o.log.error({ err: error }, 'ha.failover_check_failed');
      }
      await sleep(period);
    }
  }

  /** The answer to the Raft leader's GetPosition during a failover. */
  async positionAnswer(): Promise<CandidatePositionAnswer> {
    const state = this.o.store.local();
    const controller = this.o.executor.controller(state.initialize?.credentials ?? null);
    if (!(await controller.status()).running) return { healthy: false, timeline: null, receiveLsn: null, role: 'stopped' };
    const position = await observePosition(await this.o.executor.connection(state.initialize?.credentials ?? null, POSITION_QUERY_TIMEOUT_MS));
    const lsn = position.lsn === null ? null : formatLsn(position.lsn);
    return { healthy: position.role === 'replica', timeline: position.timeline, receiveLsn: lsn, role: position.role };
  }

  private async observeLocal(state: ClusterState): Promise<{ running: boolean; obs: Observation | null }> {
    const status = await this.o.executor.controller(state.initialize?.credentials ?? null).status();
    if (!status.running) return { running: false, obs: null };
    // Before the system identifier is recorded only the initializer knows the passwords (its pending file).
    const credentials = state.initialize?.credentials ?? (await this.o.executor.pendingCredentialsIfAny());
    if (credentials === null) return { running: true, obs: null };
    try {
      return { running: true, obs: await observe(await this.o.executor.connection(credentials)) };
    } catch (error) {
      this.o.log.debug({ err: error }, 'ha.observe_failed');
      return { running: true, obs: null };
    }
  }

  private async runLocal(): Promise<void> {
    await this.o.fence?.ensure();
    let state = this.o.store.local();
    const self = this.o.self;
    const { running, obs } = await this.observeLocal(state);
    const now = this.o.now();
    const holder = state.leader?.member === self;
    this.primaryDownSinceMs = holder && !running ? (this.primaryDownSinceMs ?? now) : null;
    this.notStreamingSinceMs = obs?.role === 'replica' && !obs.streaming ? (this.notStreamingSinceMs ?? now) : null;
    if (!holder) this.confirmedRenewalSentAtMs = null;
    if (holder && !running) {
      // PostgreSQL is down under a live agent: keep the lease while it is brought back (primary_start_timeout).
      await this.renew(state.leader!.epoch);
      state = this.o.store.local();
    }

    const dataDir = await this.summarizeDataDir(running, obs);
    const leaseConfirmed = state.leader?.member === self && this.leaseRemaining(state) > 0;
    const claimant = state.initialize !== null && state.initialize.member === self && state.initialize.systemIdentifier === null;
    const action = decideLifecycle({
      nowMs: this.o.now(),
      self,
      state,
      registration: this.o.registration,
      dataDir,
      postgres: {
        running,
        role: obs?.role ?? null,
        streaming: obs?.role === 'replica' ? obs.streaming : false,
        upstream: this.o.executor.upstream ?? (obs?.role === 'replica' ? upstreamFromConninfo(state, obs.primaryConninfo) : undefined),
      },
      leaseConfirmed,
      primaryDownSinceMs: this.primaryDownSinceMs,
      notStreamingSinceMs: this.notStreamingSinceMs,
      standbyStartDiverged: this.standbyStartDiverged,
      bootstrapFailure: this.bootstrap.failure,
      bootstrapMethod: this.o.config.bootstrap.method,
      restore: claimant ? await this.restore.progress() : NO_RESTORE,
    });
    const memberAction = decideMemberAction({
      wallNowMs: this.o.wallNow(),
      self,
      state,
      handled: this.actions.handled,
      dataDir,
      postgres: { running, role: obs?.role ?? null },
      lifecycle: action,
    });
    try {
      if (await this.actions.step(state, memberAction)) {
        this.again = true;
      } else if (action.kind === 'wait' && action.reason === 'RUNNING' && obs !== null) {
        await this.runRunning(state, obs);
      } else {
        await this.runLifecycle(state, action);
        // Only after success: a failing step (a clone whose source is down) retries at the loop's pace.
        this.again = action.kind !== 'wait' && action.kind !== 'refuse';
      }
    } finally {
      // Also when the step failed (PostgreSQL would not start): the cluster must see what this node observed.
      await this.report(running, obs);
    }
  }

  private leaseRemaining(state: ClusterState): number {
    return primaryLeaseRemainingMs(this.o.now(), { confirmedRenewalSentAtMs: this.confirmedRenewalSentAtMs }, state.config.values);
  }

  private async summarizeDataDir(running: boolean, obs: Observation | null): Promise<DataDirSummary> {
    if (running && obs !== null) {
      return { kind: 'pgdata', systemIdentifier: obs.systemIdentifier.toString(), wasPrimary: obs.role === 'primary', timeline: obs.timeline, cleanShutdownLsn: null };
    }
    const inspected = await inspectDataDir(this.o.binaries, this.o.osUser, this.o.executor.pgDataDir);
    if (inspected.kind !== 'pgdata') return inspected;
    const c = inspected.control;
    return { kind: 'pgdata', systemIdentifier: c.systemIdentifier, wasPrimary: wasPrimary(c), timeline: c.checkpointTimeline, cleanShutdownLsn: cleanlyShutDownPrimary(c) ? canonicalLsn(c.checkpointLsn) : null };
  }

  private logLifecycle(action: LifecycleAction): void {
    const key = `${action.kind}:${action.reason}`;
    if (key === this.lastLifecycleLog && action.kind !== 'refuse') return;
    this.lastLifecycleLog = key;
    const fields = { action: action.kind, reason: action.reason, ...('detail' in action ? { detail: action.detail } : {}), ...('source' in action ? { source: action.source } : {}), ...('backupId' in action ? { backupId: action.backupId } : {}), ...('upstream' in action ? { upstream: action.upstream } : {}) };
    if (action.kind === 'refuse') this.o.log.error(fields, 'ha.refused');
    else this.o.log.info(fields, 'ha.lifecycle');
  }

  private async runLifecycle(state: ClusterState, action: LifecycleAction): Promise<void> {
    this.logLifecycle(action);
    this.statusValue = { ...this.statusValue, lastAction: action.kind, lastReason: action.reason, refused: action.kind === 'refuse' ? action.detail : null };
    const ex = this.o.executor;
    switch (action.kind) {
      case 'register': {
        const result = await this.o.store.propose({ type: 'registerMember', atMs: this.o.wallNow(), member: this.o.self, ...this.o.registration });
        if (!result.ok) this.o.log.warn({ code: result.code, detail: result.reason }, 'ha.register_refused');
        return;
      }
      case 'refuse':
        return;
      case 'claimInitialize': {
        const result = await this.o.store.propose({ type: 'initializeClaim', atMs: this.o.wallNow(), member: this.o.self });
        this.o.log.info({ won: result.ok, ...(result.ok ? {} : { code: result.code, detail: result.reason }) }, 'ha.initialize_claim');
        return;
      }
      case 'initialize':
        await ex.initialize(state, action.fresh);
        this.kick();
        return;
      case 'restoreCluster':
        await this.restore.run(state);
        this.kick();
        return;
      case 'clone':
      case 'restore':
      case 'recordBootstrapFallback':
        await this.bootstrap.run(state, action);
        return;
      case 'startPrimary':
        this.armFence(state);
        await ex.startPrimary(state);
        return;
      case 'releaseLeader': {
        this.o.fence?.disarm();
        const result = await this.o.store.propose({ type: 'releaseLeader', atMs: this.o.wallNow(), member: this.o.self, epoch: action.epoch });
        this.o.log.error({ epoch: action.epoch, released: result.ok, primaryStartTimeoutMs: state.config.values.primary_start_timeout_ms }, 'ha.leader_released');
        return;
      }
      case 'startStandby':
        this.o.fence?.disarm();
        try {
          await ex.startStandby(state, action.upstream);
        } catch (error) {
          this.noteStandbyStartFailure(error, action.upstream);
          throw error;
        }
        this.standbyStartDiverged = false;
        return;
      case 'rejoin':
        this.o.fence?.disarm();
        await ex.rejoin(state, action.source);
        this.standbyStartDiverged = false;
        return;
      case 'retire':
        this.o.log.warn({ reason: action.reason }, 'ha.member_removed_stopping_postgres');
        await this.shutdownPostgres();
        return;
      case 'wait':
        return;
    }
  }

  /** A standby start that failed because the data diverged from the timeline to follow: the next step rejoins (lifecycle REPLICA_DIVERGED). */
  private noteStandbyStartFailure(error: unknown, upstream: string | null): void {
    if (!(error instanceof PgStartFailedError) || classifyStartFailure(error.logTail) !== 'DIVERGED') return;
    if (!this.standbyStartDiverged) {
      const line = /FATAL:.*$/m.exec(error.logTail)?.[0] ?? '';
      this.o.log.warn({ upstream, serverLog: line }, 'ha.replica_diverged');
    }
    this.standbyStartDiverged = true;
  }

  private async runRunning(state: ClusterState, obs: Observation): Promise<void> {
    const decision = decideLocal(this.haObservation(state, obs, null));
    this.statusValue = { ...this.statusValue, lastAction: decision.kind, lastReason: decision.reason, refused: null };
    await this.act(state, decision, obs);
  }

  private haObservation(state: ClusterState, obs: Observation | null, candidates: readonly CandidatePosition[] | null): HaObservation {
    return {
      nowMs: this.o.now(),
      self: this.o.self,
      state,
      isRaftLeader: this.o.driver.isLeader(),
      lease: { confirmedRenewalSentAtMs: this.confirmedRenewalSentAtMs },
      observed: { renewalAppliedAtMs: this.renewalAppliedAtMs, raftLeaderSinceMs: this.o.driver.isLeader() ? this.raftLeaderSinceMs : null },
      postgres: { running: obs !== null, role: obs?.role ?? null, timeline: obs?.timeline ?? null },
      candidates,
      raftVoters: reachableVoters(this.o.driver.status()),
    };
  }

  private async act(state: ClusterState, decision: LocalDecision, obs: Observation): Promise<void> {
    const log = this.o.log;
    switch (decision.kind) {
      case 'renewLease': {
        const ok = await this.renew(decision.epoch);
        if (ok && obs.role === 'primary' && (await this.switchover.maybeRun())) {
          this.again = true;
          return;
        }
        if (ok && obs.role === 'primary') {
          // Slot first, then the plan: a second pass sees the slot records the first committed.
          let slots = obs.slots;
          for (let pass = 0; pass < 2; pass++) {
            // Linearizable: on a follower the local copy may not show what this node just committed.
            const fresh = pass === 0 ? this.o.store.local() : await this.o.store.read();
            const facts = { catalog: this.backupCatalog(fresh), primaryLsn: formatLsn(obs.currentLsn), primaryTimeline: obs.timeline };
            const duties = decidePrimaryDuties(fresh, this.o.self, slots, facts);
            if (duties.length === 0) break;
            await this.o.executor.runDuties(fresh, duties, decision.epoch, formatLsn(obs.currentLsn));
            slots = [...slots, ...duties.flatMap((d) => (d.kind === 'ensureSlot' ? [{ slotName: d.slotName, slotType: 'physical', active: false, restartLsn: null }] : []))];
          }
          await this.manageSync(decision.epoch, obs);
        }
        return;
      }
      case 'demote':
        log.warn({ reason: decision.reason, holder: decision.holder }, 'ha.demoting');
        this.o.fence?.disarm();
        this.confirmedRenewalSentAtMs = null;
        await this.o.executor.demote(state);
        this.kick();
        return;
      case 'promote': {
        // Confirm the granted lease through Raft before PostgreSQL becomes writable.
        if (!(await this.renew(decision.epoch))) return;
        log.warn({ epoch: decision.epoch, reason: decision.reason }, 'ha.promoting');
        this.armFence(state);
        const promoted = await this.o.executor.promote(state);
        if (promoted) log.warn({ epoch: decision.epoch }, 'ha.promoted');
        return;
      }
      case 'claimFirstLease': {
        const result = await this.o.store.propose(firstLeaseCommand(this.o.self, decision, formatLsn(obs.role === 'primary' ? obs.currentLsn : 0n), this.o.wallNow()));
        log.info({ ok: result.ok, ...(result.ok ? { epoch: result.epoch } : { code: result.code }) }, 'ha.first_lease');
        if (result.ok && result.epoch !== undefined) await this.renew(result.epoch);
        return;
      }
      case 'none':
        return;
    }
  }

  /** The store's backups, read in the background only while a member waits for its plan (the loop runs again when read). */
  private backupCatalog(state: ClusterState): BackupCatalogView {
    if (this.o.bootstrapCatalog === undefined) return { kind: 'noStore' };
    if (membersAwaitingPlan(state, this.o.self).length === 0) return { kind: 'pending' };
    return this.o.bootstrapCatalog.view(() => this.kick(), state.backup.last?.backupId ?? null);
  }

  /** Commit a renewal; on success the lease runs from when it was SENT, and the fence is pushed out to match. */
  private async renew(epoch: number): Promise<boolean> {
    const state = this.o.store.local();
    const sentAt = this.o.now();
    const timeoutMs = Math.max(200, state.config.values.ttl_ms - state.config.values.safety_margin_ms);
    try {
      const result = await this.o.store.propose({ type: 'renewLease', atMs: this.o.wallNow(), member: this.o.self, epoch }, timeoutMs);
      if (!result.ok) {
        this.o.log.warn({ epoch, code: result.code, detail: result.reason }, 'ha.renewal_refused');
        return false;
      }
      const wasConfirmed = this.confirmedRenewalSentAtMs !== null;
      this.confirmedRenewalSentAtMs = Math.max(this.confirmedRenewalSentAtMs ?? sentAt, sentAt);
      if (!wasConfirmed) this.o.log.info({ epoch, leaseRemainingMs: Math.round(this.leaseRemaining(state)) }, 'ha.lease_confirmed');
      // The fence bounds how long PostgreSQL stays writable if no further renewal is confirmed.
      this.armFence(state);
      return true;
    } catch (error) {
      this.o.log.warn({ epoch, err: (error as Error).message, code: (error as { code?: string }).code }, 'ha.renewal_failed');
      return false;
    }
  }

  /**
   * Synchronous mode (src/ha/sync.ts): a few steps per loop, each one
   * decided afresh, in the strict order (sssn before sync when adding,
   * sync before sssn when removing).
   */
  private async manageSync(epoch: number, obs: Observation): Promise<void> {
    if (obs.role !== 'primary') return;
    const credentials = this.o.store.local().initialize?.credentials ?? null;
    const conn = await this.o.executor.connection(credentials);
    for (let step = 0; step < 3; step++) {
      const state = this.o.store.local();
      if (state.leader?.member !== this.o.self || state.leader.epoch !== epoch) return;
      const text = await getSynchronousStandbyNames(conn);
      const parsed = parseSssn(text);
      const current: SynchronousStandbyNames | null = parsed === undefined ? { kind: 'blockWrites' } : parsed;
      // The LSN a value took effect at is known only for values this agent set; otherwise assume now (later is safe).
      const setAtLsn = this.sssnSetAt?.text === text ? this.sssnSetAt.lsn : formatLsn(obs.currentLsn);
      const decision = decideSync({
        state,
        self: this.o.self,
        currentSssn: current === null ? null : { value: current, setAtLsn },
        replication: obs.replication.map((r) => ({ applicationName: r.applicationName, state: r.state, syncState: r.syncState, flushLsn: r.flushLsn === null ? null : formatLsn(r.flushLsn) })),
        syncConfirmed: this.syncConfirmedEpoch === state.sync.epoch,
      });
      if (decision.kind === 'none') return;
      if (decision.kind === 'setSssn') {
        const wanted = renderSssn(decision.value);
        await setSynchronousStandbyNames(conn, wanted);
        const lsn = await withConnection(conn, 'read the WAL position', async (client) => (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
        this.sssnSetAt = { text: wanted, lsn: formatLsn(parseLsn(lsn)) };
        this.o.log.info({ synchronousStandbyNames: wanted, reason: decision.reason }, 'ha.sync_standby_names_set');
      } else {
        const result = await this.o.store.propose({ type: 'setSync', atMs: this.o.wallNow(), members: [...decision.members], expectedEpoch: decision.expectedEpoch, leaderEpoch: decision.leaderEpoch });
        this.syncConfirmedEpoch = result.ok ? (result.syncEpoch ?? null) : null;
        this.o.log.info({ members: decision.members, reason: decision.reason, ok: result.ok, ...(result.ok ? {} : { code: result.code }) }, 'ha.sync_recorded');
        if (!result.ok) return;
      }
      // Observe again before the next step: pg_stat_replication changes with sssn.
      obs = await observe(conn);
      if (obs.role !== 'primary') return;
    }
  }

  private armFence(state: ClusterState): void {
    const remaining = Math.round(this.leaseRemaining(state));
    if (remaining > 0) this.o.fence?.arm(remaining);
  }

  private async report(running: boolean, obs: Observation | null): Promise<void> {
    const state = this.o.store.local();
    if (!state.members[this.o.self]) return;
    const primaryLsn = state.leader ? state.members[state.leader.member]?.status?.flushLsn ?? null : null;
    const role: MemberRole = !running ? 'stopped' : obs === null ? 'starting' : obs.role;
    const lsn = (v: LsnValue | null | undefined): string | null => (v === null || v === undefined ? null : formatLsn(v));
    const receive = obs?.role === 'replica' ? lsn(obs.receiveLsn) : null;
    const replay = obs?.role === 'replica' ? lsn(obs.replayLsn) : null;
    const flush = obs?.role === 'primary' ? lsn(obs.currentLsn) : receive;
    let lagBytes: number | null = null;
    if (obs?.role === 'replica' && primaryLsn !== null && obs.receiveLsn !== null) {
      const diff = parseLsn(primaryLsn) - obs.receiveLsn;
      lagBytes = diff > 0n ? Number(diff) : 0;
    }
    if (obs?.role === 'primary') lagBytes = 0;
    const stateText = !running ? 'stopped' : obs === null ? 'starting' : obs.role === 'primary' ? 'running' : obs.streaming ? 'streaming' : 'not streaming';
    this.statusValue = {
      ...this.statusValue,
      role,
      state: stateText,
      timeline: obs?.timeline ?? null,
      lsn: flush,
      leaseRemainingMs: state.leader?.member === this.o.self ? Math.max(0, Math.round(this.leaseRemaining(state))) : null,
    };
    // Every member archives (archive_mode always: replicas offer what they receive) and reports whether its store works.
    // The last archived name changes with every file: it is not part of the change key, so it is
    // refreshed with the periodic report.
    const archive = (await this.o.archiveReport?.()) ?? null;
    const key = JSON.stringify([role, stateText, obs?.timeline ?? null, receive, replay, flush, lagBytes, archive?.readyFiles ?? null, archive?.failure ?? null]);
    const now = this.o.now();
    if (this.lastReport !== null && this.lastReport.key === key && now - this.lastReport.atMs < STATUS_REPORT_EVERY_MS) return;
    try {
      const result = await this.o.store.propose({
        type: 'updateMemberStatus',
        atMs: this.o.wallNow(),
        member: this.o.self,
        role,
        state: stateText,
        timeline: obs?.timeline ?? null,
        receiveLsn: receive,
        replayLsn: replay,
        flushLsn: flush,
        lagBytes,
        archive,
      });
      if (result.ok) this.lastReport = { key, atMs: now };
    } catch (error) {
      this.o.log.debug({ err: (error as Error).message }, 'ha.status_report_failed');
    }
  }

  private async runFailover(): Promise<void> {
    if (!this.o.driver.isLeader()) return;
    const state = this.o.store.local();
    const base = this.haObservation(state, null, null);
    const transfer = decideRaftLeadership(base);
    if (transfer.kind === 'transferRaftLeadership' && this.o.now() - this.lastTransferAtMs > TRANSFER_RETRY_MS) {
      this.lastTransferAtMs = this.o.now();
      this.o.log.info({ to: transfer.to, reason: transfer.reason }, 'ha.raft_leadership_transfer');
      this.o.driver.transferLeadership(transfer.to);
      return;
    }
    let decision = decideFailover(base);
    if (decision.kind === 'queryCandidates') {
      const positions = await this.o.queryPositions(decision.members, state.config.values.candidate_query_timeout_ms);
      decision = decideFailover(this.haObservation(this.o.store.local(), null, positions));
    }
    if (decision.kind === 'none') {
      if (decision.reason === 'NO_CANDIDATE') {
        const key = JSON.stringify(decision.excluded);
        if (key !== this.lastFailoverLog) this.o.log.error({ reason: decision.reason, excluded: decision.excluded }, 'ha.failover_blocked');
        this.lastFailoverLog = key;
      }
      return;
    }
    if (decision.kind !== 'promote') return;
    this.lastFailoverLog = '';
    const result = await this.o.store.propose(failoverCommand(decision, this.o.wallNow()));
    this.o.log.warn(
      { candidate: decision.candidate, epoch: decision.expectedEpoch + 1, timeline: decision.timeline, reason: decision.reason, excluded: decision.excluded, ok: result.ok, ...(result.ok ? {} : { code: result.code }) },
      'ha.failover',
    );
  }
}


/** Which member a replica this agent did not start (adopted after a restart) streams from: its primary_conninfo host and port. */
export function upstreamFromConninfo(state: ClusterState, conninfo: string): string | null | undefined {
  if (conninfo === '') return null;
  const host = /(?:^|\s)host='?([^'\s]+)'?/.exec(conninfo)?.[1];
  const port = Number(/(?:^|\s)port='?([0-9]+)'?/.exec(conninfo)?.[1] ?? '5432');
  const match = Object.entries(state.members).find(([, m]) => m.registration.postgresHost === host && m.registration.postgresPort === port);
  return match?.[0];
}

/**
 * The Raft voters; on the Raft leader only those it heard from recently: a
 * dead replica's last status report still says it streams, and handing Raft
 * leadership to it would stall proposals (the lease renewals) for an election.
 */
function reachableVoters(raft: { confState: { voters: readonly string[] }; progress: Readonly<Record<string, { recentActive: boolean }>> }): string[] {
  return raft.confState.voters.filter((name) => raft.progress[name]?.recentActive !== false);
}

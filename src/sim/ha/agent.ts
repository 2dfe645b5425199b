import { applyCommand } from '../../cluster/apply.js';
import { parseCommand, type ClusterCommand, type ClusterCommandInput } from '../../cluster/commands.js';
import type { ApplyResult } from '../../cluster/results.js';
import { initialClusterState, type ClusterState } from '../../cluster/state.js';
import type { DynamicConfig } from '../../config/dynamic.js';
import type { CandidatePosition } from '../../ha/candidates.js';
import { decideFailover, decideLocal, failoverCommand, firstLeaseCommand, type HaObservation, type LocalDecision } from '../../ha/decide.js';
import { caughtUpWithShutdown, decideSwitchover, handoverCommand, HANDOVER_LEASE_RESERVE_MS } from '../../ha/switchover.js';
import { decideSync, type ReplicationRow } from '../../ha/sync.js';
import type { Entry } from '../../raft/core/types.js';
import type { SimNode } from '../node-process.js';
import type { HaViolation, HaRecorder } from './checkers.js';
import type { PgModel } from './pg.js';
import { appendWrite, fork, lsnText, walEnd, walTimeline } from './wal.js';


/** A switchover this primary is running: PostgreSQL stopped cleanly, waiting for the candidate to have the shutdown checkpoint. */
interface Handover {
  readonly candidate: string;
  readonly epoch: number;
  readonly timeline: number;
  /** Where the shutdown checkpoint record starts. */
  readonly checkpoint: number;
  readonly deadlineMs: number;
  proposed: boolean;
}

/** Simulated time unit in milliseconds (a 100 ms Raft tick is TICK_UNITS = 10 units). */
export const UNIT_MS = 10;
/** sync.ts is one step per call; the local steps (sssn changes) run at once, up to this many per loop. */
const SYNC_STEPS_PER_LOOP_MAX = 3;
const SYSTEM_IDENTIFIER = '7300000000000000001';
/** The model has no roles; the command still carries (fixed) passwords. */
const SIM_CREDENTIALS = { superuserPassword: 'sim-superuser-password', replicationPassword: 'sim-replication-password', rewindPassword: 'sim-rewind-password-0' };

/** Test-only broken rules: each proves a checker catches what the real rule prevents. */
export interface HaBrokenRules {
  /** The primary ignores a lapsed lease and has no fence. */
  readonly noSelfDemotion: boolean;
  /** The switchover as first written: hand over right after sending a renewal, keep the lease and promote without a renewal check. */
  readonly unsafeHandover: boolean;
}

/** What an agent needs from the HA world. */
export interface AgentEnv {
  now(): number;
  readonly recorder: HaRecorder;
  /** Propose through the local core if it leads, else forward to the Raft leader it knows (the real agent uses gRPC). */
  propose(from: SimNode, command: ClusterCommandInput): void;
  /** Ask members for their WAL position (answers from those reachable now). */
  queryCandidates(from: string, members: readonly string[]): CandidatePosition[];
  /** The primary's pg_stat_replication. */
  replicationRows(primary: string): ReplicationRow[];
  /** A fast shutdown of the primary: connected standbys that can be reached get every WAL record, then it stops. */
  cleanStop(primary: string): void;
  /** A model change that the checkers must see (a fork, a demotion). */
  failHa(violation: HaViolation): void;
  log(node: string, text: () => string): void;
  /** Test-only broken rules. */
  readonly broken: HaBrokenRules;
  readonly counts: { failovers: number; demotions: number; sssnChanges: number; syncRecords: number; handovers: number };
}

/** Decoded commands by payload text: commands are values, decoding each once keeps state rebuilds cheap. */
const decoded = new Map<string, ClusterCommand | null>();
const textDecoder = new TextDecoder();

function decodePayload(text: string): ClusterCommand | null {
  let command = decoded.get(text);
  if (command === undefined) {
    try {
      command = parseCommand((JSON.parse(text) as { command: unknown }).command);
    } catch {
      command = null;
    }
    if (decoded.size > 100_000) decoded.clear();
    decoded.set(text, command);
  }
  return command;
}

/**
 * One node's pgherd agent in the model: the cluster state as this node
 * applied it, the lease clocks of DESIGN §5 on its own monotonic clock, the
 * fence, and the HA loop that feeds the pure deciders (decide.ts, sync.ts)
 * and executes their decisions against the PostgreSQL model.
 */
export class HaAgent {
  state: ClusterState = initialClusterState();
  private trackedLife = -1;
  private trackedIndex = 0;
  /** Renewals this agent lifetime sent (their atMs = local send time). */
  private readonly sentRenewals = new Set<number>();
  confirmedRenewalSentAtMs: number | null = null;
  renewalAppliedAtMs: number | null = null;
  private raftLeaderSinceMs: number | null = null;
  private raftLeaderTerm = 0;
  /** This agent's latest setSync proposal (its atMs) while unresolved, and the sync epoch its latest accepted one produced. */
  private syncProposal: { atMs: number; resolved: boolean } | null = null;
  private confirmedSyncEpoch: number | null = null;
  /** The fence's deadline on this node's clock: PostgreSQL is stopped at it; null = not armed. */
  fenceUntilMs: number | null = null;
  private handover: Handover | null = null;

  constructor(
    readonly node: SimNode,
    readonly pg: PgModel,
    private readonly clock: { readonly offsetMs: number; readonly ratePermille: number },
    private readonly config: DynamicConfig,
    private readonly isInitializer: boolean,
    private readonly env: AgentEnv,
  ) {}

  get id(): string {
    return this.node.id;
  }

  /** This node's monotonic clock. */
  localMs(): number {
    return this.clock.offsetMs + Math.floor((this.env.now() * UNIT_MS * this.clock.ratePermille) / 1000);
  }

  /** Simulated units of `ms` on this node's clock. */
  unitsFor(ms: number): number {
    return Math.max(1, Math.round((ms * 1000) / (UNIT_MS * this.clock.ratePermille)));
  }

  /** Renewals sent so far never confirm this lease any more. */
  private forgetLease(): void {
    this.sentRenewals.clear();
    this.confirmedRenewalSentAtMs = null;
    this.fenceUntilMs = null;
  }

  /** Host crash: the agent, its fence and its in-memory bookkeeping are gone. */
  reset(): void {
    this.sentRenewals.clear();
    this.confirmedRenewalSentAtMs = null;
    this.renewalAppliedAtMs = null;
    this.raftLeaderSinceMs = null;
    this.raftLeaderTerm = 0;
    this.fenceUntilMs = null;
    this.trackedLife = -1;
    this.syncProposal = null;
    this.confirmedSyncEpoch = null;
    this.handover = null;
  }

  fenceExpired(): boolean {
    return this.fenceUntilMs !== null && this.localMs() >= this.fenceUntilMs;
  }

  // ---- the applied log ----

  /** The core applied `entry` (the node's state machine already holds it). */
  onApplied(entry: Entry): void {
    if (this.trackedLife !== this.node.life || entry.index !== this.trackedIndex + 1) {
      this.rebuild();
      return;
    }
    this.trackedIndex = entry.index;
    if (entry.type !== 'normal' || entry.data.byteLength === 0) return;
    const command = decodePayload(textDecoder.decode(entry.data));
    if (command === null) return;
    const before = this.state;
    const outcome = applyCommand(before, command);
    this.state = outcome.state;
    this.noteApplied(before, command, outcome.result);
  }

  /** Catch up with a restart or an installed snapshot: replay the state machine's payloads. */
  syncView(): void {
    if (this.trackedLife !== this.node.life || this.trackedIndex !== this.node.applied) this.rebuild();
  }

  private rebuild(): void {
    const bytes = this.node.stateMachine.encode();
    let state = initialClusterState();
    if (bytes.byteLength > 0) {
      for (const text of textDecoder.decode(bytes).split('\n')) {
        const command = decodePayload(text);
        if (command !== null) state = applyCommand(state, command).state;
      }
    }
    this.state = state;
    this.trackedLife = this.node.life;
    this.trackedIndex = this.node.applied;
    // Renewals inside a snapshot were not seen one by one: count them as applied now (later, so safer).
    if (state.leader !== null) this.renewalAppliedAtMs = this.localMs();
    const found = this.env.recorder.applied(this.id, this.node.life, state.epoch);
    if (found) this.env.failHa(found);
  }

  private noteApplied(before: ClusterState, command: ClusterCommand, result: ApplyResult): void {
    const found = this.env.recorder.applied(this.id, this.node.life, this.state.epoch);
    if (found) this.env.failHa(found);
    if (this.node.role.role === 'leader' && (command.type === 'promote' || command.type === 'setSync' || command.type === 'releaseLeader')) {
      const detail = result.ok ? 'ok' : result.code;
      this.env.log(this.id, () => `applied ${command.type} ${JSON.stringify({ ...command, type: undefined, atMs: undefined })}: ${detail}`);
    }
    if (command.type === 'setSync' && this.syncProposal?.atMs === command.atMs) {
      this.syncProposal.resolved = true;
      this.confirmedSyncEpoch = result.ok ? (result.syncEpoch ?? null) : null;
    }
    if (!result.ok) return;
    if (command.type === 'promote') {
      this.renewalAppliedAtMs = this.localMs();
      const switched = this.state.history.length > before.history.length;
      const granted = this.env.recorder.granted(this.state.epoch, command.candidate, command.timeline, switched);
      if (granted) this.env.failHa(granted);
    } else if (command.type === 'renewLease') {
      this.renewalAppliedAtMs = this.localMs();
      if (command.member === this.id && this.sentRenewals.has(command.atMs)) {
        this.sentRenewals.delete(command.atMs);
        if (this.confirmedRenewalSentAtMs === null || command.atMs > this.confirmedRenewalSentAtMs) {
          this.confirmedRenewalSentAtMs = command.atMs;
          // Pet the fence: PostgreSQL may run until the lease ends, counted from the SEND time.
          const values = this.state.config.values;
          this.fenceUntilMs = command.atMs + values.ttl_ms - values.safety_margin_ms;
        }
      }
    }
  }

  // ---- the HA loop ----

  loop(): void {
    this.syncView();
    const nowMs = this.localMs();
    this.trackRaftLeadership(nowMs);
    if (this.handover !== null && this.continueHandover(nowMs)) {
      this.failover(this.observation(nowMs));
      return;
    }
    if (this.bootstrap(nowMs)) return;
    const observation = this.observation(nowMs);
    this.executeLocal(decideLocal(observation), nowMs);
    this.failover(observation);
    this.manageSync();
  }

  private trackRaftLeadership(nowMs: number): void {
    const status = this.node.status();
    if (status !== null && this.node.role.role === 'leader') {
      if (status.term !== this.raftLeaderTerm) {
        this.raftLeaderTerm = status.term;
        this.raftLeaderSinceMs = nowMs;
      }
    } else {
      this.raftLeaderTerm = 0;
      this.raftLeaderSinceMs = null;
    }
  }

  /** Registration, dynamic config, initdb, base backup: true while the node is not ready for HA decisions. */
  private bootstrap(nowMs: number): boolean {
    const state = this.state;
    const self = this.id;
    if (state.members[self] === undefined) {
      this.propose({ type: 'registerMember', atMs: nowMs, member: self, raftAddress: `${self}:7400`, postgresHost: self, postgresPort: 5432, httpAddress: `${self}:8008` });
      return true;
    }
    if (this.isInitializer && state.config.version === 0) {
      const patch = { ttl_ms: this.config.ttl_ms, loop_wait_ms: this.config.loop_wait_ms, safety_margin_ms: this.config.safety_margin_ms };
      this.propose({ type: 'patchConfig', atMs: nowMs, expectedVersion: 0, patch: { ...patch, synchronous_mode: this.config.synchronous_mode, synchronous_node_count: this.config.synchronous_node_count } });
      return true;
    }
    const init = state.initialize;
    if (init === null) {
      if (this.isInitializer && state.config.version > 0) this.propose({ type: 'initializeClaim', atMs: nowMs, member: self });
      return true;
    }
    if (init.systemIdentifier === null) {
      if (init.member === self) this.propose({ type: 'initializeDone', atMs: nowMs, member: self, systemIdentifier: SYSTEM_IDENTIFIER, credentials: SIM_CREDENTIALS });
      return true;
    }
    if (!this.pg.running) {
      if (!this.pg.initialized) {
        this.pg.initialized = true;
        this.pg.role = init.member === self ? 'primary' : 'replica';
        this.pg.wal = init.member === self ? [{ tl: 1, end: 0 }] : [];
      }
      this.pg.running = true;
      this.env.log(self, () => `postgres started as ${this.pg.role} on timeline ${walTimeline(this.pg.wal)}`);
    }
    return false;
  }

  private observation(nowMs: number): HaObservation {
    return {
      nowMs,
      self: this.id,
      state: this.state,
      isRaftLeader: this.node.role.role === 'leader',
      lease: { confirmedRenewalSentAtMs: this.confirmedRenewalSentAtMs },
      observed: { renewalAppliedAtMs: this.renewalAppliedAtMs, raftLeaderSinceMs: this.raftLeaderSinceMs },
      postgres: { running: this.pg.running, role: this.pg.role, timeline: walTimeline(this.pg.wal) || null },
      candidates: null,
      raftVoters: this.node.conf.voters,
    };
  }

  private executeLocal(decision: LocalDecision, nowMs: number): void {
    switch (decision.kind) {
      case 'renewLease':
        this.sentRenewals.add(nowMs);
        // The real runner renews and waits first; the model cannot wait, so it hands over on the lease it has.
        if (this.env.broken.unsafeHandover) {
          this.propose({ type: 'renewLease', atMs: nowMs, member: this.id, epoch: decision.epoch });
          if (decision.reason === 'HOLDS_LEASE') this.maybeStartSwitchover(nowMs);
          return;
        }
        if (decision.reason === 'HOLDS_LEASE' && this.maybeStartSwitchover(nowMs)) return;
        this.propose({ type: 'renewLease', atMs: nowMs, member: this.id, epoch: decision.epoch });
        return;
      case 'demote':
        if (this.env.broken.noSelfDemotion && decision.reason === 'LEASE_LOST') return;
        this.env.log(this.id, () => `demote (${decision.reason}, holder ${decision.holder ?? '-'})`);
        this.env.counts.demotions++;
        this.pg.demote();
        this.fenceUntilMs = null;
        this.confirmedRenewalSentAtMs = null;
        return;
      case 'promote':
        return this.promoteLocal();
      case 'claimFirstLease':
        this.propose(firstLeaseCommand(this.id, decision, '0/0', nowMs));
        return;
      case 'none':
        return;
    }
  }

  /** The cluster granted this node the leader key: pg_promote forks a new timeline at what it received. */
  private promoteLocal(): void {
    const leader = this.state.leader!;
    const pg = this.pg;
    pg.role = 'primary';
    pg.connectedTo = null;
    pg.caughtUp = false;
    // Commits wait for nobody we do not know is in sync: writes block until sync.ts has set sssn.
    pg.sssn = this.state.config.values.synchronous_mode === 'off' ? null : { value: { kind: 'blockWrites' }, setAtLsn: lsnText(walEnd(pg.wal)) };
    this.confirmedRenewalSentAtMs = null;
    this.fenceUntilMs = null;
    this.confirmedSyncEpoch = null;
    if (walTimeline(pg.wal) >= leader.timeline) {
      this.env.log(this.id, () => `postgres resumes as primary on timeline ${walTimeline(pg.wal)} (epoch ${leader.epoch})`);
      return;
    }
    pg.wal = fork(pg.wal, leader.timeline);
    this.env.counts.failovers++;
    this.env.log(this.id, () => `promoted: timeline ${leader.timeline} from ${walEnd(pg.wal)} (epoch ${leader.epoch})`);
    const found = this.env.recorder.fork({ node: this.id, tl: leader.timeline, wal: pg.wal });
    if (found) this.env.failHa(found);
  }

  /** switchover.ts, as switchover-runner.ts runs it: stop cleanly within the lease, hand over once the candidate has everything. */
  private maybeStartSwitchover(nowMs: number): boolean {
    const observe = (candidates: CandidatePosition[] | null) => decideSwitchover({ wallNowMs: nowMs, self: this.id, state: this.state, candidates });
    let decision = observe(null);
    if (decision.kind === 'queryCandidates') decision = observe(this.env.queryCandidates(this.id, decision.members));
    if (decision.kind === 'cancel') {
      this.env.log(this.id, () => `switchover cancelled: ${decision.excluded.map((e) => `${e.member} ${e.reason}`).join(', ') || 'no candidate'}`);
      this.propose({ type: 'cancelSwitchover', atMs: nowMs });
      return false;
    }
    if (decision.kind !== 'execute' || this.confirmedRenewalSentAtMs === null) return false;
    const values = this.state.config.values;
    const deadlineMs = this.confirmedRenewalSentAtMs + values.ttl_ms - values.safety_margin_ms - HANDOVER_LEASE_RESERVE_MS;
    if (deadlineMs <= nowMs) return false;
    const pg = this.pg;
    const checkpoint = walEnd(pg.wal);
    pg.wal = appendWrite(pg.wal, walTimeline(pg.wal)).wal;
    this.env.cleanStop(this.id);
    this.fenceUntilMs = null;
    this.handover = { candidate: decision.candidate, epoch: decision.expectedEpoch, timeline: decision.timeline, checkpoint, deadlineMs, proposed: false };
    this.env.log(this.id, () => `switchover to ${decision.candidate}: stopped cleanly, shutdown checkpoint at ${checkpoint}`);
    return true;
  }

  /** True while PostgreSQL must stay stopped for the handover. */
  private continueHandover(nowMs: number): boolean {
    const h = this.handover!;
    const leader = this.state.leader;
    if (leader === null || leader.member !== this.id || leader.epoch !== h.epoch) {
      this.handover = null;
      this.env.log(this.id, () => `switchover over: the leader key is with ${leader?.member ?? 'nobody'}`);
      return false;
    }
    if (nowMs >= h.deadlineMs) {
      this.handover = null;
      this.env.log(this.id, () => `switchover to ${h.candidate} cancelled: it did not catch up within the lease`);
      this.propose({ type: 'cancelSwitchover', atMs: nowMs });
      return false;
    }
    if (!h.proposed) {
      const position = this.env.queryCandidates(this.id, [h.candidate])[0];
      if (position !== undefined && caughtUpWithShutdown(position, lsnText(h.checkpoint))) {
        h.proposed = true;
        this.env.counts.handovers++;
        // From here the outcome may be unknown: the lease is forgotten (PostgreSQL is writable again only
        // after a renewal confirmed anew), and the promote is refused if any renewal commits before it.
        const unsafe = this.env.broken.unsafeHandover;
        if (!unsafe) this.forgetLease();
        const expectedRenewalSeq = unsafe ? null : leader.lastRenewal.seq;
        this.propose(handoverCommand({ candidate: h.candidate, expectedEpoch: h.epoch, timeline: h.timeline }, { switchLsn: position.receiveLsn!, expectedRenewalSeq, reason: 'switchover', atMs: nowMs }));
      }
    }
    return true;
  }

  private failover(observation: HaObservation): void {
    let decision = decideFailover(observation);
    if (decision.kind === 'queryCandidates') {
      const candidates = this.env.queryCandidates(this.id, decision.members);
      decision = decideFailover({ ...observation, candidates });
    }
    if (decision.kind !== 'promote') return;
    this.env.log(this.id, () => `failover: promote ${decision.candidate} to timeline ${decision.timeline} (${decision.reason})`);
    this.propose(failoverCommand(decision, observation.nowMs));
  }

  private manageSync(): void {
    const pg = this.pg;
    const nowMs = this.localMs();
    // One setSync in flight at a time (until applied, or presumed lost after ttl).
    const proposal = this.syncProposal;
    if (proposal !== null && !proposal.resolved && nowMs - proposal.atMs < this.state.config.values.ttl_ms) return;
    for (let i = 0; i < SYNC_STEPS_PER_LOOP_MAX; i++) {
      if (!pg.running || pg.role !== 'primary') return;
      const syncConfirmed = this.confirmedSyncEpoch !== null && this.confirmedSyncEpoch === this.state.sync.epoch;
      const replication = this.env.replicationRows(this.id);
      const decision = decideSync({ state: this.state, self: this.id, currentSssn: pg.sssn, replication, syncConfirmed });
      if (decision.kind === 'none') return;
      if (decision.kind === 'recordSync') {
        this.env.counts.syncRecords++;
        const { members, expectedEpoch, leaderEpoch } = decision;
        this.syncProposal = { atMs: nowMs, resolved: false };
        this.confirmedSyncEpoch = null;
        this.propose({ type: 'setSync', atMs: nowMs, members, expectedEpoch, leaderEpoch });
        return;
      }
      this.env.counts.sssnChanges++;
      pg.sssn = decision.value === null ? null : { value: decision.value, setAtLsn: lsnText(walEnd(pg.wal)) };
      this.env.log(this.id, () => `synchronous_standby_names: ${decision.value === null ? "''" : JSON.stringify(decision.value)} (${decision.reason})`);
    }
  }

  private propose(command: ClusterCommandInput): void {
    this.env.propose(this.node, command);
  }
}

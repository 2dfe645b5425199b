import type { ClusterState } from '../cluster/state.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Logger } from '../lib/logger.js';
import type { CandidatePosition, Exclusion } from './candidates.js';
import type { HaExecutor } from './executor.js';
import type { FenceControl } from './fence-keeper.js';
import { caughtUpWithShutdown, decideSwitchover, handoverCommand, HANDOVER_LEASE_RESERVE_MS, type SwitchoverDecision } from './switchover.js';

/**
 * The primary's side of a switchover, executed (the rules are in
 * switchover.ts). Runs inside the HA loop's turn, so nothing else touches
 * PostgreSQL meanwhile. Every step fits in the lease the primary renewed
 * just before: the fence stays armed until PostgreSQL has stopped, and if
 * the handover cannot complete in time the request is cancelled and the
 * lifecycle rules start the primary again (it still holds the lease). Once
 * the promote is proposed the old lease is forgotten: the promote carries
 * the renewal it was decided on, so either it commits and every later
 * renewal is refused, or a renewal commits first and the promote is.
 */

export interface SwitchoverRunnerOptions {
  readonly self: string;
  readonly store: ClusterStore;
  readonly executor: HaExecutor;
  readonly fence: FenceControl | null;
  readonly log: Logger;
  readonly now: () => number;
  readonly wallNow: () => number;
  readonly queryPositions: (members: readonly string[], timeoutMs: number) => Promise<CandidatePosition[]>;
  /** Commit a renewal of the lease at `epoch` (pets the fence); false when it was not confirmed. */
  readonly renew: (epoch: number) => Promise<boolean>;
  /** What is left of this node's confirmed lease, ms. */
  readonly leaseRemainingMs: () => number;
  /** Drop the confirmed lease: PostgreSQL may run as primary again only after a renewal confirmed from now on. */
  readonly forgetLease: () => void;
}

export type SwitchoverCancelReason = 'NO_CANDIDATE' | 'STOP_FAILED' | 'UNCLEAN_SHUTDOWN' | 'CANDIDATE_BEHIND' | 'PROMOTE_REFUSED';

const CATCH_UP_POLL_MS = 50;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SwitchoverRunner {
  private lastScheduledLog = '';

  constructor(private readonly o: SwitchoverRunnerOptions) {}

  /** Run a pending switchover this node must run; true when it stopped PostgreSQL (the caller skips its other primary duties). */
  async maybeRun(): Promise<boolean> {
    let state = this.o.store.local();
    let decision = this.decide(state, null);
    if (decision.kind === 'queryCandidates') {
      const positions = await this.o.queryPositions(decision.members, state.config.values.candidate_query_timeout_ms);
      state = this.o.store.local();
      decision = this.decide(state, positions);
    }
    switch (decision.kind) {
      case 'none':
        this.logScheduled(state, decision);
        return false;
      case 'queryCandidates':
        return false;
      case 'cancel':
        await this.cancel('NO_CANDIDATE', decision.excluded);
        return false;
      case 'execute':
        await this.execute(state, decision);
        return true;
    }
  }

  private decide(state: ClusterState, candidates: readonly CandidatePosition[] | null): SwitchoverDecision {
    return decideSwitchover({ wallNowMs: this.o.wallNow(), self: this.o.self, state, candidates });
  }

  private logScheduled(state: ClusterState, decision: Extract<SwitchoverDecision, { kind: 'none' }>): void {
    if (decision.reason !== 'SCHEDULED') return;
    const key = JSON.stringify(state.switchover);
    if (key === this.lastScheduledLog) return;
    this.lastScheduledLog = key;
    this.o.log.info({ to: state.switchover?.to ?? null, scheduledAt: new Date(state.switchover!.scheduledAtMs!).toISOString(), inMs: decision.waitMs }, 'ha.switchover_scheduled');
  }

  private async execute(state: ClusterState, d: Extract<SwitchoverDecision, { kind: 'execute' }>): Promise<void> {
    const log = this.o.log.child({ candidate: d.candidate, epoch: d.expectedEpoch });
    const started = this.o.now();
    // A fresh lease gives the whole ttl - safety_margin to checkpoint, stop and hand over.
    if (!(await this.o.renew(d.expectedEpoch))) {
      log.warn({ reason: 'the lease renewal before the switchover was not confirmed; retrying next loop' }, 'ha.switchover_deferred');
      return;
    }
    log.warn({ timeline: d.timeline, excluded: d.excluded, leaseRemainingMs: Math.round(this.o.leaseRemainingMs()) }, 'ha.switchover_started');
    let checkpointLsn: string | null;
    try {
      checkpointLsn = await this.o.executor.stopForSwitchover(state, this.o.leaseRemainingMs() - HANDOVER_LEASE_RESERVE_MS);
    } catch (error) {
      // Still running (the checkpoint failed) or not stopped: the next loop sees which. One attempt
      // per request: an operator asks again rather than the primary stalling in a retry loop.
      log.error({ err: (error as Error).message }, 'ha.switchover_stop_failed');
      await this.cancel('STOP_FAILED', []);
      return;
    }
    this.o.fence?.disarm();
    const stoppedMs = Math.round(this.o.now() - started);
    if (checkpointLsn === null) {
      await this.cancel('UNCLEAN_SHUTDOWN', []);
      return;
    }
    let position: CandidatePosition | undefined;
    for (;;) {
      const remaining = this.o.leaseRemainingMs() - HANDOVER_LEASE_RESERVE_MS;
      if (remaining <= 0) {
        log.error({ checkpointLsn, candidateLsn: position?.receiveLsn ?? null }, 'ha.switchover_candidate_behind');
        await this.cancel('CANDIDATE_BEHIND', []);
        return;
      }
      [position] = await this.o.queryPositions([d.candidate], Math.max(50, Math.min(500, remaining)));
      if (position !== undefined && caughtUpWithShutdown(position, checkpointLsn)) break;
      await sleep(CATCH_UP_POLL_MS);
    }
    // The renewal the promote is decided on, read linearizably (this follower may not have applied its own
    // latest renewal yet): apply refuses the promote if any renewal commits before it (LEASE_RENEWED).
    const current = await this.o.store.read();
    if (current.leader?.member !== this.o.self || current.leader.epoch !== d.expectedEpoch) {
      log.error({ holder: current.leader?.member ?? null, holderEpoch: current.leader?.epoch ?? null }, 'ha.switchover_lost_leader_key');
      return;
    }
    // From here the outcome may be unknown (a timeout): never start PostgreSQL as primary on the lease
    // held before; the lifecycle renews first, and that renewal and this promote exclude each other.
    this.o.forgetLease();
    const requestedAt = state.switchover?.requestedAtMs;
    const reason = `switchover from ${this.o.self}${requestedAt === undefined ? '' : ` requested at ${new Date(requestedAt).toISOString()}`}`;
    const result = await this.o.store.propose(
      handoverCommand(d, { switchLsn: position.receiveLsn!, expectedRenewalSeq: current.leader.lastRenewal.seq, reason, atMs: this.o.wallNow() }),
    );
    if (!result.ok) {
      log.error({ code: result.code, detail: result.reason }, 'ha.switchover_promote_refused');
      await this.cancel('PROMOTE_REFUSED', []);
      return;
    }
    log.warn({ newEpoch: result.epoch, checkpointLsn, candidateLsn: position.receiveLsn, stoppedMs, elapsedMs: Math.round(this.o.now() - started) }, 'ha.switchover_handed_over');
  }

  private async cancel(reason: SwitchoverCancelReason, excluded: readonly Exclusion[]): Promise<void> {
    const result = await this.o.store.propose({ type: 'cancelSwitchover', atMs: this.o.wallNow() }).catch((error: Error) => ({ ok: false as const, code: error.message, reason: '' }));
    this.o.log.error({ reason, excluded, cancelled: result.ok }, 'ha.switchover_cancelled');
  }
}

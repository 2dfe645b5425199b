import { status as Status } from '@grpc/grpc-js';
import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ApplySuccess } from '../cluster/results.js';
import type { ClusterState } from '../cluster/state.js';
import type { Logger } from '../lib/logger.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal } from './errors.js';
import { checkCandidates, checkHandover, describeSwitchover, membersToAsk, type TrackedHandover } from './handover.js';
import { isRaftUnavailable, proposeCommand, readForAction, refusalOf } from './raft-calls.js';
import type { HandoverRequest } from './requests.js';
import { clusterStatusView, pauseView, switchoverView } from './status-view.js';
import { formatTime } from './time.js';
import { waitForHandover } from './wait.js';
import type { WireCancelSwitchoverResponse, WireClusterStatusResponse, WirePauseResponse, WireSwitchoverResponse } from './wire.js';

/** A linearizable read for ClusterStatus; past it the answer is the local state, marked stale. */
export const STATUS_READ_TIMEOUT_MS = 2_000;

/** One call's context: until when, and the log fields the action adds. */
export interface ActionContext {
  /** performance.now() time by which the call must be answered. */
  readonly deadlineMs: number;
  /** Aborts when the client goes away or the agent stops. */
  readonly signal: AbortSignal;
  readonly fields: Record<string, unknown>;
}

/**
 * What the cluster-status, handover and pause RPCs do, over an AdminBackend
 * (the configuration's: config-actions.ts). Refusals are thrown as
 * AdminRefusal (status, reason, message); errors of Raft become UNAVAILABLE
 * (raft-calls.ts), so the message can say what may have happened anyway.
 */
export class AdminActions {
  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
  ) {}

  async clusterStatus(local: boolean): Promise<WireClusterStatusResponse> {
    const b = this.backend;
    let state: ClusterState;
    let staleReason = '';
    if (local) {
      state = b.local();
    } else {
      try {
        state = await b.read(STATUS_READ_TIMEOUT_MS);
      } catch (error) {
        if (!isRaftUnavailable(error)) throw error;
        state = b.local();
        staleReason = `no linearizable read: ${(error as Error).message}`;
      }
    }
    return clusterStatusView({ self: b.self, clusterName: b.clusterName, state, linearizable: !local && staleReason === '', staleReason, raft: b.raft(), ha: b.haStatus() });
  }

  /** Switchover and operator failover: check, record requestSwitchover, then wait for the new primary unless scheduled. */
  async handover(request: HandoverRequest, ctx: ActionContext): Promise<WireSwitchoverResponse> {
    const startedMs = performance.now();
    Object.assign(ctx.fields, { candidate: request.candidate, scheduledAt: formatTime(request.scheduledAtMs) || undefined });
    const state = await this.read();
    const source = checkHandover(state, request);
    const members = membersToAsk(state, source.from, request.candidate);
    const positions = members.length === 0 ? [] : await this.backend.queryPositions(members, state.config.values.candidate_query_timeout_ms);
    const choice = checkCandidates(state, positions, request.candidate);
    ctx.fields['wouldPromote'] = choice.member;
    const atMs = this.backend.wallNow();
    const command = { type: 'requestSwitchover', atMs, from: source.from, to: request.candidate, scheduledAtMs: request.scheduledAtMs } as const;
    await this.proposeOrRefuse(command, 'the switchover request');
    const tracked: TrackedHandover = { request: { from: source.from, to: request.candidate, scheduledAtMs: request.scheduledAtMs, requestedAtMs: atMs }, epoch: source.epoch };
    const summary = describeSwitchover(tracked.request);
    if (request.scheduledAtMs !== null) {
      return { outcome: 'SWITCHOVER_OUTCOME_SCHEDULED', from: source.from, to: request.candidate ?? '', epoch: 0, timeline: 0, scheduled_at: formatTime(request.scheduledAtMs), elapsed_ms: 0, message: `${summary}: recorded` };
    }
    const recordedMs = performance.now();
    const done = await waitForHandover(this.backend, tracked, Math.min(ctx.deadlineMs, startedMs + request.waitMs), ctx.signal, this.log);
    const elapsedMs = Math.round(performance.now() - recordedMs);
    Object.assign(ctx.fields, { newPrimary: done.member, epoch: done.epoch, elapsedMs });
    const other = request.candidate !== null && done.member !== request.candidate ? ` (the request named ${request.candidate})` : '';
    return {
      outcome: 'SWITCHOVER_OUTCOME_COMPLETED',
      from: source.from,
      to: done.member,
      epoch: done.epoch,
      timeline: done.timeline,
      scheduled_at: '',
      elapsed_ms: elapsedMs,
      message: `${done.member} is the primary${other} at epoch ${done.epoch} on timeline ${done.timeline}, ${elapsedMs} ms after the request`,
    };
  }

  async cancelSwitchover(ctx: ActionContext): Promise<WireCancelSwitchoverResponse> {
    const pending = (await this.read()).switchover;
    if (pending === null) throw new AdminRefusal(Status.NOT_FOUND, 'NO_SWITCHOVER', 'no switchover is pending: nothing to cancel');
    ctx.fields['cancelled'] = describeSwitchover(pending);
    await this.proposeOrRefuse({ type: 'cancelSwitchover', atMs: this.backend.wallNow() }, 'the cancellation');
    return { cancelled: switchoverView(pending) };
  }

  /** Pause (paused true) or resume, recorded as changed `by`; refused when the cluster already is in that state. */
  async setPause(paused: boolean, by: string): Promise<WirePauseResponse> {
    const current = (await this.read()).pause;
    const already = (): AdminRefusal => {
      const since = current.by === null ? '' : ` (since ${formatTime(current.atMs)}, by ${current.by})`;
      return paused
        ? new AdminRefusal(Status.FAILED_PRECONDITION, 'ALREADY_PAUSED', `the cluster is already paused${since}: nothing changed`)
        : new AdminRefusal(Status.FAILED_PRECONDITION, 'NOT_PAUSED', `the cluster is not paused${since}: nothing changed`);
    };
    if (current.paused === paused) throw already();
    const atMs = this.backend.wallNow();
    const result = await this.proposeOrRefuse({ type: 'setPause', atMs, paused, by }, paused ? 'the pause' : 'the resume');
    if (result.changed === false) throw already();
    return { pause: pauseView({ paused, by, atMs }) };
  }

  private read(): Promise<ClusterState> {
    return readForAction(this.backend);
  }

  /** Propose and require ok: a refusal by the cluster state is its status (raft-calls.ts). */
  private async proposeOrRefuse(command: ClusterCommandInput, what: string): Promise<ApplySuccess> {
    const result = await proposeCommand(this.backend, command, what);
    this.log.debug({ command: command.type, ok: result.ok }, 'admin.proposed');
    if (result.ok) return result;
    throw refusalOf(result, what);
  }
}

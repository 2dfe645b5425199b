import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ClusterState, MemberAction } from '../cluster/state.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Logger } from '../lib/logger.js';
import { buildServerArgs } from '../postgres/index.js';
import { changedSettings, pendingRestartParameters, readPostmasterOpts } from '../postgres/pending.js';
import type { HaExecutor } from './executor.js';
import type { MemberActionDecision } from './member-actions.js';

/**
 * A member's operator actions (restart, reload, reinit), executed: the
 * rules are in member-actions.ts. Each runs as one step of the HA loop, so
 * nothing else touches PostgreSQL meanwhile: the member records that it
 * started (running), does it, and records how it ended (done, skipped,
 * failed) with one line for the operator. Logs one line per change:
 * ha.<kind>_started, ha.<kind>_done | _skipped | _failed.
 *
 * A primary's restart keeps its lease: it renews before it stops
 * PostgreSQL and every loop_wait while it is down, as the loop does for a
 * crashed primary, for at most primary_start_timeout_ms; a restart that
 * takes longer lets the lease lapse (the fence stops PostgreSQL, the Raft
 * leader fails over), as a primary that does not come back would.
 */

export interface ActionRunnerOptions {
  readonly self: string;
  readonly store: ClusterStore;
  readonly executor: HaExecutor;
  readonly log: Logger;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  readonly wallNow: () => number;
  /** Commit a renewal of the lease at `epoch` (pets the fence); false when it was not confirmed. */
  readonly renew: (epoch: number) => Promise<boolean>;
}

type Ended = 'done' | 'skipped' | 'failed';
type Acting = Exclude<MemberActionDecision, { kind: 'none' | 'fail' }>;

/** pg_settings.pending_restart reflects a reload only once the postmaster processed the SIGHUP. */
const RELOAD_SETTLE_MS = 300;
/** Unreported outcomes kept for a retry (one per action; an agent has one open action at a time). */
const UNREPORTED_MAX = 8;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class ActionRunner {
  private readonly handledIds = new Set<string>();
  /** Outcomes whose report did not commit (Raft unavailable): sent again at the next turn. */
  private readonly unreported: ClusterCommandInput[] = [];
  private lastScheduledLog = '';

  constructor(private readonly o: ActionRunnerOptions) {}

  /** The ids this agent process took up (MemberActionObservation.handled). */
  get handled(): ReadonlySet<string> {
    return this.handledIds;
  }

  /** Do what `decision` says; true when it acted (the loop runs again at once). */
  async step(state: ClusterState, decision: MemberActionDecision): Promise<boolean> {
    await this.reportAgain();
    if (decision.kind === 'none') {
      if (decision.reason === 'SCHEDULED') this.logScheduled(state.actions[this.o.self]!, decision.waitMs);
      return false;
    }
    const action = decision.action;
    const log = this.o.log.child({ action: action.kind, actionId: action.id, requestedBy: action.by });
    this.handledIds.add(action.id);
    if (decision.kind === 'fail') {
      log.error({ reason: decision.reason, detail: decision.detail }, `ha.${action.kind}_failed`);
      await this.report(action, 'failed', decision.detail);
      return true;
    }
    if (decision.kind !== 'reinit' && decision.role === 'primary' && !(await this.o.renew(decision.epoch!))) {
      this.handledIds.delete(action.id);
      log.warn({ reason: 'the lease renewal before the action was not confirmed; retrying next loop' }, `ha.${action.kind}_deferred`);
      return false;
    }
    let started;
    try {
      started = await this.o.store.propose({ type: 'updateMemberAction', atMs: this.o.wallNow(), member: this.o.self, id: action.id, status: 'running', detail: '' });
    } catch (error) {
      // Not recorded as started (Raft unavailable): take it up again next turn.
      this.handledIds.delete(action.id);
      throw error;
    }
    if (!started.ok) {
      log.warn({ code: started.code, detail: started.reason }, `ha.${action.kind}_not_started`);
      return true;
    }
    const startedMs = this.o.now();
    log.warn({ pendingOnly: action.pendingOnly || undefined, role: 'role' in decision ? decision.role : undefined, source: 'source' in decision ? decision.source : undefined }, `ha.${action.kind}_started`);
    let outcome: { status: Ended; detail: string };
    try {
      outcome = await this.work(state, decision);
    } catch (error) {
      outcome = { status: 'failed', detail: (error as Error).message.slice(0, 900) };
    }
    const elapsedMs = Math.round(this.o.now() - startedMs);
    const line = { detail: outcome.detail, elapsedMs };
    if (outcome.status === 'failed') log.error(line, `ha.${action.kind}_failed`);
    else log.warn(line, `ha.${action.kind}_${outcome.status}`);
    await this.report(action, outcome.status, outcome.detail);
    return true;
  }

  private async work(state: ClusterState, d: Acting): Promise<{ status: Ended; detail: string }> {
    const ex = this.o.executor;
    const controller = ex.controller(state.initialize?.credentials ?? null);
    const startedMs = this.o.now();
    const took = (): number => Math.round(this.o.now() - startedMs);
    switch (d.kind) {
      case 'reinit':
        await ex.reinit(state, d.source);
        return { status: 'done', detail: `re-cloned from ${d.source} with pg_basebackup in ${took()} ms and started as its replica` };
      case 'reload': {
        await controller.reload();
        await sleep(RELOAD_SETTLE_MS);
        const pending = await this.pendingRestart(state, d.role);
        const after = pending.length === 0 ? 'nothing is pending a restart' : `a restart is pending for ${pending.join(', ')}: pgherdctl restart --pending applies it`;
        return { status: 'done', detail: `reloaded the configuration files (pg_hba.conf, postgresql.conf, postgresql.auto.conf); ${after}` };
      }
      case 'restart': {
        const pending = await this.pendingRestart(state, d.role);
        if (d.action.pendingOnly && pending.length === 0) return { status: 'skipped', detail: 'nothing is pending a restart: PostgreSQL runs with the settings it would start with' };
        const before = (await controller.status()).pid;
        const keeper = d.role === 'primary' ? this.keepLease(d.epoch!, startedMs + state.config.values.primary_start_timeout_ms, state.config.values.loop_wait_ms) : null;
        try {
          await ex.restart(state, d.role, d.role === 'primary' ? null : (state.leader?.member ?? null));
        } finally {
          await keeper?.stop();
        }
        const after = (await controller.status()).pid;
        const applied = pending.length === 0 ? '' : `; applied ${pending.join(', ')}`;
        return { status: 'done', detail: `restarted as ${d.role} in ${took()} ms (postmaster ${before ?? 'none'} -> ${after ?? 'none'})${applied}` };
      }
    }
  }

  /** What a restart would change now: command-line settings that differ from the running ones, and pg_settings.pending_restart. */
  private async pendingRestart(state: ClusterState, role: 'primary' | 'replica'): Promise<string[]> {
    const ex = this.o.executor;
    const running = await readPostmasterOpts(ex.pgDataDir);
    const wanted = buildServerArgs(ex.serverSettings(state, role === 'primary' ? null : (state.leader?.member ?? null)));
    const changed = running === undefined ? [] : changedSettings(running, wanted).map((c) => `${c.name} (${c.running ?? 'unset'} -> ${c.wanted ?? 'unset'})`);
    const reported = await pendingRestartParameters(await ex.connection(state.initialize?.credentials ?? null));
    const seen = new Set(changed.map((text) => text.split(' ')[0]));
    return [...changed, ...reported.filter((name) => !seen.has(name))];
  }

  /** Renew the lease every loopWaitMs until stopped or until untilMs (monotonic). */
  private keepLease(epoch: number, untilMs: number, loopWaitMs: number): { stop: () => Promise<void> } {
    let stopped = false;
    let wake: () => void = () => {};
    const run = (async () => {
      while (!stopped && this.o.now() < untilMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, loopWaitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (stopped) return;
        if (!(await this.o.renew(epoch))) this.o.log.warn({ epoch }, 'ha.restart_renewal_failed');
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        wake();
        await run;
      },
    };
  }

  private async report(action: MemberAction, status: Ended, detail: string): Promise<void> {
    const command: ClusterCommandInput = { type: 'updateMemberAction', atMs: this.o.wallNow(), member: this.o.self, id: action.id, status, detail: detail.slice(0, 1000) };
    if (!(await this.send(command))) {
      this.unreported.push(command);
      if (this.unreported.length > UNREPORTED_MAX) this.unreported.shift();
    }
  }

  private async reportAgain(): Promise<void> {
    while (this.unreported.length > 0) {
      if (!(await this.send(this.unreported[0]!))) return;
      this.unreported.shift();
    }
  }

  /** True once the report committed, or was refused for good (the action ended or was replaced meanwhile). */
  private async send(command: ClusterCommandInput): Promise<boolean> {
    try {
      const result = await this.o.store.propose(command);
      if (!result.ok) this.o.log.warn({ code: result.code, detail: result.reason }, 'ha.action_report_refused');
      return true;
    } catch (error) {
      this.o.log.warn({ err: (error as Error).message }, 'ha.action_report_failed');
      return false;
    }
  }

  private logScheduled(action: MemberAction, waitMs: number): void {
    if (action.id === this.lastScheduledLog) return;
    this.lastScheduledLog = action.id;
    this.o.log.info({ action: action.kind, actionId: action.id, scheduledAt: new Date(action.scheduledAtMs!).toISOString(), inMs: waitMs }, `ha.${action.kind}_scheduled`);
  }
}

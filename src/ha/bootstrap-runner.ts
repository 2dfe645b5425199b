import type { ClusterState } from '../cluster/state.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Logger } from '../lib/logger.js';
import type { HaExecutor } from './executor.js';
import type { BootstrapFailure, LifecycleAction } from './lifecycle.js';

/*
 * A new member getting its data (DESIGN §6 step 3), as the lifecycle rules
 * decide it: pg_basebackup (clone), an S3 restore, or — after a restore
 * failed — recording the fallback to pg_basebackup in the plan, so that
 * `pgherdctl list` says why. The failure is remembered here until it is
 * recorded (the rules see it as bootstrapFailure): the restore is not
 * retried while the fallback waits for Raft.
 */

/** The reason is one line of the plan (at most 1 KiB); the full error is in the log. */
const ERROR_IN_REASON_CHARS_MAX = 600;

type BootstrapAction = Extract<LifecycleAction, { kind: 'clone' | 'restore' | 'recordBootstrapFallback' }>;

export interface BootstrapRunnerOptions {
  readonly self: string;
  readonly store: ClusterStore;
  readonly executor: HaExecutor;
  readonly log: Logger;
  readonly wallNow: () => number;
}

export class BootstrapRunner {
  private failureValue: BootstrapFailure | null = null;

  constructor(private readonly o: BootstrapRunnerOptions) {}

  get failure(): BootstrapFailure | null {
    return this.failureValue;
  }

  async run(state: ClusterState, action: BootstrapAction): Promise<void> {
    switch (action.kind) {
      case 'clone':
        try {
          await this.o.executor.clone(state, action.source);
          this.failureValue = null;
        } catch (error) {
          this.failureValue = { kind: 'basebackup', source: action.source, error: oneLine(error) };
          throw error;
        }
        return;
      case 'restore':
        try {
          await this.o.executor.restore(state, action.backupId, action.upstream);
          this.failureValue = null;
        } catch (error) {
          const code = (error as { code?: string }).code;
          this.o.log.error({ backupId: action.backupId, code, err: (error as Error).message }, 'ha.bootstrap_s3_failed');
          this.failureValue = { kind: 's3', backupId: action.backupId, error: oneLine(error) };
        }
        return;
      case 'recordBootstrapFallback': {
        const reason = `S3 restore of ${action.backupId} failed: ${clip(action.error)}; pg_basebackup from ${action.source}`;
        const result = await this.o.store.propose({ type: 'bootstrapFallback', atMs: this.o.wallNow(), member: this.o.self, backupId: action.backupId, source: action.source, reason });
        this.o.log.warn({ backupId: action.backupId, source: action.source, recorded: result.ok, ...(result.ok ? {} : { code: result.code, detail: result.reason }) }, 'ha.bootstrap_fallback');
        // Recorded, or the plan moved on (PLAN_CHANGED): either way the next step follows the plan.
        this.failureValue = null;
        return;
      }
    }
  }
}

function oneLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).replace(/\s+/g, ' ').trim();
}

function clip(text: string): string {
  return text.length <= ERROR_IN_REASON_CHARS_MAX ? text : `${text.slice(0, ERROR_IN_REASON_CHARS_MAX - 1)}…`;
}

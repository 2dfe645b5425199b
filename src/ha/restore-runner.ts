import { BackupError } from '../backup/backup-errors.js';
import type { ClusterState } from '../cluster/state.js';
import type { Logger } from '../lib/logger.js';
import type { HaExecutor } from './executor.js';
import type { RestoreProgress } from './lifecycle.js';
import { readPendingRestore } from './restore-bootstrap.js';

/*
 * The claimant's restore of a new cluster from the store (bootstrap.method
 * restore), as the lifecycle rules ask for it (restoreCluster), and what
 * they need to know about the last attempt (RestoreProgress):
 *  - a refusal (BackupError RESTORE_REFUSED: nothing this node may restore)
 *    is held for RESTORE_REFUSAL_RECHECK_MS, during which the node refuses
 *    (ha.refused) without reading the store again; then it looks again
 *    (a backup may have arrived, or the clock reached the target);
 *  - a failure (the store, the disk, a crash of the server) waits
 *    RESTORE_RETRY_MS before the next attempt (the data directory was
 *    emptied and the claim stays this node's);
 *  - a backup that failed verification here (BackupError INVALID) is not
 *    chosen again by this agent: "latest" then takes the one before it,
 *    which replays the archive to the same end.
 */

export const RESTORE_REFUSAL_RECHECK_MS = 60_000;
export const RESTORE_RETRY_MS = 10_000;
/** Backups remembered as failing verification; more would mean a broken store, not bad luck. */
const SKIPPED_BACKUPS_MAX = 16;

export interface RestoreRunnerOptions {
  readonly executor: HaExecutor;
  /** <data_dir>/restore-pending.json */
  readonly pendingFile: string;
  readonly log: Logger;
  /** Monotonic clock, ms. */
  readonly now: () => number;
}

export class RestoreRunner {
  private refusal: { readonly detail: string; readonly untilMs: number } | null = null;
  private retryAtMs: number | null = null;
  private readonly skip = new Map<string, string>();

  constructor(private readonly o: RestoreRunnerOptions) {}

  /** What the lifecycle rules see of this node's restore (read while the cluster is not initialized). */
  async progress(): Promise<RestoreProgress> {
    const now = this.o.now();
    if (this.refusal !== null && now >= this.refusal.untilMs) this.refusal = null;
    return {
      pending: (await readPendingRestore(this.o.pendingFile)) !== null,
      refusal: this.refusal?.detail ?? null,
      retryAtMs: this.retryAtMs !== null && now < this.retryAtMs ? this.retryAtMs : null,
    };
  }

  async run(state: ClusterState): Promise<void> {
    try {
      await this.o.executor.restoreCluster(state, this.skip);
      this.refusal = null;
      this.retryAtMs = null;
    } catch (error) {
      const code = (error as { code?: string }).code;
      const message = (error as Error).message;
      if (error instanceof BackupError && error.reason === 'RESTORE_REFUSED') {
        this.refusal = { detail: message, untilMs: this.o.now() + RESTORE_REFUSAL_RECHECK_MS };
        this.o.log.error({ code, detail: message, recheckInMs: RESTORE_REFUSAL_RECHECK_MS }, 'ha.restore_refused');
        return;
      }
      if (error instanceof BackupError && error.reason === 'INVALID' && error.backupId !== undefined && this.skip.size < SKIPPED_BACKUPS_MAX) this.skip.set(error.backupId, message);
      this.retryAtMs = this.o.now() + RESTORE_RETRY_MS;
      // Not thrown: logged here once; the rules wait (RESTORE_RETRY) and then ask again.
      this.o.log.error({ code, err: message, retryInMs: RESTORE_RETRY_MS }, 'ha.restore_failed');
    }
  }
}

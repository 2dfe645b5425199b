import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../backup/backup-errors.js';
import { restoreBaseBackup } from '../backup/restore-backup.js';
import type { ObjectStore } from '../backup/store.js';
import type { Logger } from '../lib/logger.js';
import { observe, type LocalConnection, type PgBinaries, type PgOsUser, type PostgresController } from '../postgres/index.js';

/*
 * A new member from an S3 base backup (DESIGN §6 step 3): restore the
 * backup into the empty data directory (restore-backup.ts: SHA-256 and size
 * of the object, tar -x as the postgres user, pg_verifybackup; a backup that
 * fails any check is never used), start it as a standby of the primary with
 * restore_command (it replays the archive) and primary_conninfo with its
 * own slot, and wait until it streams. Any failure leaves the data
 * directory empty again — it was empty, so everything in it is ours — and
 * is thrown for the HA loop, which records the fallback to pg_basebackup.
 */

/** How long the standby may go without replaying anything new before it counts as stuck (missing WAL). */
export const RESTORE_STALL_MS = 60_000;
const POLL_MS = 500;

export interface S3BootstrapDeps {
  /** This member's store (its own configuration); undefined: none configured. */
  readonly store: ObjectStore | undefined;
  readonly cluster: string;
  /** The agent-served restore_command; undefined without a store. */
  readonly restoreCommand: string | undefined;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly dataDir: string;
  readonly controller: () => PostgresController;
  /** Start PostgreSQL as the primary's standby (restore_command and primary_conninfo with this member's slot). */
  readonly startStandby: () => Promise<void>;
  readonly connection: () => Promise<LocalConnection>;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  readonly log: Logger;
  readonly stallMs?: number;
}

export async function bootstrapFromBackup(deps: S3BootstrapDeps, backupId: string): Promise<void> {
  if (deps.store === undefined || deps.restoreCommand === undefined) {
    throw new BackupError('RESTORE_FAILED', 'this member has no backup store configured (backup.store.kind is none)', { backupId });
  }
  const started = deps.now();
  // Empties the directory itself on failure.
  const restored = await restoreBaseBackup({
    store: deps.store,
    cluster: deps.cluster,
    backupId,
    targetDir: deps.dataDir,
    binaries: deps.binaries,
    osUser: deps.osUser,
    restoreCommand: deps.restoreCommand,
    mode: 'standby',
    log: deps.log,
  });
  try {
    await deps.startStandby();
    await untilStreaming(deps, backupId);
  } catch (error) {
    await deps
      .controller()
      .stop({ mode: 'immediate', timeoutMs: 10_000 })
      .catch((stopError: unknown) => deps.log.warn({ err: (stopError as Error).message }, 'ha.bootstrap_s3_stop_failed'));
    await emptyDir(deps.dataDir);
    throw error;
  }
  deps.log.info({ backupId, startLsn: restored.manifest.startLsn, dataBytes: restored.manifest.dataBytes, durationMs: Math.round(deps.now() - started) }, 'ha.bootstrap_s3_done');
}

/** Until the standby streams from the primary; fails when it stops, or replays nothing new for stallMs (WAL missing from the archive and the primary). */
async function untilStreaming(deps: S3BootstrapDeps, backupId: string): Promise<void> {
  const stallMs = deps.stallMs ?? RESTORE_STALL_MS;
  let lastReplay: bigint | null = null;
  let progressAtMs = deps.now();
  for (;;) {
    if (!(await deps.controller().status()).running) {
      throw new BackupError('RESTORE_FAILED', `the standby restored from backup ${backupId} stopped before it streamed (see the PostgreSQL log)`, { backupId });
    }
    const obs = await observe(await deps.connection()).catch(() => undefined);
    if (obs?.role === 'replica' && obs.streaming) return;
    const replay = obs?.role === 'replica' ? obs.replayLsn : null;
    if (replay !== null && (lastReplay === null || replay > lastReplay)) {
      lastReplay = replay;
      progressAtMs = deps.now();
    }
    if (deps.now() - progressAtMs > stallMs) {
      throw new BackupError('RESTORE_FAILED', `the standby restored from backup ${backupId} replayed nothing for ${stallMs} ms and does not stream: WAL missing from the archive and the primary?`, { backupId });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) await rm(join(dir, entry), { recursive: true, force: true });
}

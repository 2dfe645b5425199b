import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from './binaries.js';
import { assertSlotName, removeStandbySignal, scrubAutoConf } from './conf.js';
import { PgTargetNotEmptyError } from './errors.js';
import { mkdirForPg, type PgOsUser } from './os-user.js';
import { withTempPassfile } from './passfile-temp.js';
import { runToolOk } from './tool.js';

/** A whole cluster copy is slow on big databases; the caller sizes this. One hour by default. */
export const BASEBACKUP_TIMEOUT_MS_DEFAULT = 3_600_000;

/** A peer reached over TCP with a password (the replication or rewind role). */
export interface SourceServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface BasebackupOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly targetDir: string;
  readonly source: SourceServer;
  /**
   * This member's slot on the source, created before the copy (DESIGN §6); null when copying from
   * a replica (the slot lives on the primary): pg_basebackup then streams through a temporary slot.
   */
  readonly slotName: string | null;
  /** Empty a non-empty target first (it is refused otherwise). */
  readonly overwrite?: boolean;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

/**
 * Clone a member: `pg_basebackup -X stream -S <slot> --checkpoint=fast` into
 * an empty directory, password via a temporary PGPASSFILE. Afterwards the
 * copied node-specific settings are scrubbed; start it with role 'standby'.
 */
export async function basebackup(options: BasebackupOptions): Promise<{ durationMs: number }> {
  const log = options.log ?? silentLogger;
  if (options.slotName !== null) assertSlotName(options.slotName);
  await mkdirForPg(options.osUser, options.targetDir);
  const entries = await readdir(options.targetDir);
  if (entries.length > 0) {
    if (options.overwrite !== true) throw new PgTargetNotEmptyError(options.targetDir);
    for (const entry of entries) await rm(join(options.targetDir, entry), { recursive: true, force: true });
    log.warn({ targetDir: options.targetDir, entries: entries.length }, 'postgres.basebackup_target_emptied');
  }
  const { source } = options;
  const slotArgs = options.slotName === null ? [] : ['-S', options.slotName];
  const args = ['-D', options.targetDir, '-X', 'stream', ...slotArgs, '--checkpoint=fast', '-h', source.host, '-p', String(source.port), '-U', source.user, '--no-password'];
  log.info({ targetDir: options.targetDir, sourceHost: source.host, sourcePort: source.port, slot: options.slotName }, 'postgres.basebackup_started');
  const run = await withTempPassfile(options.osUser, source.user, source.password, (passfile) =>
    runToolOk('pg_basebackup', options.binaries.path('pg_basebackup'), args, {
      user: options.osUser,
      timeoutMs: options.timeoutMs ?? BASEBACKUP_TIMEOUT_MS_DEFAULT,
      env: { PGPASSFILE: passfile, PGCONNECT_TIMEOUT: '10' },
    }),
  );
  const scrubbed = await scrubAutoConf(options.targetDir);
  await removeStandbySignal(options.targetDir);
  log.info({ targetDir: options.targetDir, durationMs: run.durationMs, scrubbed }, 'postgres.basebackup_done');
  return { durationMs: run.durationMs };
}

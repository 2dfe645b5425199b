import { join } from 'node:path';
import type { ArchiveReport } from '../cluster/state.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import { mkdirForPg, type PgOsUser } from '../postgres/index.js';
import { openStore, type StoreSettings } from '../backup/open-store.js';
import type { ObjectStore } from '../backup/store.js';
import { WAL_ARCHIVED_SPOOL_NAME } from '../backup/wal-archived-spool.js';
import { WalArchiver, type WalArchiverStats } from '../backup/wal-archiver.js';
import { clientScriptPath, findPerl, walCommands, type WalCommands } from '../backup/wal-commands.js';
import { WalRestorer, type WalRestorerStats } from '../backup/wal-restorer.js';
import { WalService } from '../backup/wal-service.js';

/*
 * The backup side of one node (DESIGN §7), wired: the object store, the WAL
 * archiver and restorer behind the agent's WAL socket, and the commands
 * PostgreSQL runs to reach them. Started only when backup.store.kind is not
 * none. A store that does not work never stops the node: the check at start
 * is logged, repeated until it passes, and reported with the member's
 * status (pgherdctl list); archive_command fails meanwhile, so PostgreSQL
 * keeps its WAL and retries.
 */

/** Beside PostgreSQL's own socket (.s.PGSQL.<port>) and no longer, so it fits wherever that fits (sun_path). */
export const WAL_SOCKET_NAME = '.s.pgherd-wal';
/** The store is checked again this often while it fails, and this much less often once it works. */
const STORE_RECHECK_FAILING_MS = 15_000;
const STORE_RECHECK_OK_MS = 5 * 60_000;

export interface BackupRuntime {
  readonly store: ObjectStore;
  /** For buildServerArgs: archive_mode on, archive_command and restore_command. */
  readonly walArchive: WalCommands;
  /** What this member reports with its status. */
  archiveReport(): Promise<ArchiveReport>;
  archiverStats(): WalArchiverStats;
  restorerStats(): WalRestorerStats;
  /** WAL files waiting to be archived now. */
  readyFiles(): Promise<number>;
  /** undefined: not checked yet; null: the last check passed; else what the last check found wrong. */
  storeProblem(): string | null | undefined;
  close(): Promise<void>;
}

/** The store's settings from backup.store; null for kind none. */
export function storeSettings(config: Config): StoreSettings | null {
  const store = config.backup.store;
  switch (store.kind) {
    case 'none':
      return null;
    case 'local':
      return { kind: 'local', path: store.path! };
    case 's3':
      return {
        kind: 's3',
        bucket: store.bucket!,
        prefix: store.prefix,
        forcePathStyle: store.force_path_style,
        sse: store.sse,
        ...(store.region === undefined ? {} : { region: store.region }),
        ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
        ...(store.sse_kms_key_id === undefined ? {} : { sseKmsKeyId: store.sse_kms_key_id }),
      };
  }
}

export async function startBackup(config: Config, osUser: PgOsUser, log: Logger): Promise<BackupRuntime | null> {
  const settings = storeSettings(config);
  if (settings === null) return null;
  const backupLog = log.child({ component: 'backup' });
  const store = openStore(settings);
  const cluster = config.cluster_name;
  const archive = config.backup.archive;
  // The socket directory first: the archiver's marker spool lives in it, beside the WAL socket.
  await mkdirForPg(osUser, config.postgresql.socket_dir);
  const socketPath = join(config.postgresql.socket_dir, WAL_SOCKET_NAME);
  const archivedDir = join(config.postgresql.socket_dir, WAL_ARCHIVED_SPOOL_NAME);
  const pgOwner = osUser.switchUser ? { uid: osUser.uid, gid: osUser.gid } : undefined;
  // Before anything starts: refuses a missing client or perl, or a command PostgreSQL would cut short.
  const walArchive = walCommands({ perlPath: findPerl(), clientPath: clientScriptPath(), socketPath, archivedDir });
  const archiver = new WalArchiver({
    store,
    cluster,
    pgdata: config.postgresql.data_dir,
    compression: archive.compression,
    gzipLevel: archive.gzip_level,
    parallel: archive.parallel,
    archivedDir,
    ...(pgOwner === undefined ? {} : { archivedDirOwner: pgOwner }),
    logger: backupLog,
  });
  // The archiver already watches archive_status: whatever fails next stops it, and what else started.
  const restorer = await WalRestorer.open({ store, cluster, spoolDir: join(config.data_dir, 'wal-restore'), prefetch: archive.restore_prefetch, logger: backupLog }).catch(async (error: unknown) => {
    await archiver.close();
    throw error;
  });
  const service = await WalService.listen({
    socketPath,
    archiver,
    restorer,
    ...(pgOwner === undefined ? {} : { owner: pgOwner }),
    logger: backupLog,
  }).catch(async (error: unknown) => {
    await archiver.close();
    await restorer.close();
    throw error;
  });

  // undefined: not checked yet; null: the last check passed.
  let problem: string | null | undefined;
  let problemAtMs = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const probeKey = `${cluster}/probes/${config.name}`;
  const check = async (): Promise<void> => {
    try {
      await store.check(probeKey);
      if (problem !== null) backupLog.info({ store: store.description }, 'backup.store_ready');
      problem = null;
    } catch (error) {
      const message = (error as Error).message;
      if (problem !== message) backupLog.error({ store: store.description, err: message, code: (error as { code?: string }).code }, 'backup.store_unusable');
      problem = message;
      problemAtMs = Date.now();
    }
    if (!closed) timer = setTimeout(() => void check(), problem === null ? STORE_RECHECK_OK_MS : STORE_RECHECK_FAILING_MS);
  };
  void check();
  backupLog.info({ store: store.description, socket: socketPath, compression: archive.compression, parallel: archive.parallel }, 'backup.started');

  const readyFiles = (): Promise<number> => archiver.readyCount().catch(() => 0);
  return {
    store,
    walArchive,
    archiverStats: () => archiver.stats(),
    restorerStats: () => restorer.stats(),
    readyFiles,
    storeProblem: () => problem,
    async archiveReport(): Promise<ArchiveReport> {
      const stats = archiver.stats();
      // The archiver's last error counts while nothing was archived since; so does a failed store
      // check, until a file is archived after it (the next check comes later).
      const archivedAt = stats.lastArchivedAtMs ?? 0;
      const archiveFailing = stats.lastError !== null && (stats.lastErrorAtMs ?? 0) > archivedAt;
      const failure = archiveFailing ? stats.lastError : typeof problem === 'string' && problemAtMs > archivedAt ? problem : null;
      return { readyFiles: await readyFiles(), lastArchived: stats.lastArchivedName, lastArchivedAtMs: stats.lastArchivedAtMs, failure: failure === null ? null : failure.slice(0, 1000) };
    },
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      await service.close();
      await archiver.close();
      await restorer.close();
      await store.close();
    },
  };
}

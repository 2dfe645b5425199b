import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from './binaries.js';
import type { SourceServer } from './basebackup.js';
import { buildConninfo, removeStandbySignal, scrubAutoConf } from './conf.js';
import type { PgOsUser } from './os-user.js';
import { withTempPassfile } from './passfile-temp.js';
import { withConnection } from './sql.js';
import { readControlData } from './controldata.js';
import { PgRewindSourceNotPrimaryError, PgToolFailedError } from './errors.js';
import { runTool } from './tool.js';

export const REWIND_TIMEOUT_MS_DEFAULT = 600_000;
const CHECKPOINT_TIMEOUT_MS = 60_000;

export interface RewindOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  /** The stopped, diverged data directory. */
  readonly dataDir: string;
  /**
   * The `-c` settings this node's server runs with (buildServerArgs). A
   * target that crashed is recovered in single-user mode with them before
   * pg_rewind runs: pg_rewind's own single-user recovery reads
   * postgresql.conf alone, records its values (max_connections = 100, say)
   * in the control file, and a standby started with a lower value than the
   * control file's refuses to start ("insufficient parameter settings").
   */
  readonly serverArgs?: readonly string[];
  /** The new primary, as the rewind role (pgherd_rewind: the pg_rewind grants plus pg_checkpoint). */
  readonly source: SourceServer;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

export type RewindResult =
  | { readonly ok: true; readonly rewound: boolean; readonly durationMs: number }
  | { readonly ok: false; readonly exitCode: number | null; readonly stderrTail: string; readonly durationMs: number };

/**
 * Rewind a diverged former primary onto the source's timeline. Runs a
 * CHECKPOINT on the source first (a just-promoted primary's control file
 * still names the old timeline until its first checkpoint, and pg_rewind
 * would answer "no rewind required"), and refuses a source still in recovery
 * (PgRewindSourceNotPrimaryError: chaos seed 2047). The target must be stopped; pg_rewind
 * (13+) runs single-user crash recovery itself when it was not shut down
 * cleanly. Afterwards copied node-specific settings and signal files are
 * removed; start it with role 'standby'. A pg_rewind failure is a result,
 * not an exception: the caller decides to re-clone (DESIGN §5 Rejoin). An
 * unreachable source (the CHECKPOINT fails) throws PgQueryError: nothing was
 * touched, and re-cloning from an unreachable source would fail too.
 */
export async function rewind(options: RewindOptions): Promise<RewindResult> {
  const log = options.log ?? silentLogger;
  const { source } = options;
  const started = performance.now();
  const inRecovery = await withConnection(
    { host: source.host, port: source.port, user: source.user, password: source.password, database: 'postgres', connectTimeoutMs: 5000, statementTimeoutMs: CHECKPOINT_TIMEOUT_MS },
    'CHECKPOINT on the rewind source',
    async (client) => {
      // A standby (a new primary whose promotion has not happened yet) is no source: both control
      // files would name the old timeline and pg_rewind would leave a diverged target as it is.
      const recovery = (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
      if (!recovery) await client.query('CHECKPOINT');
      return recovery;
    },
  );
  if (inRecovery) throw new PgRewindSourceNotPrimaryError(`${source.host}:${source.port}`);
  if (options.serverArgs !== undefined) await recoverIfCrashed(options, options.serverArgs, log);
  const run = await withTempPassfile(options.osUser, source.user, source.password, (passfile) => {
    const conninfo = buildConninfo({ host: source.host, port: source.port, user: source.user, dbname: 'postgres', passfile, connect_timeout: 10 });
    // --no-sync, then one syncfs (below): pg_rewind's own sync fsyncs every file of the data
    // directory one by one, which took 5-6 s of a 14 s recovery bound under chaos load.
    return runTool(options.binaries.path('pg_rewind'), ['--no-sync', `--target-pgdata=${options.dataDir}`, `--source-server=${conninfo}`], {
      user: options.osUser,
      timeoutMs: options.timeoutMs ?? REWIND_TIMEOUT_MS_DEFAULT,
    });
  });
  if (run.exitCode === 0) {
    // Durable before anything starts from it: syncfs(2) of the data directory's file system.
    const synced = await runTool('sync', ['--file-system', options.dataDir], { user: options.osUser, timeoutMs: options.timeoutMs ?? REWIND_TIMEOUT_MS_DEFAULT });
    if (synced.exitCode !== 0) throw new PgToolFailedError('sync --file-system', synced.exitCode, synced.stderrTail, `after pg_rewind of ${options.dataDir}`);
  }
  const durationMs = Math.round(performance.now() - started);
  if (run.exitCode !== 0) {
    log.error({ dataDir: options.dataDir, exitCode: run.exitCode, stderrTail: run.stderrTail.slice(-2000), durationMs }, 'postgres.rewind_failed');
    return { ok: false, exitCode: run.exitCode, stderrTail: run.stderrTail, durationMs };
  }
  const rewound = !/no rewind required/.test(run.stderrTail + run.stdout);
  const scrubbed = await scrubAutoConf(options.dataDir);
  await removeStandbySignal(options.dataDir);
  log.info({ dataDir: options.dataDir, rewound, scrubbed, durationMs }, 'postgres.rewind_done');
  return { ok: true, rewound, durationMs };
}

/** Crash recovery in single-user mode, with this node's settings, when the control file says the server did not shut down. */
async function recoverIfCrashed(options: RewindOptions, serverArgs: readonly string[], log: Logger): Promise<void> {
  const control = await readControlData(options.binaries, options.osUser, options.dataDir);
  if (control.clusterState === 'shut down' || control.clusterState === 'shut down in recovery') return;
  // A crashed standby (a replica that diverged, chaos seed 2030): single-user mode refuses standby
  // mode, so recover without the signal files; the target is started as a standby after the rewind.
  await removeStandbySignal(options.dataDir);
  const run = await runTool(options.binaries.path('postgres'), ['--single', '-F', '-D', options.dataDir, ...serverArgs, 'postgres'], {
    user: options.osUser,
    timeoutMs: options.timeoutMs ?? REWIND_TIMEOUT_MS_DEFAULT,
  });
  if (run.exitCode !== 0) throw new PgToolFailedError('postgres --single', run.exitCode, run.stderrTail || run.stdout);
  log.info({ dataDir: options.dataDir, was: control.clusterState, durationMs: run.durationMs }, 'postgres.crash_recovered');
}

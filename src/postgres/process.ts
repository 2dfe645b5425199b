import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from './binaries.js';
import { buildServerArgs, removeStandbySignal, writeRecoverySignal, writeStandbySignal, type ServerSettings } from './conf.js';
import { PgNotRunningError, PgPromoteFailedError, PgStartFailedError, PgStartTimeoutError, PgStopFailedError } from './errors.js';
import { mkdirForPg, spawnIdentity, type PgOsUser } from './os-user.js';
import { isPostmasterOf, isProcessAlive, readPostmasterPid } from './pidfile.js';
import { withConnection, type LocalConnection } from './sql.js';

export type StopMode = 'smart' | 'fast' | 'immediate';
/** 'recovery': archive recovery of a restored backup (recovery.signal; it promotes when recovery ends). */
export type StartRole = 'primary' | 'standby' | 'recovery';

const STOP_SIGNALS: Readonly<Record<StopMode, NodeJS.Signals>> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };
const STOP_ORDER: readonly StopMode[] = ['smart', 'fast', 'immediate'];
const POLL_MS = 50;
export const START_TIMEOUT_MS_DEFAULT = 60_000;
export const STOP_TIMEOUT_MS_DEFAULT = 60_000;
/** How long each escalation step (fast, immediate, SIGKILL) waits before the next. */
export const STOP_ESCALATION_STEP_MS_DEFAULT = 5_000;
export const PROMOTE_TIMEOUT_MS_DEFAULT = 30_000;
/** Server log bytes quoted in a start failure. */
const LOG_TAIL_BYTES = 4096;
const LOG_FILE_NAME = 'postgresql.log';

export interface ControllerOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly dataDir: string;
  /** Outside PGDATA; the server's stderr goes to <logDir>/postgresql.log. */
  readonly logDir: string;
  /** The agent's own superuser, for the few things done over SQL (promote). */
  readonly superuser: { readonly user: string; readonly password: string };
  readonly log?: Logger;
}

export interface PgStatus {
  readonly running: boolean;
  readonly pid: number | null;
  /** From postmaster.pid: 'starting' | 'stopping' | 'ready' | 'standby' | ''; null when not running. */
  readonly pmStatus: string | null;
  readonly port: number | null;
  readonly socketDir: string | null;
}

export interface StartResult {
  readonly pid: number;
  /** True when a PostgreSQL already running on this data directory was adopted instead of started. */
  readonly adopted: boolean;
  readonly durationMs: number;
}

export interface StopResult {
  /** null when nothing was running. */
  readonly pid: number | null;
  /** The last mode used ('kill' after SIGKILL). */
  readonly mode: StopMode | 'kill' | null;
  readonly durationMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Log lines name the server's pid `postmasterPid`: `pid` is the agent's own (pino base field).
 *
 * The PostgreSQL process controller: the only code that starts, signals and
 * stops the postmaster of one data directory. The postmaster runs in its own
 * process group and survives an agent restart; a later controller adopts it.
 */
export class PostgresController {
  private readonly log: Logger;

  constructor(private readonly options: ControllerOptions) {
    this.log = (options.log ?? silentLogger).child({ dataDir: options.dataDir });
  }

  get logFile(): string {
    return join(this.options.logDir, LOG_FILE_NAME);
  }

  async status(): Promise<PgStatus> {
    const pidFile = await readPostmasterPid(this.options.dataDir);
    if (pidFile === undefined || !(await isPostmasterOf(pidFile.pid, this.options.dataDir))) {
      return { running: false, pid: null, pmStatus: null, port: null, socketDir: null };
    }
    return { running: true, pid: pidFile.pid, pmStatus: pidFile.pmStatus, port: pidFile.port, socketDir: pidFile.socketDir };
  }

  /** The superuser connection over the running server's unix socket (port and socket dir from postmaster.pid). */
  async connection(timeouts: { connectTimeoutMs?: number; statementTimeoutMs?: number } = {}): Promise<LocalConnection> {
    const s = await this.status();
    if (!s.running || s.port === null || s.socketDir === null) throw new PgNotRunningError(this.options.dataDir, 'connect');
    return { host: s.socketDir, port: s.port, user: this.options.superuser.user, password: this.options.superuser.password, ...timeouts };
  }

  /**
   * Start the postmaster (role decides standby.signal) and wait until it
   * accepts connections. A postmaster already running on this data directory
   * is adopted (not restarted, even if its settings differ: compare and
   * restart if needed). On timeout the server is left running.
   */
  async start(server: ServerSettings, role: StartRole, timeoutMs = START_TIMEOUT_MS_DEFAULT): Promise<StartResult> {
    assert(timeoutMs > 0, 'start timeout must be positive');
    const started = performance.now();
    const existing = await this.status();
    if (existing.running && existing.pid !== null) {
      await this.waitReady(existing.pid, started + timeoutMs, timeoutMs);
      const durationMs = Math.round(performance.now() - started);
      this.log.info({ postmasterPid: existing.pid, port: existing.port, durationMs }, 'postgres.adopted');
      return { pid: existing.pid, adopted: true, durationMs };
    }
    const args = ['-D', this.options.dataDir, ...buildServerArgs(server)];
    await this.removeRecycledPidFile();
    await mkdirForPg(this.options.osUser, server.socketDir);
    await mkdir(this.options.logDir, { recursive: true, mode: 0o700 });
    if (role === 'standby') await writeStandbySignal(this.options.dataDir, this.options.osUser);
    else if (role === 'recovery') await writeRecoverySignal(this.options.dataDir, this.options.osUser);
    else await removeStandbySignal(this.options.dataDir);

    const logHandle = await open(this.logFile, 'a', 0o640);
    const logOffset = (await logHandle.stat()).size;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let child: ChildProcess;
    try {
      child = spawn(this.options.binaries.path('postgres'), args, {
        ...spawnIdentity(this.options.osUser),
        cwd: '/',
        detached: true,
        stdio: ['ignore', logHandle.fd, logHandle.fd],
      });
    } finally {
      await logHandle.close();
    }
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    child.once('exit', (code, signal) => (exit = { code, signal }));
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new PgStartFailedError(this.options.dataDir, `spawn failed: ${(await spawnError).message}`, '');

    const deadline = started + timeoutMs;
    for (;;) {
      if (exit !== undefined) {
        const reason = exit.code !== null ? `postmaster exited with code ${exit.code}` : `postmaster killed by ${exit.signal}`;
        const logTail = await this.readLogTail(logOffset);
        this.log.error({ postmasterPid: pid, port: server.port, reason }, 'postgres.start_failed');
        throw new PgStartFailedError(this.options.dataDir, reason, logTail);
      }
      const pidFile = await readPostmasterPid(this.options.dataDir);
      if (pidFile?.pid === pid && (pidFile.pmStatus === 'ready' || pidFile.pmStatus === 'standby')) break;
      if (performance.now() >= deadline) throw new PgStartTimeoutError(this.options.dataDir, pid, timeoutMs);
      await sleep(POLL_MS);
    }
    const durationMs = Math.round(performance.now() - started);
    this.log.info({ postmasterPid: pid, port: server.port, role, durationMs }, 'postgres.started');
    return { pid, adopted: false, durationMs };
  }

  /**
   * A postmaster.pid whose pid is alive but is not a postmaster of this data
   * directory (the pid was recycled after a crash) makes PostgreSQL refuse to
   * start; remove it. A dead pid is left to PostgreSQL, which handles it (and
   * still refuses while orphaned backends hold the shared memory).
   */
  private async removeRecycledPidFile(): Promise<void> {
    const pidFile = await readPostmasterPid(this.options.dataDir);
    if (pidFile === undefined || !isProcessAlive(pidFile.pid)) return;
    if (await isPostmasterOf(pidFile.pid, this.options.dataDir)) return;
    await rm(join(this.options.dataDir, 'postmaster.pid'), { force: true });
    this.log.warn({ stalePid: pidFile.pid }, 'postgres.stale_pid_file_removed');
  }

  private async waitReady(pid: number, deadline: number, timeoutMs: number): Promise<void> {
    for (;;) {
      const pidFile = await readPostmasterPid(this.options.dataDir);
      if (pidFile?.pid !== pid || !(await isPostmasterOf(pid, this.options.dataDir))) throw new PgStartFailedError(this.options.dataDir, `adopted postmaster ${pid} went away`, await this.readLogTail(0));
      if (pidFile.pmStatus === 'ready' || pidFile.pmStatus === 'standby') return;
      if (performance.now() >= deadline) throw new PgStartTimeoutError(this.options.dataDir, pid, timeoutMs);
      await sleep(POLL_MS);
    }
  }

  /** The server log from byte `fromOffset` on (its last few KiB at most): why a server that exited stopped. */
  async readLogTail(fromOffset: number): Promise<string> {
    try {
      const size = (await stat(this.logFile)).size;
      const start = Math.max(fromOffset, size - LOG_TAIL_BYTES);
      const handle = await open(this.logFile, 'r');
      try {
        const buffer = Buffer.alloc(size - start);
        await handle.read(buffer, 0, buffer.length, start);
        return buffer.toString('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return '';
    }
  }

  /**
   * Stop with `mode`; if the postmaster has not exited after `timeoutMs`,
   * escalate (unless `escalate` is false) through the harder modes and
   * finally SIGKILL, each step waiting `escalationStepMs`.
   */
  async stop(options: { mode?: StopMode; timeoutMs?: number; escalate?: boolean; escalationStepMs?: number } = {}): Promise<StopResult> {
    const mode = options.mode ?? 'fast';
    const timeoutMs = options.timeoutMs ?? STOP_TIMEOUT_MS_DEFAULT;
    const stepMs = options.escalationStepMs ?? STOP_ESCALATION_STEP_MS_DEFAULT;
    assert(timeoutMs > 0 && stepMs > 0, 'stop timeouts must be positive');
    const started = performance.now();
    const s = await this.status();
    if (!s.running || s.pid === null) return { pid: null, mode: null, durationMs: 0 };
    const pid = s.pid;
    const steps: Array<[StopMode | 'kill', NodeJS.Signals, number]> = [[mode, STOP_SIGNALS[mode], timeoutMs]];
    if (options.escalate ?? true) {
      for (const next of STOP_ORDER.slice(STOP_ORDER.indexOf(mode) + 1)) steps.push([next, STOP_SIGNALS[next], stepMs]);
      steps.push(['kill', 'SIGKILL', stepMs]);
    }
    for (const [stepMode, signal, waitMs] of steps) {
      if (stepMode !== mode) this.log.warn({ postmasterPid: pid, mode: stepMode }, 'postgres.stop_escalated');
      try {
        process.kill(pid, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
      if (await this.waitExit(pid, waitMs)) {
        const durationMs = Math.round(performance.now() - started);
        this.log.info({ postmasterPid: pid, mode: stepMode, durationMs }, 'postgres.stopped');
        return { pid, mode: stepMode, durationMs };
      }
    }
    throw new PgStopFailedError(this.options.dataDir, pid, Math.round(performance.now() - started));
  }

  private async waitExit(pid: number, waitMs: number): Promise<boolean> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      if (!(await isPostmasterOf(pid, this.options.dataDir))) return true;
      if (performance.now() >= deadline) return false;
      await sleep(POLL_MS);
    }
  }

  async restart(server: ServerSettings, role: StartRole, options: { stopMode?: StopMode; stopTimeoutMs?: number; startTimeoutMs?: number } = {}): Promise<StartResult> {
    await this.stop({ mode: options.stopMode ?? 'fast', timeoutMs: options.stopTimeoutMs ?? STOP_TIMEOUT_MS_DEFAULT });
    return this.start(server, role, options.startTimeoutMs);
  }

  /** Re-read configuration files (SIGHUP). Command-line settings are not affected. */
  async reload(): Promise<void> {
    const s = await this.status();
    if (!s.running || s.pid === null) throw new PgNotRunningError(this.options.dataDir, 'reload');
    process.kill(s.pid, 'SIGHUP');
    this.log.info({ postmasterPid: s.pid }, 'postgres.reloaded');
  }

  /**
   * Promote a standby (`pg_promote(wait => true)`) and confirm it left
   * recovery. The caller then runs a CHECKPOINT (see rewind) and re-points replicas.
   */
  async promote(timeoutMs = PROMOTE_TIMEOUT_MS_DEFAULT): Promise<{ durationMs: number }> {
    const started = performance.now();
    const waitSeconds = Math.max(1, Math.floor(timeoutMs / 1000));
    const conn = await this.connection({ statementTimeoutMs: timeoutMs + 1000 });
    const promoted = await withConnection(conn, 'promote', async (client) => {
      const inRecovery = (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r;
      if (inRecovery === false) return 'already';
      const result = await client.query<{ ok: boolean }>('SELECT pg_promote(true, $1) AS ok', [waitSeconds]);
      return result.rows[0]?.ok === true ? 'promoted' : 'timeout';
    });
    if (promoted === 'timeout') throw new PgPromoteFailedError(`${this.options.dataDir}: promotion did not finish within ${waitSeconds} s`);
    const durationMs = Math.round(performance.now() - started);
    this.log.info({ durationMs, alreadyPrimary: promoted === 'already' }, 'postgres.promoted');
    return { durationMs };
  }
}

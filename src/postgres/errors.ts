import { PgherdError } from '../lib/errors.js';

/**
 * Errors of the PostgreSQL controller. Codes are API (PGHERD_PG_*); callers
 * branch on `code` or on the class, never on the message.
 */

/** The PostgreSQL server binaries are not installed (or not where configured). */
export class PgBinariesMissingError extends PgherdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGHERD_PG_BINARIES_MISSING', message, options);
  }
}

/** The OS user PostgreSQL must run as does not exist. */
export class PgOsUserMissingError extends PgherdError {
  readonly user: string;

  constructor(user: string, options?: { cause?: unknown }) {
    super('PGHERD_PG_OS_USER_MISSING', `OS user '${user}' not found; PostgreSQL refuses to run as root (install the 'postgresql' package, which creates it)`, options);
    this.user = user;
  }
}

/** A PostgreSQL tool (initdb, pg_basebackup, pg_rewind, ...) failed; `stderrTail` holds its last output. */
export class PgToolFailedError extends PgherdError {
  readonly tool: string;
  readonly exitCode: number | null;
  readonly stderrTail: string;

  constructor(tool: string, exitCode: number | null, stderrTail: string, detail = '') {
    const how = exitCode === null ? 'was killed (timeout or signal)' : `exited with code ${exitCode}`;
    super('PGHERD_PG_TOOL_FAILED', `${tool} ${how}${detail === '' ? '' : ` (${detail})`}: ${stderrTail.trim() || '(no output)'}`);
    this.tool = tool;
    this.exitCode = exitCode;
    this.stderrTail = stderrTail;
  }
}

/** The postmaster exited before accepting connections; the message carries the server log tail. */
export class PgStartFailedError extends PgherdError {
  readonly logTail: string;

  constructor(dataDir: string, reason: string, logTail: string) {
    super('PGHERD_PG_START_FAILED', `PostgreSQL on ${dataDir} failed to start (${reason}); server log tail:\n${logTail.trim() || '(empty)'}`);
    this.logTail = logTail;
  }
}

/** The postmaster is alive but did not accept connections within the deadline. It is left running. */
export class PgStartTimeoutError extends PgherdError {
  constructor(dataDir: string, pid: number, timeoutMs: number) {
    super('PGHERD_PG_START_TIMEOUT', `PostgreSQL on ${dataDir} (pid ${pid}) did not accept connections within ${timeoutMs} ms; it is still running`);
  }
}

/** The postmaster did not exit within the stop deadline, even after escalation. */
export class PgStopFailedError extends PgherdError {
  constructor(dataDir: string, pid: number, timeoutMs: number) {
    super('PGHERD_PG_STOP_FAILED', `PostgreSQL on ${dataDir} (pid ${pid}) did not exit within ${timeoutMs} ms`);
  }
}

/** An operation needs a running PostgreSQL and there is none. */
export class PgNotRunningError extends PgherdError {
  constructor(dataDir: string, operation: string) {
    super('PGHERD_PG_NOT_RUNNING', `${operation}: PostgreSQL on ${dataDir} is not running`);
  }
}

/** A connection or SQL statement failed; `sqlState` is PostgreSQL's SQLSTATE when there is one. */
export class PgQueryError extends PgherdError {
  readonly sqlState: string | undefined;

  constructor(what: string, options: { cause: unknown }) {
    const cause = options.cause as { message?: string; code?: unknown } | undefined;
    super('PGHERD_PG_QUERY_FAILED', `${what}: ${cause?.message ?? String(options.cause)}`, options);
    this.sqlState = typeof cause?.code === 'string' && /^[0-9A-Z]{5}$/.test(cause.code) ? cause.code : undefined;
  }
}

/** Promotion did not finish within its deadline. */
export class PgPromoteFailedError extends PgherdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGHERD_PG_PROMOTE_FAILED', message, options);
  }
}

/**
 * pg_rewind's source is still in recovery: a member that holds the leader
 * key but has not promoted its PostgreSQL yet. pg_rewind would compare two
 * control files on the same timeline and answer "no rewind required" for a
 * target that has diverged; nothing was touched, try again once it is a primary.
 */
export class PgRewindSourceNotPrimaryError extends PgherdError {
  constructor(source: string) {
    super('PGHERD_PG_REWIND_SOURCE_NOT_PRIMARY', `the rewind source ${source} is still in recovery (not promoted yet); the target was not touched`);
  }
}

/** A target directory (for pg_basebackup or initdb) is not empty. */
export class PgTargetNotEmptyError extends PgherdError {
  readonly path: string;

  constructor(path: string) {
    super('PGHERD_PG_TARGET_NOT_EMPTY', `${path} is not empty; refusing to overwrite it`);
    this.path = path;
  }
}

/** A name (member, slot, role) cannot be used safely in PostgreSQL. */
export class PgInvalidNameError extends PgherdError {
  constructor(kind: string, name: string, rule: string) {
    super('PGHERD_PG_INVALID_NAME', `invalid ${kind} ${JSON.stringify(name)}: ${rule}`);
  }
}

/** A server parameter is set by the agent per node and cannot be overridden. */
export class PgParameterRefusedError extends PgherdError {
  readonly parameter: string;

  constructor(parameter: string, reason: string) {
    super('PGHERD_PG_PARAMETER_REFUSED', `${parameter}: ${reason}`);
    this.parameter = parameter;
  }
}

/** A setting changed with ALTER SYSTEM + reload did not read back as written within the deadline. */
export class PgSettingNotAppliedError extends PgherdError {
  readonly parameter: string;

  constructor(parameter: string, wanted: string, actual: string) {
    super('PGHERD_PG_SETTING_NOT_APPLIED', `${parameter}: wrote ${JSON.stringify(wanted)}, server still reports ${JSON.stringify(actual)}`);
    this.parameter = parameter;
  }
}

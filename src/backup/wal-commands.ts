import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WalClientMissingError } from './wal-errors.js';
import { WAL_CLIENT_TIMEOUT_ENV } from './wal-protocol.js';

/*
 * The archive_command and restore_command settings that run the WAL client
 * (wal-client.pl, with perl: a process of ~10 ms where node's start alone
 * is ~60 ms, for every segment) against the agent's socket (wal-service.ts).
 *
 * PostgreSQL first replaces %f, %p (and %r) and turns %% into %, then runs
 * the result with `sh -c`. So the fixed parts — perl, the client script, the
 * socket, the marker directory — are single-quoted for the shell and have
 * every % doubled for PostgreSQL (PostgreSQL 16 refuses an unknown %x; 15
 * keeps it); %f and %p stay bare (PostgreSQL's own names and paths
 * relative to PGDATA: [0-9A-Za-z._/] only). PostgreSQL 15 builds the
 * command in a 1024-byte buffer and silently cuts what does not fit, so a
 * command that could not hold the longest %f and %p is refused here.
 *
 * With `archivedDir` (the agent's archived-marker spool,
 * wal-archived-spool.ts) archive_command is first a POSIX sh fast path,
 * as pgBackRest's asynchronous archiving has one: when the agent has
 * already stored the file ahead of PostgreSQL (read-ahead), a marker
 * <archivedDir>/%f holds `<inode>.<size>.<mtime seconds>` of the file as it
 * was read; if that equals `stat -c %i.%s.%Y %p` now and the shell can
 * remove the marker (so it confirms once), the command exits 0 without
 * starting the client. Anything else — no marker, another file, a marker the
 * agent removed first, no stat — execs the client (the slow path: the
 * agent checks and archives as ever, conflicts included), whose exit status
 * is the command's. The snippet holds no `" "` (postmaster.opts, which
 * pending.ts parses, quotes each argument without escaping).
 */

export interface WalCommandsOptions {
  /** Absolute path of perl (findPerl()). */
  readonly perlPath: string;
  /** Absolute path of wal-client.pl (clientScriptPath()). */
  readonly clientPath: string;
  /** The agent's WAL socket (WalService). */
  readonly socketPath: string;
  /** The client's overall timeout; default: the client's own (wal-protocol.ts). */
  readonly clientTimeoutMs?: number;
  /** The archiver's marker directory (WalArchiverOptions.archivedDir): archive_command gets the fast path. */
  readonly archivedDir?: string;
}

/** PostgreSQL 15's archive_command buffer (MAXPGPATH) less its terminating NUL. */
export const ARCHIVE_COMMAND_BYTES_MAX = 1023;
/** The longest %f: a backup history file name. */
const LONGEST_WAL_NAME = '000000010000000000000001.00000028.backup';

export interface WalCommands {
  readonly archiveCommand: string;
  readonly restoreCommand: string;
}

export function walCommands(options: WalCommandsOptions): WalCommands {
  const client = [options.perlPath, options.clientPath].map(commandWord).join(' ');
  const socket = commandWord(options.socketPath);
  let timeout: string | undefined;
  if (options.clientTimeoutMs !== undefined) {
    if (!Number.isSafeInteger(options.clientTimeoutMs) || options.clientTimeoutMs <= 0) throw new RangeError(`clientTimeoutMs: expected a positive integer, got ${options.clientTimeoutMs}`);
    timeout = `${WAL_CLIENT_TIMEOUT_ENV}=${options.clientTimeoutMs}`;
  }
  const environment = timeout === undefined ? '' : `${timeout} `;
  const archiveClient = `${client} archive ${socket} %f`;
  const archiveCommand =
    options.archivedDir === undefined ? `${environment}${archiveClient}` : `${fastPath(options.archivedDir)} ${timeout === undefined ? '' : `export ${timeout}; `}exec ${archiveClient}`;
  const expandedBytes = Buffer.byteLength(expandArchiveCommand(archiveCommand, LONGEST_WAL_NAME));
  if (expandedBytes > ARCHIVE_COMMAND_BYTES_MAX) {
    throw new RangeError(`archive_command would be ${expandedBytes} bytes with the longest file name, PostgreSQL takes at most ${ARCHIVE_COMMAND_BYTES_MAX}: shorten the paths of perl, the client or the socket directory`);
  }
  return {
    archiveCommand,
    restoreCommand: `${environment}${client} restore ${socket} %f %p`,
  };
}

/**
 * The shell test in front of the client: m is the marker, v its content
 * (empty when there is none: v is set first, read's own status and errors
 * are ignored). `rm` without -f fails when the marker is gone, so two
 * readers cannot both take it. %i %s %Y are stat's, doubled for PostgreSQL.
 */
function fastPath(archivedDir: string): string {
  const marker = `${commandWord(`${archivedDir}/`)}%f`;
  return [
    `m=${marker} v=;`,
    '{ read -r v < "$m"; } 2>/dev/null;',
    'if [ -n "$v" ] && [ "$v" = "$(stat -c %%i.%%s.%%Y %p 2>/dev/null)" ] && rm "$m" 2>/dev/null; then exit 0; fi;',
  ].join(' ');
}

/** What PostgreSQL does to archive_command before `sh -c`: %f → the file name, %p → its path relative to PGDATA, %% → %; any other %x stays. */
export function expandArchiveCommand(template: string, name: string): string {
  return template.replace(/%[fp%]/g, (m) => (m === '%f' ? name : m === '%p' ? `pg_wal/${name}` : '%'));
}

/** One fixed word of the command: single-quoted for sh, every % doubled for PostgreSQL. */
function commandWord(text: string): string {
  // A setting cannot hold control characters (postgresql.conf is line based), and sh would mangle NUL.
  if (text === '' || /[\u0000-\u001f\u007f]/.test(text)) throw new RangeError(`cannot put ${JSON.stringify(text)} into archive_command/restore_command: empty or control characters`);
  return `'${text.replace(/'/g, `'\\''`)}'`.replace(/%/g, '%%');
}

/**
 * wal-client.pl beside this module: src/backup/ under tsx, dist/src/backup/
 * when built (npm run build copies it). Throws WalClientMissingError when
 * it is not there (an incomplete installation).
 */
export function clientScriptPath(moduleUrl: string = import.meta.url): string {
  const script = join(dirname(fileURLToPath(moduleUrl)), WAL_CLIENT_SCRIPT);
  if (!existsSync(script)) throw new WalClientMissingError(`${script} does not exist: the installation is incomplete (npm run build copies it beside wal-commands.js)`);
  return script;
}

/** The script's file name, in src/backup/ and in dist/src/backup/. */
export const WAL_CLIENT_SCRIPT = 'wal-client.pl';

/**
 * The absolute path of the first executable `perl` on `searchPath` (the
 * agent's PATH). Throws WalClientMissingError when there is none: perl-base
 * is Essential in Debian and PostgreSQL's packages need perl, so only an
 * unusual PATH or system lacks it.
 */
export function findPerl(searchPath: string = process.env.PATH ?? ''): string {
  for (const dir of searchPath.split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, 'perl');
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here: the next directory.
    }
  }
  throw new WalClientMissingError(`no executable perl on PATH (${searchPath === '' ? 'empty' : searchPath}): archive_command and restore_command run wal-client.pl with it; install perl (Debian: perl-base)`);
}

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WalClientMissingError } from './wal-errors.js';
import { WAL_CLIENT_TIMEOUT_ENV } from './wal-protocol.js';

/*
 * The archive_command and restore_command settings that run the WAL client
 * (wal-client.ts) against the agent's socket (wal-service.ts).
 *
 * PostgreSQL first replaces %f, %p (and %r) and turns %% into %, then runs
 * the result with `sh -c`. So the fixed parts — node, the client script, the
 * socket — are single-quoted for the shell and have every % doubled for
 * PostgreSQL; %f and %p stay bare (PostgreSQL's own names and paths
 * relative to PGDATA: [0-9A-Za-z._/] only).
 */

export interface WalCommandsOptions {
  /** Absolute path of the node binary (process.execPath). */
  readonly nodePath: string;
  /** Absolute path of the built wal-client.js (clientScriptPath()). */
  readonly clientPath: string;
  /** The agent's WAL socket (WalService). */
  readonly socketPath: string;
  /** The client's overall timeout; default: the client's own (wal-protocol.ts). */
  readonly clientTimeoutMs?: number;
}

export interface WalCommands {
  readonly archiveCommand: string;
  readonly restoreCommand: string;
}

export function walCommands(options: WalCommandsOptions): WalCommands {
  const fixed = [options.nodePath, options.clientPath].map(commandWord);
  const socket = commandWord(options.socketPath);
  let environment = '';
  if (options.clientTimeoutMs !== undefined) {
    if (!Number.isSafeInteger(options.clientTimeoutMs) || options.clientTimeoutMs <= 0) throw new RangeError(`clientTimeoutMs: expected a positive integer, got ${options.clientTimeoutMs}`);
    environment = `${WAL_CLIENT_TIMEOUT_ENV}=${options.clientTimeoutMs} `;
  }
  return {
    archiveCommand: `${environment}${fixed.join(' ')} archive ${socket} %f`,
    restoreCommand: `${environment}${fixed.join(' ')} restore ${socket} %f %p`,
  };
}

/** One fixed word of the command: single-quoted for sh, every % doubled for PostgreSQL. */
function commandWord(text: string): string {
  // A setting cannot hold control characters (postgresql.conf is line based), and sh would mangle NUL.
  if (text === '' || /[\u0000-\u001f\u007f]/.test(text)) throw new RangeError(`cannot put ${JSON.stringify(text)} into archive_command/restore_command: empty or control characters`);
  return `'${text.replace(/'/g, `'\\''`)}'`.replace(/%/g, '%%');
}

/**
 * The built wal-client.js beside this module. Under tsx (this module is
 * src/backup/wal-commands.ts) it is the repository's
 * dist/src/backup/wal-client.js: the client runs with plain node, never
 * through tsx (0.46 s per file). Throws WalClientMissingError when it has
 * not been built.
 */
export function clientScriptPath(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  const script = here.endsWith('.ts') ? join(dirname(here), '..', '..', 'dist', 'src', 'backup', 'wal-client.js') : join(dirname(here), 'wal-client.js');
  if (!existsSync(script)) throw new WalClientMissingError(script);
  return script;
}

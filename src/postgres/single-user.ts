import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from './binaries.js';
import { PgToolFailedError } from './errors.js';
import { assertRoleName, scramVerifier } from './initdb.js';
import type { PgOsUser } from './os-user.js';
import { spawnToolStdin } from './tool.js';

/*
 * The superuser's password, set with the server stopped: `postgres --single`
 * reads SQL from stdin and authenticates nobody. For a data directory
 * restored from another cluster's base backup: its superuser has the source
 * cluster's password, which this cluster does not know, and pg_hba admits
 * the superuser only with a password (scram-sha-256, also on the socket).
 * The alternative — a `trust` line while the server runs — would admit any
 * local process as the superuser for as long as that lasts.
 */

export const SINGLE_USER_TIMEOUT_MS_DEFAULT = 120_000;

export interface SuperuserPasswordOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  /** Stopped cleanly, out of recovery (no signal files). */
  readonly dataDir: string;
  /** This node's `-c` settings (buildServerArgs): the control file must not record other values than the server's. */
  readonly serverArgs: readonly string[];
  readonly superuser: string;
  readonly password: string;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

/** The one statement: alter the role, or create it when the source cluster's superuser had another name. Pure. */
export function superuserPasswordSql(superuser: string, verifier: string): string {
  assertRoleName(superuser);
  // The verifier is base64 and '$', ':' only; the role name is checked above: literal quoting is safe.
  const attributes = `SUPERUSER LOGIN PASSWORD '${verifier}'`;
  return (
    `DO $pgherd$BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${superuser}') ` +
    `THEN ALTER ROLE ${superuser} WITH ${attributes}; ELSE CREATE ROLE ${superuser} WITH ${attributes}; END IF; END$pgherd$;\n`
  );
}

export async function setSuperuserPasswordOffline(options: SuperuserPasswordOptions): Promise<void> {
  const log = options.log ?? silentLogger;
  const started = performance.now();
  const sql = superuserPasswordSql(options.superuser, scramVerifier(options.password));
  const args = [
    '--single',
    '-D',
    options.dataDir,
    ...options.serverArgs,
    // An error ends the session with a non-zero exit; the statement (a password verifier) is never logged.
    '-c',
    'exit_on_error=on',
    '-c',
    'log_statement=none',
    '-c',
    'log_min_error_statement=panic',
    'template1',
  ];
  const tool = spawnToolStdin(options.binaries.path('postgres'), args, { user: options.osUser, timeoutMs: options.timeoutMs ?? SINGLE_USER_TIMEOUT_MS_DEFAULT });
  tool.child.stdin.on('error', () => undefined);
  tool.child.stdin.end(sql);
  const exit = await tool.exited;
  const stderr = tool.stderrTail();
  if (exit.code !== 0 || /^(ERROR|FATAL|PANIC):/m.test(stderr)) {
    throw new PgToolFailedError('postgres --single', exit.code, stderr, `setting the password of ${options.superuser}`);
  }
  log.info({ dataDir: options.dataDir, superuser: options.superuser, durationMs: Math.round(performance.now() - started) }, 'postgres.superuser_password_set');
}

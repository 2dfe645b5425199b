import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from './binaries.js';
import { PgInvalidNameError, PgTargetNotEmptyError } from './errors.js';
import { chownToPg, mkdirForPg, type PgOsUser } from './os-user.js';
import { withConnection, type LocalConnection } from './sql.js';
import { runToolOk } from './tool.js';

export const REPLICATION_ROLE = 'pgherd_replicator';
/** A least-privilege role for pg_rewind (the PostgreSQL docs' grant list, plus pg_checkpoint). */
export const REWIND_ROLE = 'pgherd_rewind';
const INITDB_TIMEOUT_MS_DEFAULT = 120_000;
const SCRAM_ITERATIONS = 4096;

/** 32 characters of base64url: no ':' or '\', so it is safe in pgpass files and conninfo. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** A role name we put into SQL and pg_hba.conf unquoted. */
export function assertRoleName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new PgInvalidNameError('role name', name, 'use [a-z_][a-z0-9_]*, at most 63');
}

function assertCidr(cidr: string): void {
  const [address = '', prefix, ...rest] = cidr.split('/');
  const family = isIP(address);
  const bits = Number(prefix);
  const maxBits = family === 6 ? 128 : 32;
  if (family === 0 || rest.length > 0 || prefix === undefined || !Number.isInteger(bits) || bits < 0 || bits > maxBits) {
    throw new PgInvalidNameError('CIDR', cidr, 'expected address/prefix, e.g. 10.0.1.7/32');
  }
}

export interface InitdbOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly dataDir: string;
  /** Default 'postgres'. */
  readonly superuser?: string;
  /** The superuser's password; generated when absent. */
  readonly superuserPassword?: string;
  /** Default 'C.UTF-8' (code point order, UTF-8 character classes). */
  readonly locale?: string;
  /** Addresses of cluster members: the only sources of replication and rewind connections. */
  readonly memberCidrs: readonly string[];
  /** Addresses allowed to connect as any role to any database (applications); default none. */
  readonly clientCidrs?: readonly string[];
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

export interface InitdbResult {
  readonly superuser: string;
  /** Generated; store it (cluster state), never log it. */
  readonly superuserPassword: string;
  readonly durationMs: number;
}

/**
 * Create a new cluster: data checksums, UTF-8, scram-sha-256 everywhere, a
 * generated superuser password (via --pwfile, a 0600 file in a private
 * directory, removed afterwards), then pgherd's pg_hba.conf.
 */
export async function initdb(options: InitdbOptions): Promise<InitdbResult> {
  const log = options.log ?? silentLogger;
  const superuser = options.superuser ?? 'postgres';
  assertRoleName(superuser);
  await mkdirForPg(options.osUser, options.dataDir);
  if ((await readdir(options.dataDir)).length > 0) throw new PgTargetNotEmptyError(options.dataDir);
  const password = options.superuserPassword ?? generatePassword();
  const pwDir = await mkdtemp(join(tmpdir(), 'pgherd-pw-'));
  try {
    await chownToPg(options.osUser, pwDir);
    const pwFile = join(pwDir, 'pw');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    await chownToPg(options.osUser, pwFile);
    const args = [
      '-D', options.dataDir,
      '--data-checksums',
      `--username=${superuser}`,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      `--locale=${options.locale ?? 'C.UTF-8'}`,
    ];
    const run = await runToolOk('initdb', options.binaries.path('initdb'), args, { user: options.osUser, timeoutMs: options.timeoutMs ?? INITDB_TIMEOUT_MS_DEFAULT });
    await writeHba(options.dataDir, options.osUser, { superuser, memberCidrs: options.memberCidrs, clientCidrs: options.clientCidrs ?? [] });
    log.info({ dataDir: options.dataDir, superuser, durationMs: run.durationMs }, 'postgres.initdb_done');
    return { superuser, superuserPassword: password, durationMs: run.durationMs };
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
}

export interface HbaSpec {
  readonly superuser: string;
  readonly memberCidrs: readonly string[];
  readonly clientCidrs: readonly string[];
}

/** pg_hba.conf text: superuser over the local socket only (also for a replication connection); replication and rewind only from members; scram everywhere. Pure. */
export function renderHba(spec: HbaSpec): string {
  assertRoleName(spec.superuser);
  for (const cidr of [...spec.memberCidrs, ...spec.clientCidrs]) assertCidr(cidr);
  const lines = [
    '# Written by pgherd; rewritten when the membership changes. Do not edit.',
    '# TYPE  DATABASE     USER                ADDRESS   METHOD',
    `local   all          ${spec.superuser}   scram-sha-256`,
    // The agent asks its own standby which timeline it has replayed (IDENTIFY_SYSTEM).
    `local   replication  ${spec.superuser}   scram-sha-256`,
    ...spec.memberCidrs.map((cidr) => `host    replication  ${REPLICATION_ROLE}   ${cidr}   scram-sha-256`),
    ...spec.memberCidrs.map((cidr) => `host    postgres     ${REWIND_ROLE}   ${cidr}   scram-sha-256`),
    ...spec.clientCidrs.map((cidr) => `host    all          all   ${cidr}   scram-sha-256`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Write pg_hba.conf (takes effect at the next start or reload). */
export async function writeHba(dataDir: string, osUser: PgOsUser, spec: HbaSpec): Promise<void> {
  const path = join(dataDir, 'pg_hba.conf');
  await writeFile(path, renderHba(spec), { mode: 0o600 });
  await chownToPg(osUser, path);
}

/**
 * A SCRAM-SHA-256 verifier computed here, so the plain password never
 * reaches the server (nor its statement log). The passwords we generate are
 * ASCII, for which SASLprep is the identity.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface RolePasswords {
  readonly replicatorPassword: string;
  readonly rewindPassword: string;
}

/**
 * Create (or re-password) the replication and rewind roles on a running
 * primary. Passwords are generated unless given; returned to the caller.
 */
export async function createRoles(conn: LocalConnection, given: Partial<RolePasswords> = {}, log: Logger = silentLogger): Promise<RolePasswords> {
  const passwords: RolePasswords = {
    replicatorPassword: given.replicatorPassword ?? generatePassword(),
    rewindPassword: given.rewindPassword ?? generatePassword(),
  };
  await withConnection(conn, 'create roles', async (client) => {
    await client.query("SET log_statement = 'none'");
    await client.query('BEGIN');
    const upsert = async (role: string, attributes: string, password: string): Promise<void> => {
      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
      // Role names are constants; the verifier is base64 and '$'/':' only, so literal quoting is safe.
      await client.query(`${exists ? 'ALTER' : 'CREATE'} ROLE ${role} WITH ${attributes} PASSWORD '${scramVerifier(password)}'`);
    };
    await upsert(REPLICATION_ROLE, 'LOGIN REPLICATION', passwords.replicatorPassword);
    await upsert(REWIND_ROLE, 'LOGIN', passwords.rewindPassword);
    for (const fn of ['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text)', 'pg_read_binary_file(text, bigint, bigint, boolean)']) {
      await client.query(`GRANT EXECUTE ON FUNCTION pg_catalog.${fn} TO ${REWIND_ROLE}`);
    }
    await client.query(`GRANT pg_checkpoint TO ${REWIND_ROLE}`);
    await client.query('COMMIT');
  });
  log.info({ roles: [REPLICATION_ROLE, REWIND_ROLE] }, 'postgres.roles_created');
  return passwords;
}

import { execFile } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PgBinariesMissingError } from './errors.js';

const execFileAsync = promisify(execFile);
const PROBE_TIMEOUT_MS = 5000;
/** Where Debian/Ubuntu install server binaries, one directory per major version. */
const DEBIAN_LAYOUT_DIR = '/usr/lib/postgresql';
const INSTALL_HINT = "install the 'postgresql' package (Debian/Ubuntu: apt-get install postgresql)";

/** The PostgreSQL tools pgherd runs. */
export type PgTool = 'postgres' | 'initdb' | 'pg_basebackup' | 'pg_rewind' | 'pg_controldata' | 'pg_isready' | 'pg_verifybackup';

export interface PgBinaries {
  readonly binDir: string;
  /** e.g. 15 */
  readonly majorVersion: number;
  /** e.g. 'postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)' */
  readonly versionString: string;
  path(tool: PgTool): string;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function pgConfigBinDir(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('pg_config', ['--bindir'], { timeout: PROBE_TIMEOUT_MS });
    const dir = stdout.trim();
    return dir !== '' && (await isExecutable(join(dir, 'postgres'))) ? dir : undefined;
  } catch {
    return undefined;
  }
}

async function highestDebianBinDir(): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await readdir(DEBIAN_LAYOUT_DIR);
  } catch {
    return undefined;
  }
  const majors = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => b - a);
  for (const major of majors) {
    const dir = join(DEBIAN_LAYOUT_DIR, String(major), 'bin');
    if (await isExecutable(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

/**
 * Find the PostgreSQL server binaries: the configured `binDir` when given
 * (and only there), else `pg_config --bindir` (when it has a server), else
 * the highest /usr/lib/postgresql/<N>/bin with `postgres`. Checks `postgres --version`.
 */
export async function findPgBinaries(options: { binDir?: string } = {}): Promise<PgBinaries> {
  const binDir = options.binDir ?? (await pgConfigBinDir()) ?? (await highestDebianBinDir());
  if (binDir === undefined) {
    throw new PgBinariesMissingError(`PostgreSQL server binaries not found (no pg_config with a server, nothing in ${DEBIAN_LAYOUT_DIR}/<N>/bin); ${INSTALL_HINT}`);
  }
  const postgres = join(binDir, 'postgres');
  if (!(await isExecutable(postgres))) {
    throw new PgBinariesMissingError(`${postgres} not found or not executable (configured bin dir ${binDir}); ${INSTALL_HINT}`);
  }
  let versionString: string;
  try {
    versionString = (await execFileAsync(postgres, ['--version'], { timeout: PROBE_TIMEOUT_MS })).stdout.trim();
  } catch (cause) {
    throw new PgBinariesMissingError(`${postgres} --version failed; ${INSTALL_HINT}`, { cause });
  }
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(versionString);
  if (match === null) throw new PgBinariesMissingError(`${postgres} --version printed an unexpected ${JSON.stringify(versionString)}`);
  for (const tool of ['initdb', 'pg_basebackup', 'pg_rewind', 'pg_controldata'] as const) {
    if (!(await isExecutable(join(binDir, tool)))) throw new PgBinariesMissingError(`${join(binDir, tool)} is missing; ${INSTALL_HINT}`);
  }
  return Object.freeze({ binDir, majorVersion: Number(match[1]), versionString, path: (tool: PgTool) => join(binDir, tool) });
}

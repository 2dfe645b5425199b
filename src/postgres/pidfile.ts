import { readFile, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';

/** postmaster.pid as PostgreSQL (10+) writes it. */
export interface PostmasterPid {
  readonly pid: number;
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly listenAddresses: string;
  /** 'starting' | 'stopping' | 'ready' | 'standby' | '' (line 8, written once the postmaster knows). */
  readonly pmStatus: string;
}

/** Read postmaster.pid; undefined when absent or half-written. */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterPid | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    dataDir: lines[1] ?? '',
    port: Number(lines[3] ?? 0),
    socketDir: (lines[4] ?? '').trim(),
    listenAddresses: (lines[5] ?? '').trim(),
    pmStatus: (lines[7] ?? '').trim(),
  };
}

async function procStatus(pid: number): Promise<{ state: string; comm: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ...; comm may contain spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), state: stat.slice(close + 2, close + 3) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a live postmaster of `dataDir`: the process exists, is not
 * a zombie, and (where /proc exists) runs with its working directory in the
 * data directory — the postmaster chdirs there, so a recycled pid of another
 * process does not match.
 */
export async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  if (!isProcessAlive(pid)) return false;
  const status = await procStatus(pid);
  if (status === undefined) return !(await hasProc());
  if (status.state === 'Z' || status.state === 'X') return false;
  try {
    return (await readlink(`/proc/${pid}/cwd`)) === (await realpath(dataDir));
  } catch {
    return false;
  }
}

async function hasProc(): Promise<boolean> {
  try {
    await readFile('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** kill(pid, 0): the process exists (possibly as a zombie, possibly another user's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

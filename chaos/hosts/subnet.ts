import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The X of every `${net}.X.0/24` some interface of this machine (or `extra` text, e.g. Docker's networks) has an address in. */
export async function usedOctets(net: string, extra = ''): Promise<Set<number>> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  const pattern = new RegExp(`${net.replace(/\./g, '\\.')}\\.(\\d+)\\.`, 'g');
  return new Set([...`${stdout}\n${extra}`.matchAll(pattern)].map((m) => Number(m[1])));
}

/**
 * A free X of `${net}.X.0/24`, searched from one drawn from the PID, so
 * runs started at the same moment are unlikely to pick the same one.
 * `full` says what to do when none is left.
 */
export function freeOctet(used: ReadonlySet<number>, net: string, full: string): number {
  for (let i = 0; i < 254; i++) {
    const octet = ((process.pid + i) % 254) + 1;
    if (!used.has(octet)) return octet;
  }
  throw new Error(`every subnet ${net}.1-254.0/24 is in use: ${full}`);
}

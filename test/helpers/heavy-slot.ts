import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/**
 * One heavy scenario at a time across test files: AVA runs files in
 * parallel, and two three-node clusters (agents, fences, PostgreSQL) on a
 * 2-core machine starve each other into false failovers. A directory
 * created atomically is the lock; its pid file lets a waiter take over
 * from a test process that died holding it. Released in teardown — call
 * this before anything else registers a teardown, so it is released last.
 * Time spent waiting does not count against the test's own timeout.
 */
export async function acquireHeavySlot(t: ExecutionContext, timeoutMs: number): Promise<void> {
  const dir = join(tmpdir(), `pgherd-heavy-test-${process.getuid?.() ?? 'user'}.lock`);
  const pidFile = join(dir, 'pid');
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(pidFile, String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(pidFile, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      t.timeout(timeoutMs, 'waiting for another heavy test to finish');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  t.timeout(timeoutMs);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Output kept from a child for an error message. */
const OUTPUT_KEEP_BYTES = 4096;
/** After SIGTERM a child gets this long before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/**
 * The short-lived processes a bench spawns (cp, sync, pgbench, the WAL
 * client), by PID, so that a teardown — also on Ctrl-C — stops the ones
 * still running, and only those.
 */
export class Children {
  private readonly running = new Map<number, ChildProcess>();
  private stopped = false;

  /** Run to completion; resolves with its output (stdout and stderr, the tail) on exit 0, rejects naming `what` otherwise. */
  run(what: string, command: string, args: readonly string[], options: SpawnOptions = {}): Promise<string> {
    if (this.stopped) return Promise.reject(new Error(`${what}: not started, the bench is stopping`));
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid !== undefined) this.running.set(child.pid, child);
      let output = '';
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP_BYTES);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      child.once('error', (error) => {
        if (child.pid !== undefined) this.running.delete(child.pid);
        reject(new Error(`${what}: cannot run ${command}: ${error.message}`));
      });
      child.once('close', (code, signal) => {
        if (child.pid !== undefined) this.running.delete(child.pid);
        if (code === 0) resolve(output);
        else reject(new Error(`${what}: ${command} ${code === null ? `was killed by ${signal}` : `exited with code ${code}`}: ${output.trim()}`));
      });
    });
  }

  /** SIGTERM every child still running (by PID), SIGKILL after a grace period; no child is started afterwards. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.running.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
        await closed;
        clearTimeout(timer);
      }),
    );
  }
}

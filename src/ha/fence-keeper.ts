import type { Logger } from '../lib/logger.js';
import type { Fence, FenceState } from './fence.js';

/** What the HA loop and the switchover runner do with the fence. */
export interface FenceControl {
  readonly state: FenceState;
  arm(deadlineMs: number): void;
  pet(deadlineMs: number): void;
  disarm(): void;
}

/**
 * The agent's fence across fence processes. A fence process fires once:
 * it stops PostgreSQL and exits; its channel can also be lost. Either way
 * the Fence object stays dead, and every later arm() was silently a no-op,
 * so a node that became primary again ran unfenced: when its agent then
 * died, PostgreSQL served on past the lease (found by the chaos suite).
 * The keeper replaces a dead fence (adopting one still running, else
 * starting a new process) at the start of every HA loop run, before the
 * loop can arm it.
 */
export class FenceKeeper implements FenceControl {
  constructor(
    private current: Fence,
    private readonly replace: () => Promise<Fence>,
    private readonly log: Logger,
  ) {}

  get state(): FenceState {
    return this.current.state;
  }

  /** The fence process's PID (for logs and tests). */
  get pid(): number {
    return this.current.pid;
  }

  /** Replace the fence if it fired or was lost; a failure is logged and tried again at the next call. */
  async ensure(): Promise<void> {
    const was = this.current.state;
    if (was !== 'fired' && was !== 'lost') return;
    try {
      this.current = await this.replace();
      this.log.warn({ was, fencePid: this.current.pid }, 'fence.replaced');
    } catch (error) {
      this.log.error({ was, err: error }, 'fence.replace_failed');
    }
  }

  arm(deadlineMs: number): void {
    this.current.arm(deadlineMs);
  }

  pet(deadlineMs: number): void {
    this.current.pet(deadlineMs);
  }

  disarm(): void {
    this.current.disarm();
  }

  close(): Promise<void> {
    return this.current.close();
  }
}

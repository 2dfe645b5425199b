import { assert } from './assert.js';

/** A place in a Limiter: granted once `granted` resolves; give it back with release(). */
export interface Slot {
  readonly granted: Promise<void>;
  /** Serve this waiter before every non-urgent one (no effect once granted). */
  expedite(): void;
  /** Give the slot back, or leave the queue when not yet granted. Idempotent. */
  release(): void;
}

interface Waiter {
  readonly grant: () => void;
  state: 'waiting' | 'granted' | 'released';
  urgent: boolean;
}

/**
 * At most `limit` holders at once (concurrent uploads, fetches). Waiters are
 * served urgent first, then in arrival order; a waiting slot can become
 * urgent later (background work that a caller now waits for).
 */
export class Limiter {
  private active = 0;
  private readonly urgentQueue: Waiter[] = [];
  private readonly normalQueue: Waiter[] = [];

  constructor(readonly limit: number) {
    assert(Number.isInteger(limit) && limit >= 1, `Limiter limit must be a positive integer, got ${limit}`);
  }

  get activeCount(): number {
    return this.active;
  }

  get waitingCount(): number {
    return this.urgentQueue.length + this.normalQueue.length;
  }

  acquire(urgent = false): Slot {
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = resolve;
    });
    const waiter: Waiter = { grant, state: 'waiting', urgent };
    (urgent ? this.urgentQueue : this.normalQueue).push(waiter);
    this.pump();
    return {
      granted,
      expedite: () => {
        if (waiter.state !== 'waiting' || waiter.urgent) return;
        remove(this.normalQueue, waiter);
        waiter.urgent = true;
        this.urgentQueue.push(waiter);
      },
      release: () => {
        if (waiter.state === 'released') return;
        const wasGranted = waiter.state === 'granted';
        waiter.state = 'released';
        if (wasGranted) {
          this.active -= 1;
          this.pump();
        } else {
          remove(waiter.urgent ? this.urgentQueue : this.normalQueue, waiter);
        }
      },
    };
  }

  private pump(): void {
    while (this.active < this.limit) {
      const next = this.urgentQueue.shift() ?? this.normalQueue.shift();
      if (next === undefined) return;
      next.state = 'granted';
      this.active += 1;
      next.grant();
    }
  }
}

function remove(queue: Waiter[], waiter: Waiter): void {
  const at = queue.indexOf(waiter);
  assert(at >= 0, 'Limiter: a waiting slot is not in its queue');
  queue.splice(at, 1);
}

import type { Entry } from '../../src/raft/core/types.js';
import type { StateMachine } from '../../src/raft/driver/contracts.js';

/**
 * A tiny deterministic state machine for the Raft demo, benchmark and
 * integration tests: it counts applied commands and keeps the last few.
 */
export class CounterStateMachine implements StateMachine<number> {
  count = 0;
  lastIndex = 0;
  recent: string[] = [];
  private static readonly RECENT_MAX = 16;

  apply(entry: Entry): number {
    this.count += 1;
    this.lastIndex = entry.index;
    this.recent.push(new TextDecoder().decode(entry.data));
    if (this.recent.length > CounterStateMachine.RECENT_MAX) this.recent.shift();
    return this.count;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ count: this.count, lastIndex: this.lastIndex, recent: this.recent }));
  }

  restore(data: Uint8Array): void {
    if (data.byteLength === 0) {
      this.count = 0;
      this.lastIndex = 0;
      this.recent = [];
      return;
    }
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { count: number; lastIndex: number; recent: string[] };
    this.count = parsed.count;
    this.lastIndex = parsed.lastIndex;
    this.recent = parsed.recent;
  }
}

import { assert } from '../../lib/assert.js';

/**
 * A bounded ring of the last indexes of the AppendEntries messages sent to
 * one follower and not yet acknowledged (the replicate-state window).
 */
export class Inflights {
  readonly capacity: number;
  private readonly ring: Float64Array;
  private start = 0;
  private size = 0;

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, () => `inflights capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.ring = new Float64Array(capacity);
  }

  get count(): number {
    return this.size;
  }

  full(): boolean {
    return this.size === this.capacity;
  }

  /** Record a message whose last entry is `lastIndex`. Indexes must increase. */
  add(lastIndex: number): void {
    assert(!this.full(), 'cannot add to a full inflights window');
    assert(this.size === 0 || lastIndex > this.at(this.size - 1), () => `inflight index ${lastIndex} does not increase`);
    this.ring[(this.start + this.size) % this.capacity] = lastIndex;
    this.size++;
  }

  /** Free every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let freed = 0;
    while (freed < this.size && this.at(freed) <= index) freed++;
    this.size -= freed;
    this.start = this.size === 0 ? 0 : (this.start + freed) % this.capacity;
  }

  reset(): void {
    this.start = 0;
    this.size = 0;
  }

  private at(offset: number): number {
    return this.ring[(this.start + offset) % this.capacity]!;
  }
}

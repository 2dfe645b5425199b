import { assert } from '../../lib/assert.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The part of the log not yet persisted: an incoming snapshot (if any) and
 * the entries from `offset` on. Handed to the driver in Ready; dropped here
 * once the driver reports them stable.
 */
export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index of the log if the unstable snapshot defines it. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** Last index of the log if unstable entries or snapshot define it. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot?.metadata.index === index ? this.snapshot.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  /** Entries up to `index` (with `term`) are durable: drop them. */
  stableTo(index: number, term: number): void {
    const found = this.maybeTerm(index);
    if (found === undefined || found !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot?.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Append `entries`, first cutting off any existing suffix they overlap. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(entries);
    } else if (after <= this.offset) {
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = this.slice(this.offset, after).concat(entries);
    }
  }

  /** Entries [lo, hi) that must all be unstable. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi, () => `invalid unstable slice [${lo}, ${hi})`);
    const upper = this.offset + this.entries.length;
    assert(this.offset <= lo && hi <= upper, () => `unstable slice [${lo}, ${hi}) out of bound [${this.offset}, ${upper})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

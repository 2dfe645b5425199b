import { assert } from '../../lib/assert.js';
import { Unstable } from './log-unstable.js';
import { entrySizeBytes } from './memory-storage.js';
import { CompactedError, UnavailableError, type Entry, type Snapshot, type Storage } from './types.js';

/** An (index, term) pair in the log. */
export interface EntryId {
  readonly index: number;
  readonly term: number;
}

/**
 * The Raft log as the core sees it: the stable part (Storage, read only) and
 * the unstable tail (Unstable), plus the commit and apply cursors.
 * Invariant: applied <= committed <= lastIndex().
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  private readonly maxCommittedSizePerReadyBytes: number;

  constructor(storage: Storage, maxCommittedSizePerReadyBytes: number) {
    this.storage = storage;
    this.maxCommittedSizePerReadyBytes = maxCommittedSizePerReadyBytes;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  lastEntryId(): EntryId {
    const index = this.lastIndex();
    return { index, term: this.term(index) };
  }

  /** The term at `index`, or undefined when it is compacted or beyond the last index. */
  maybeTerm(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return undefined;
      throw error;
    }
  }

  /** The term at `index`, which must be available. */
  term(index: number): number {
    const term = this.maybeTerm(index);
    assert(term !== undefined, () => `term(${index}) unavailable [first ${this.firstIndex()}, last ${this.lastIndex()}]`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.maybeTerm(index) === term;
  }

  /** Is a log ending at (lastIndex, lastTerm) at least as up to date as ours (§5.4.1)? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The index of the first entry in `entries` that is not in our log (a
   * different term at the same index, or past our end); 0 when all match.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`: the last position
   * where a log with `term` at `index` can still agree with ours. A
   * compacted position is returned with term 0 (unknown).
   */
  findConflictByTerm(index: number, term: number): EntryId {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const ourTerm = this.maybeTerm(i);
      if (ourTerm === undefined) return { index: i, term: 0 };
      if (ourTerm <= term) return { index: i, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Append `entries` that follow (prevIndex, prevTerm) if we have that entry;
   * returns the new last index of the appended run, or undefined on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /** Append to the unstable tail (truncating a conflicting uncommitted suffix). Returns the last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, () => `appending after ${after} would overwrite committed ${this.committed}`);
    assert(after <= this.lastIndex(), () => `appending after ${after} leaves a gap (last ${this.lastIndex()})`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}: log corrupted or lost?`);
    this.committed = index;
  }

  /** Commit `index` if it carries `term` (a leader commits only entries of its own term by counting). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.maybeTerm(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index >= this.applied && index <= this.committed, () => `applied ${index} out of range [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** The snapshot to send to a lagging follower: an incoming one, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  hasNextCommittedEntries(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  /** Committed entries not yet applied, at most maxCommittedSizePerReadyBytes (but at least one). */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    const entries = this.slice(lo, this.committed + 1, this.maxCommittedSizePerReadyBytes);
    assert(entries !== undefined, () => `committed entries from ${lo} are compacted but not applied (applied ${this.applied})`);
    return entries;
  }

  /** Entries from `index` to the end, at most maxBytes (at least one); undefined when compacted. */
  entriesFrom(index: number, maxBytes: number): Entry[] | undefined {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi), at most maxBytes (at least one); undefined when lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    assert(lo <= hi, () => `invalid slice [${lo}, ${hi})`);
    assert(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) beyond the last index ${this.lastIndex()}`);
    if (lo < this.firstIndex()) return undefined;
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < offset) {
      const stableHi = Math.min(hi, offset);
      const stored = this.storageEntries(lo, stableHi, maxBytes);
      if (stored === undefined) return undefined;
      if (stored.length < stableHi - lo) return stored;
      result = stored;
    }
    if (hi > offset) result = result.concat(this.unstable.slice(Math.max(lo, offset), hi));
    return limitSize(result, maxBytes);
  }

  /** Replace everything with `snapshot` (a follower catching up). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  private storageEntries(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    try {
      return this.storage.entries(lo, hi, maxBytes);
    } catch (error) {
      if (error instanceof CompactedError) return undefined;
      throw error;
    }
  }
}

/** The longest prefix within maxBytes, but at least one entry. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entrySizeBytes(entries[i]!);
    if (i > 0 && size > maxBytes) return entries.slice(0, i);
  }
  return entries;
}

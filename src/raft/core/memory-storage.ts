import { assert } from '../../lib/assert.js';
import {
  CompactedError,
  EMPTY_HARD_STATE,
  SnapshotOutOfDateError,
  UnavailableError,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type Storage,
} from './types.js';

const EMPTY_CONF: ConfState = Object.freeze({ voters: [], learners: [] });

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: EMPTY_CONF }, data: new Uint8Array(0) };
}

/** Bytes an entry occupies for size limits (payload plus a small fixed overhead). */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

/**
 * The in-memory mirror of the durable log, read by the core. The driver
 * appends to it only after the same data is durably on disk, so the core
 * never sees an entry it could lose on a crash.
 *
 * Layout (as etcd-io/raft's MemoryStorage): `ents[0]` is a dummy entry that
 * holds the index and term of the last compacted entry (the snapshot).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index - offset >= this.ents.length) throw new UnavailableError(index, this.lastIndex());
    return this.ents[index - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    assert(hi <= this.lastIndex() + 1, () => `entries(${lo}, ${hi}) out of bound, last index ${this.lastIndex()}`);
    assert(lo <= hi, () => `entries(${lo}, ${hi}): lo > hi`);
    const result: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.ents[i - offset]!;
      size += entrySizeBytes(entry);
      if (result.length > 0 && size > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the whole content with a snapshot (a follower receiving InstallSnapshot, or recovery). */
  applySnapshot(snapshot: Snapshot): void {
    const current = this.snap.metadata.index;
    if (snapshot.metadata.index < current) throw new SnapshotOutOfDateError(snapshot.metadata.index, current);
    this.snap = snapshot;
    this.ents = [{ term: snapshot.metadata.term, index: snapshot.metadata.index, type: 'normal', data: new Uint8Array(0) }];
  }

  /**
   * Record a snapshot of the applied state at `index` (<= applied) without
   * discarding entries; call compact() to discard.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    assert(index <= this.lastIndex(), () => `snapshot index ${index} is beyond the last index ${this.lastIndex()}`);
    const offset = this.ents[0]!.index;
    this.snap = { metadata: { index, term: this.ents[index - offset]!.term, confState }, data };
    return this.snap;
  }

  /** Discard entries up to and including `compactIndex`. It must not pass the last index. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    assert(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is beyond the last index ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const head: Entry = { term: this.ents[i]!.term, index: this.ents[i]!.index, type: 'normal', data: new Uint8Array(0) };
    this.ents = [head, ...this.ents.slice(i + 1)];
  }

  /**
   * Append entries that are now durable. Entries that overlap the existing
   * log replace the conflicting suffix (a new leader overwrote it).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // entirely compacted already
    let ents = entries;
    if (first > ents[0]!.index) ents = ents.slice(first - ents[0]!.index);
    const offset = ents[0]!.index - this.ents[0]!.index;
    assert(offset <= this.ents.length, () => `missing log entry: last ${this.lastIndex()}, appending at ${ents[0]!.index}`);
    this.ents = this.ents.slice(0, offset).concat(ents);
  }
}

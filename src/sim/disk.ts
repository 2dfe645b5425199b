import { assert } from '../lib/assert.js';
import { MemoryStorage } from '../raft/core/memory-storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/core/types.js';
import type { Profile } from './swarm.js';

/** One write the driver issues: a Ready's persistence, or a local snapshot + compaction. */
export type DiskWrite =
  | { readonly kind: 'ready'; readonly snapshot?: Snapshot; readonly entries: readonly Entry[]; readonly hardState?: HardState }
  | { readonly kind: 'compact'; readonly index: number; readonly confState: ConfState; readonly data: Uint8Array; readonly compactIndex: number };

interface PendingWrite {
  readonly write: DiskWrite;
  /** When the write reaches stable storage; a crash before it loses the write (and every later one). */
  durableAt: number;
}

/** Bound on writes in flight per disk: the driver writes one Ready at a time, plus compactions. */
const PENDING_WRITES_MAX = 10_000;

export interface DiskProfile extends Readonly<Profile['disk']> {
  /** Test-only: acknowledge syncs without syncing (writes become durable only by write-back). */
  readonly lying: boolean;
}

/**
 * A simulated disk. A write is acknowledged after `writeUnits` (plus
 * `syncUnits` when synced) but only becomes durable when synced: by its own
 * sync, by a later write's sync (a sync flushes everything before it), or by
 * the OS write-back after `writebackUnits`. Durability is always a prefix of
 * the issued writes. A crash loses what is not durable yet.
 *
 * The durable content is kept as a MemoryStorage replaying the same writes,
 * so a restart rebuilds its storage exactly as a real driver reads its disk.
 */
export class SimDisk {
  private readonly durable = new MemoryStorage();
  private pending: PendingWrite[] = [];

  constructor(private readonly profile: DiskProfile) {}

  /** A brand-new member of the initial cluster: its configuration is on disk before the process first starts. */
  bootstrap(snapshot: Snapshot): void {
    assert(this.durable.lastIndex() === 0 && this.pending.length === 0, 'bootstrap of a used disk');
    this.durable.applySnapshot(snapshot);
  }

  /** Issue a write at `now`; returns when the driver is told it is done (synced, if `sync`). */
  write(now: number, write: DiskWrite, sync: boolean): number {
    assert(this.pending.length < PENDING_WRITES_MAX, 'too many disk writes in flight');
    const writtenAt = now + this.profile.writeUnits;
    const honestSync = sync && !this.profile.lying;
    const ackAt = honestSync ? writtenAt + this.profile.syncUnits : writtenAt;
    const durableAt = honestSync ? ackAt : writtenAt + this.profile.writebackUnits;
    for (const earlier of this.pending) earlier.durableAt = Math.min(earlier.durableAt, durableAt);
    this.pending.push({ write, durableAt });
    return ackAt;
  }

  /** Make durable every write whose time has come; returns the hard states that became durable, in order. */
  flush(now: number): HardState[] {
    const hardStates: HardState[] = [];
    let done = 0;
    while (done < this.pending.length && this.pending[done]!.durableAt <= now) {
      const { write } = this.pending[done]!;
      this.persist(write);
      if (write.kind === 'ready' && write.hardState !== undefined) hardStates.push(write.hardState);
      done++;
    }
    if (done > 0) this.pending = this.pending.slice(done);
    return hardStates;
  }

  /** Power loss at `now`: durable writes stay, everything else is gone. */
  crash(now: number): HardState[] {
    const hardStates = this.flush(now);
    this.pending = [];
    return hardStates;
  }

  /** Read the durable content back into a fresh storage (what a restarting process sees). */
  load(): MemoryStorage {
    const storage = new MemoryStorage();
    storage.applySnapshot(this.durable.snapshot());
    const first = this.durable.firstIndex();
    const last = this.durable.lastIndex();
    if (last >= first) storage.append(this.durable.entries(first, last + 1, Infinity));
    storage.setHardState(this.durable.initialState().hardState);
    return storage;
  }

  private persist(write: DiskWrite): void {
    const disk = this.durable;
    if (write.kind === 'compact') {
      if (write.index > disk.snapshot().metadata.index) disk.createSnapshot(write.index, write.confState, write.data);
      if (write.compactIndex >= disk.firstIndex()) disk.compact(write.compactIndex);
      return;
    }
    if (write.snapshot !== undefined) disk.applySnapshot(write.snapshot);
    disk.append(write.entries);
    if (write.hardState !== undefined) disk.setHardState(write.hardState);
  }
}

import type { MemoryStorage } from '../raft/core/memory-storage.js';
import type { Entry, Ready } from '../raft/core/types.js';
import type { EntryFingerprint, LogView } from './checkers.js';
import { hashBytes, mix } from './hash.js';

/** Fingerprint of an entry's content: its type and its bytes. */
export function entryHash(entry: Entry): number {
  return hashBytes(entry.data, mix(0x811c9dc5, entry.type === 'conf' ? 1 : 0));
}

/**
 * A node's whole log while it handles `ready`: the durable log (its
 * storage) overlaid by the snapshot and entries it is about to persist.
 * This is the durable + unstable log the core itself sees.
 */
export function readyLogView(storage: MemoryStorage, ready: Ready): LogView {
  const base = ready.snapshot?.metadata ?? { index: storage.firstIndex() - 1, term: storage.term(storage.firstIndex() - 1) };
  const entries = ready.entries;
  const first = entries.length > 0 ? entries[0]!.index : Infinity;
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : ready.snapshot !== undefined ? base.index : storage.lastIndex();
  return {
    snapshotIndex: base.index,
    snapshotTerm: base.term,
    lastIndex,
    termAt(index: number): number {
      if (index >= first) return entries[index - first]!.term;
      if (index === base.index) return base.term;
      if (ready.snapshot !== undefined) return -1; // a gap after a snapshot: the entry is missing
      try {
        return storage.term(index);
      } catch {
        return -1;
      }
    },
  };
}

/** The fingerprints of the entries of `ready`, each with the term of the entry before it (-1 = unknown). */
export function readyFingerprints(log: LogView, ready: Ready): EntryFingerprint[] {
  const out: EntryFingerprint[] = [];
  let prevTerm = ready.entries.length > 0 ? termBefore(log, ready.entries[0]!.index) : -1;
  for (const entry of ready.entries) {
    out.push({ index: entry.index, term: entry.term, hash: entryHash(entry), prevTerm });
    prevTerm = entry.term;
  }
  return out;
}

function termBefore(log: LogView, index: number): number {
  const prev = index - 1;
  if (prev < log.snapshotIndex) return -1;
  return prev === log.snapshotIndex ? log.snapshotTerm : log.termAt(prev);
}

import test from 'ava';
import { AssertionFailedError } from '../../../src/lib/errors.js';
import { Unstable } from '../../../src/raft/core/log-unstable.js';
import { RaftLog } from '../../../src/raft/core/log.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { Entry, Snapshot } from '../../../src/raft/core/types.js';
import { bootstrapStorage, entry } from './helpers.js';

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** A log whose stable part holds `stableTerms` (from index 1) and whose unstable tail holds `unstableTerms`. */
function raftLog(stableTerms: number[], unstableTerms: number[] = [], maxBytes = NO_LIMIT): RaftLog {
  const storage = bootstrapStorage(['n1']);
  storage.append(stableTerms.map((term, i) => entry(i + 1, term)));
  const log = new RaftLog(storage, maxBytes);
  log.append(unstableTerms.map((term, i) => entry(stableTerms.length + i + 1, term)));
  return log;
}

function terms(entries: readonly Entry[]): number[] {
  return entries.map((e) => e.term);
}

function snapshot(index: number, term: number): Snapshot {
  return { metadata: { index, term, confState: { voters: ['n1'], learners: [] } }, data: new Uint8Array(0) };
}

test('findConflict: first index whose term differs or that is new; 0 when all match', (t) => {
  const log = raftLog([1, 2, 3]);
  const cases: [Entry[], number][] = [
    [[], 0],
    [[entry(1, 1), entry(2, 2), entry(3, 3)], 0],
    [[entry(2, 2), entry(3, 3)], 0],
    [[entry(3, 3), entry(4, 4), entry(5, 4)], 4],
    [[entry(1, 1), entry(2, 4)], 2],
    [[entry(3, 4), entry(4, 4)], 3],
  ];
  for (const [entries, want] of cases) t.is(log.findConflict(entries), want, JSON.stringify(terms(entries)));
});

test('findConflictByTerm: largest index <= i with term <= t', (t) => {
  const log = raftLog([1, 3, 3, 3, 5, 5, 5, 5, 5]);
  t.deepEqual(log.findConflictByTerm(9, 2), { index: 1, term: 1 });
  t.deepEqual(log.findConflictByTerm(9, 4), { index: 4, term: 3 });
  t.deepEqual(log.findConflictByTerm(9, 5), { index: 9, term: 5 });
  t.deepEqual(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
  t.deepEqual(log.findConflictByTerm(20, 9), { index: 9, term: 5 }, 'clamped to the last index');
});

test('findConflictByTerm: a compacted position has an unknown term', (t) => {
  const storage = bootstrapStorage(['n1']);
  storage.append([1, 2, 2, 4].map((term, i) => entry(i + 1, term)));
  storage.createSnapshot(2, { voters: ['n1'], learners: [] }, new Uint8Array(0));
  storage.compact(2);
  const log = new RaftLog(storage, NO_LIMIT);
  t.deepEqual(log.findConflictByTerm(4, 3), { index: 3, term: 2 });
  t.deepEqual(log.findConflictByTerm(4, 2), { index: 3, term: 2 });
  t.deepEqual(log.findConflictByTerm(4, 1), { index: 1, term: 0 }, 'below the snapshot the term is unknown');
});

test('isUpToDate: later last term wins, then the longer log (§5.4.1)', (t) => {
  const log = raftLog([1, 2, 3]);
  t.true(log.isUpToDate(1, 4));
  t.true(log.isUpToDate(3, 3));
  t.true(log.isUpToDate(4, 3));
  t.false(log.isUpToDate(2, 3));
  t.false(log.isUpToDate(10, 2));
});

test('matchTerm and maybeTerm: defined from the snapshot index to the last index', (t) => {
  const log = raftLog([1, 2], [2]);
  t.true(log.matchTerm(0, 0));
  t.true(log.matchTerm(3, 2));
  t.false(log.matchTerm(3, 3));
  t.is(log.maybeTerm(4), undefined);
  t.throws(() => log.term(4), { instanceOf: AssertionFailedError });
});

test('maybeAppend: appends after a match, truncates a conflicting suffix, commits min(leader commit, last new)', (t) => {
  const cases: { prev: [number, number]; commit: number; entries: Entry[]; want: number | undefined; terms: number[]; committed: number }[] = [
    { prev: [3, 2], commit: 3, entries: [], want: undefined, terms: [1, 2, 3], committed: 1 },
    { prev: [4, 3], commit: 3, entries: [], want: undefined, terms: [1, 2, 3], committed: 1 },
    { prev: [3, 3], commit: 3, entries: [], want: 3, terms: [1, 2, 3], committed: 3 },
    { prev: [3, 3], commit: 5, entries: [entry(4, 4)], want: 4, terms: [1, 2, 3, 4], committed: 4 },
    { prev: [2, 2], commit: 3, entries: [entry(3, 4)], want: 3, terms: [1, 2, 4], committed: 3 },
    { prev: [1, 1], commit: 2, entries: [entry(2, 4), entry(3, 4)], want: 3, terms: [1, 4, 4], committed: 2 },
    { prev: [1, 1], commit: 1, entries: [entry(2, 2)], want: 2, terms: [1, 2, 3], committed: 1 },
  ];
  for (const c of cases) {
    const log = raftLog([1, 2, 3]);
    log.commitTo(1);
    const got = log.maybeAppend(c.prev[0], c.prev[1], c.commit, c.entries);
    const label = JSON.stringify(c.prev) + JSON.stringify(terms(c.entries));
    t.is(got, c.want, label);
    t.deepEqual(terms(log.slice(1, log.lastIndex() + 1, NO_LIMIT)!), c.terms, label);
    t.is(log.committed, c.committed, label);
  }
});

test('maybeAppend: a conflict with a committed entry is a bug', (t) => {
  const log = raftLog([1, 2, 3]);
  log.commitTo(3);
  t.throws(() => log.maybeAppend(1, 1, 3, [entry(2, 5)]), { instanceOf: AssertionFailedError });
});

test('commitTo never moves back and never passes the last index', (t) => {
  const log = raftLog([1, 2, 3]);
  log.commitTo(2);
  log.commitTo(1);
  t.is(log.committed, 2);
  t.throws(() => log.commitTo(4), { instanceOf: AssertionFailedError });
});

test('appliedTo stays within [applied, committed]', (t) => {
  const log = raftLog([1, 2, 3]);
  log.commitTo(2);
  log.appliedTo(2);
  t.is(log.applied, 2);
  t.throws(() => log.appliedTo(3), { instanceOf: AssertionFailedError });
  t.throws(() => log.appliedTo(1), { instanceOf: AssertionFailedError });
});

test('stableTo drops persisted unstable entries only when the term still matches', (t) => {
  const log = raftLog([1], [1, 2, 2]);
  log.stableTo(3, 1);
  t.is(log.unstable.offset, 2, 'term mismatch: the entry was replaced, nothing is stable');
  log.stableTo(3, 2);
  t.deepEqual(terms(log.unstableEntries()), [2]);
  t.is(log.unstable.offset, 4);
  log.stableTo(1, 1);
  t.is(log.unstable.offset, 4, 'already stable');
});

test('stableSnapTo and restore: an incoming snapshot replaces the log and moves commit', (t) => {
  const log = raftLog([1, 1], [2]);
  log.restore(snapshot(10, 4));
  t.is(log.committed, 10);
  t.is(log.firstIndex(), 11);
  t.is(log.lastIndex(), 10);
  t.is(log.lastTerm(), 4);
  t.true(log.hasPendingSnapshot());
  t.is(log.snapshot().metadata.index, 10);
  log.stableSnapTo(9);
  t.true(log.hasPendingSnapshot());
  log.stableSnapTo(10);
  t.false(log.hasPendingSnapshot());
});

test('slice spans stable and unstable entries, honours the byte limit (at least one entry), undefined when compacted', (t) => {
  const storage = bootstrapStorage(['n1']);
  storage.append([1, 1, 2].map((term, i) => entry(i + 1, term, 'x'.repeat(84))));
  storage.createSnapshot(1, { voters: ['n1'], learners: [] }, new Uint8Array(0));
  storage.compact(1);
  const log = new RaftLog(storage, NO_LIMIT);
  log.append([entry(4, 3, 'x'.repeat(84)), entry(5, 3, 'x'.repeat(84))]);
  t.deepEqual(terms(log.slice(2, 6, NO_LIMIT)!), [1, 2, 3, 3]);
  t.deepEqual(terms(log.slice(2, 6, 200)!), [1, 2], 'each entry is 100 bytes');
  t.deepEqual(terms(log.slice(3, 6, 250)!), [2, 3]);
  t.deepEqual(terms(log.slice(4, 6, 1)!), [3], 'at least one entry');
  t.is(log.slice(1, 3, NO_LIMIT), undefined);
  t.is(log.entriesFrom(1, NO_LIMIT), undefined);
  t.deepEqual(log.entriesFrom(6, NO_LIMIT), []);
  t.throws(() => log.slice(2, 7, NO_LIMIT), { instanceOf: AssertionFailedError });
});

test('nextCommittedEntries: committed and unapplied, bounded by maxCommittedSizePerReadyBytes', (t) => {
  const log = raftLog([1, 1, 1, 1], [], 40);
  t.false(log.hasNextCommittedEntries());
  log.commitTo(4);
  t.true(log.hasNextCommittedEntries());
  t.is(log.nextCommittedEntries().length, 2, 'empty entries are 16 bytes each');
  log.appliedTo(2);
  t.deepEqual(log.nextCommittedEntries().map((e) => e.index), [3, 4]);
  log.appliedTo(4);
  t.false(log.hasNextCommittedEntries());
});

test('append: refuses to overwrite committed entries or to leave a gap', (t) => {
  const log = raftLog([1, 1]);
  log.commitTo(2);
  t.throws(() => log.append([entry(2, 2)]), { instanceOf: AssertionFailedError });
  t.throws(() => log.append([entry(5, 2)]), { instanceOf: AssertionFailedError });
  t.is(log.append([entry(3, 2)]), 3);
});

test('unstable truncateAndAppend: append, replace from before the offset, truncate inside', (t) => {
  const unstable = new Unstable(5);
  unstable.truncateAndAppend([entry(5, 1), entry(6, 1)]);
  unstable.truncateAndAppend([entry(7, 1)]);
  t.deepEqual(unstable.entries.map((e) => e.index), [5, 6, 7]);
  unstable.truncateAndAppend([entry(6, 2), entry(7, 2)]);
  t.deepEqual(unstable.entries.map((e) => [e.index, e.term]), [[5, 1], [6, 2], [7, 2]]);
  unstable.truncateAndAppend([entry(4, 3)]);
  t.is(unstable.offset, 4);
  t.deepEqual(unstable.entries.map((e) => [e.index, e.term]), [[4, 3]]);
});

test('a restarted log resumes from storage: commit and applied at the snapshot, last index from storage', (t) => {
  const storage = new MemoryStorage();
  storage.applySnapshot(snapshot(5, 2));
  storage.append([entry(6, 2), entry(7, 3)]);
  const log = new RaftLog(storage, NO_LIMIT);
  t.deepEqual([log.committed, log.applied, log.firstIndex(), log.lastIndex(), log.lastTerm()], [5, 5, 6, 7, 3]);
});

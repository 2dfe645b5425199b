import test from 'ava';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { Entry } from '../../../src/raft/core/types.js';

const entry = (index: number, term: number, payload = `${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(payload) });
const conf = { voters: ['a', 'b', 'c'], learners: [] };

function storageWith(...entries: Entry[]): MemoryStorage {
  const storage = new MemoryStorage();
  storage.append(entries);
  return storage;
}

test('append, term, entries and bounds', (t) => {
  const s = storageWith(entry(1, 1), entry(2, 1), entry(3, 2));
  t.is(s.firstIndex(), 1);
  t.is(s.lastIndex(), 3);
  t.is(s.term(0), 0);
  t.is(s.term(3), 2);
  t.throws(() => s.term(4), { code: 'PGHERD_RAFT_UNAVAILABLE' });
  t.deepEqual(s.entries(1, 4, Infinity).map((e) => e.index), [1, 2, 3]);
  t.deepEqual(s.entries(2, 3, Infinity).map((e) => e.index), [2]);
});

test('entries() honours maxBytes but always returns at least one entry', (t) => {
  const s = storageWith(entry(1, 1, 'x'.repeat(100)), entry(2, 1, 'y'.repeat(100)), entry(3, 1));
  t.is(s.entries(1, 4, 1).length, 1);
  t.is(s.entries(1, 4, 240).length, 2); // 116 + 116 bytes fit, the third (17) would not
});

test('append over an existing suffix replaces the conflicting tail', (t) => {
  const s = storageWith(entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1));
  s.append([entry(3, 2, 'new3')]);
  t.is(s.lastIndex(), 3);
  t.is(s.term(3), 2);
  t.is(new TextDecoder().decode(s.entries(3, 4, Infinity)[0]!.data), 'new3');
});

test('append that leaves a gap is a bug', (t) => {
  const s = storageWith(entry(1, 1));
  t.throws(() => s.append([entry(3, 1)]), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('createSnapshot + compact keep later entries; compacted reads fail', (t) => {
  const s = storageWith(entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2));
  const snap = s.createSnapshot(3, conf, new Uint8Array([9]));
  t.is(snap.metadata.term, 2);
  s.compact(2);
  t.is(s.firstIndex(), 3);
  t.is(s.term(2), 1);
  t.throws(() => s.term(1), { code: 'PGHERD_RAFT_COMPACTED' });
  t.throws(() => s.entries(2, 3, Infinity), { code: 'PGHERD_RAFT_COMPACTED' });
  t.deepEqual(s.entries(3, 5, Infinity).map((e) => e.index), [3, 4]);
  t.throws(() => s.createSnapshot(3, conf, new Uint8Array()), { code: 'PGHERD_RAFT_SNAPSHOT_OUT_OF_DATE' });
  t.deepEqual(s.initialState().confState, conf);
});

test('applySnapshot replaces the log; an older snapshot is refused', (t) => {
  const s = storageWith(entry(1, 1), entry(2, 1));
  s.applySnapshot({ metadata: { index: 10, term: 3, confState: conf }, data: new Uint8Array() });
  t.is(s.firstIndex(), 11);
  t.is(s.lastIndex(), 10);
  t.is(s.term(10), 3);
  s.append([entry(11, 3)]);
  t.is(s.lastIndex(), 11);
  t.throws(() => s.applySnapshot({ metadata: { index: 5, term: 1, confState: conf }, data: new Uint8Array() }), {
    code: 'PGHERD_RAFT_SNAPSHOT_OUT_OF_DATE',
  });
});

test('entries that are already compacted are skipped on append', (t) => {
  const s = new MemoryStorage();
  s.applySnapshot({ metadata: { index: 5, term: 2, confState: conf }, data: new Uint8Array() });
  s.append([entry(4, 2), entry(5, 2), entry(6, 2)]);
  t.is(s.firstIndex(), 6);
  t.is(s.lastIndex(), 6);
});

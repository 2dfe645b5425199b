import test from 'ava';
import type { Entry } from '../../../src/raft/core/types.js';
import { SimDisk } from '../../../src/sim/disk.js';

const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([index]) });
const profile = { writeUnits: 1, syncUnits: 4, writebackUnits: 50 };

test('a synced write is durable when acknowledged; a crash before loses it', (t) => {
  const disk = new SimDisk({ ...profile, lying: false });
  const ackAt = disk.write(10, { kind: 'ready', entries: [entry(1, 1)], hardState: { term: 1, vote: 'n1', commit: 0 } }, true);
  t.is(ackAt, 15);
  t.deepEqual(disk.crash(14), []);
  t.is(disk.load().lastIndex(), 0);

  disk.write(20, { kind: 'ready', entries: [entry(1, 1)], hardState: { term: 1, vote: 'n1', commit: 0 } }, true);
  t.deepEqual(disk.crash(25), [{ term: 1, vote: 'n1', commit: 0 }]);
  const storage = disk.load();
  t.is(storage.lastIndex(), 1);
  t.is(storage.initialState().hardState.vote, 'n1');
});

test('a sync flushes the unsynced writes before it; durability is a prefix', (t) => {
  const disk = new SimDisk({ ...profile, lying: false });
  disk.write(0, { kind: 'ready', entries: [], hardState: { term: 1, vote: '', commit: 1 } }, false);
  disk.write(1, { kind: 'ready', entries: [entry(1, 1)] }, true);
  t.is(disk.flush(5).length, 0);
  t.is(disk.flush(6).length, 1, 'the unsynced hard state became durable with the later sync');
  t.is(disk.load().lastIndex(), 1);
});

test('the lying disk acknowledges syncs it never did', (t) => {
  const disk = new SimDisk({ ...profile, lying: true });
  const ackAt = disk.write(10, { kind: 'ready', entries: [entry(1, 1)], hardState: { term: 1, vote: 'n1', commit: 0 } }, true);
  t.is(ackAt, 11);
  disk.crash(30);
  t.is(disk.load().initialState().hardState.term, 0);
});

test('compaction writes a snapshot and drops the entries before the compact index', (t) => {
  const disk = new SimDisk({ ...profile, lying: false });
  disk.write(0, { kind: 'ready', entries: [entry(1, 1), entry(2, 1), entry(3, 2)] }, true);
  disk.write(0, { kind: 'compact', index: 3, confState: { voters: ['n1'], learners: [] }, data: new Uint8Array([9]), compactIndex: 2 }, true);
  disk.flush(100);
  const storage = disk.load();
  t.is(storage.snapshot().metadata.index, 3);
  t.is(storage.snapshot().metadata.term, 2);
  t.is(storage.lastIndex(), 3);
});

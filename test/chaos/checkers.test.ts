import test from 'ava';
import { archiveHoles, divergentNodes, lostWrites, splitBrains, staleReads, type AckedWrite } from '../../chaos/checkers.js';
import type { RunChecks } from '../../chaos/history.js';
import { judge } from '../../chaos/run.js';

let nextId = 0;
const write = (server: string, timeline: number, startedAtMs: number, ackedAtMs: number): AckedWrite => ({ id: ++nextId, server, timeline, startedAtMs, ackedAtMs });

test('lost writes: every acknowledged insert missing from the final table is reported', (t) => {
  const history = [write('n1', 1, 0, 5), write('n1', 1, 10, 15), write('n2', 2, 100, 105)];
  t.deepEqual(lostWrites(history, new Set(history.map((w) => w.id))), []);
  const lost = lostWrites(history, new Set([history[0]!.id, history[2]!.id]));
  t.deepEqual(lost, [history[1]!], 'a history with a lost write fails');
});

test('split brain: a write of another server strictly between two writes of a primary on one timeline', (t) => {
  const clean = [write('n1', 1, 0, 5), write('n1', 1, 10, 15), write('n2', 2, 4_000, 4_005), write('n2', 2, 4_010, 4_015)];
  t.deepEqual(splitBrains(clean), [], 'a failover: the old primary\'s writes all end before the new one\'s');
  const overlapping = [write('n1', 1, 0, 5), write('n2', 2, 10, 12), write('n1', 1, 20, 25)];
  t.deepEqual(splitBrains(overlapping), [{ primary: 'n1', timeline: 1, other: 'n2', otherTimeline: 2, fromMs: 10, toMs: 12 }], 'overlapping primaries fail');
});

test('split brain is reported only on proof: overlapping uncertainty windows or a new timeline are not evidence', (t) => {
  // n2's write might have happened before n1's second write was applied: its window is not strictly inside.
  t.deepEqual(splitBrains([write('n1', 1, 0, 5), write('n2', 2, 4, 30), write('n1', 1, 20, 25)]), []);
  // n1 writable again on a later timeline (it was promoted again): not the same primary run.
  t.deepEqual(splitBrains([write('n1', 1, 0, 5), write('n2', 2, 10, 12), write('n1', 3, 20, 25)]), []);
});

test('divergence: nodes whose table checksum differs from the primary\'s, or that gave none', (t) => {
  t.deepEqual(divergentNodes('n1', new Map([['n1', 'abc'], ['n2', 'abc'], ['n3', 'abc']])), []);
  t.deepEqual(divergentNodes('n1', new Map([['n1', 'abc'], ['n2', 'abd'], ['n3', null]])), ['n2', 'n3']);
  t.deepEqual(divergentNodes('n1', new Map([['n1', null], ['n2', 'abc']])), ['n1', 'n2'], 'no checksum from the primary: nothing converged');
});

test('stale reads: a read that misses a write acknowledged before it began fails; one that overlaps the write does not', (t) => {
  const a = write('n1', 1, 0, 5);
  const b = write('n1', 1, 10, 15);
  const read = (server: string, maxId: number, startedAtMs: number) => ({ server, maxId, startedAtMs, doneAtMs: startedAtMs + 2 });
  t.deepEqual(staleReads([a, b], [read('n1', a.id, 12), read('n1', b.id, 20)]), [], 'the read at 12 began before b was acknowledged');
  const stale = read('n2', a.id, 20);
  t.deepEqual(staleReads([a, b], [stale]), [{ read: stale, expectedAtLeast: b.id }], 'a deposed primary answering without b fails');
});

test('archive holes: a file the restore from the first backup needs but the store lacks fails the run', (t) => {
  const needed = ['000000010000000000000003', '000000010000000000000004', '000000020000000000000005', '00000002.history'];
  t.deepEqual(archiveHoles(needed, new Set([...needed, '000000010000000000000005.partial'])), []);
  const holes = archiveHoles(needed, new Set(['000000010000000000000003', '000000020000000000000005', '00000002.history']));
  t.deepEqual(holes, ['000000010000000000000004'], 'the old timeline\'s last segment before the failover');
  const checks: RunChecks = {
    lostWrites: [], lostBytes: 0, allowedLossBytes: null, splitBrains: [], recovery: { boundMs: 14_000, recoveredAtMs: 1_000, ok: true }, divergent: [], staleReads: [], reads: 0,
    archive: { backupId: 'b1', fromLsn: '0/3000028', toLsn: '0/6000000', timeline: 2, needed: needed.length, missing: [] },
  };
  t.deepEqual(judge(checks), [], 'a whole archive passes');
  t.deepEqual(judge({ ...checks, archive: { ...checks.archive!, missing: holes } }), [
    'archive hole: 1 of the 4 WAL files from backup b1 (0/3000028) to 0/6000000 on timeline 2 are not in the store (000000010000000000000004)',
  ]);
  t.deepEqual(judge({ ...checks, archive: null }), [], 'no store, no archive check');
});

import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { checkSingleWriter, HaRecorder } from '../../../src/sim/ha/checkers.js';
import { appendWrite, commonPrefixEnd, EMPTY_WAL, fork, hasWrite, isPrefixOf, truncate, walEnd, walTimeline, type Wal } from '../../../src/sim/ha/wal.js';

function writes(wal: Wal, tl: number, count: number): Wal {
  let current = wal;
  for (let i = 0; i < count; i++) current = appendWrite(current, tl).wal;
  return current;
}

test('wal: writes, forks, prefixes and rewinds', (t) => {
  const primary = writes([{ tl: 1, end: 0 }], 1, 10);
  t.deepEqual(primary, [{ tl: 1, end: 10 }]);
  t.true(hasWrite(primary, 1, 10));
  t.false(hasWrite(primary, 1, 11));
  t.false(hasWrite(primary, 2, 5));
  const replica = truncate(primary, 6);
  t.true(isPrefixOf(replica, primary));
  const promoted = writes(fork(replica, 2), 2, 3);
  t.deepEqual(promoted, [{ tl: 1, end: 6 }, { tl: 2, end: 9 }]);
  t.is(walTimeline(promoted), 2);
  t.is(commonPrefixEnd(primary, promoted), 6);
  t.false(isPrefixOf(primary, promoted), 'the old primary diverged: it needs pg_rewind');
  t.deepEqual(truncate(primary, commonPrefixEnd(primary, promoted)), [{ tl: 1, end: 6 }]);
  // A fresh fork with no write yet: the timeline switch is kept at the end.
  t.deepEqual(fork(replica, 2), [{ tl: 1, end: 6 }, { tl: 2, end: 6 }]);
  t.deepEqual(truncate(promoted, 6), [{ tl: 1, end: 6 }, { tl: 2, end: 6 }]);
  t.true(isPrefixOf(EMPTY_WAL, promoted));
  t.is(walEnd(EMPTY_WAL), 0);
});

test('two members accepting writes at once is a violation; one or none is not', (t) => {
  t.is(checkSingleWriter([]), null);
  t.is(checkSingleWriter(['n1']), null);
  t.like(checkSingleWriter(['n1', 'n2']), { code: 'TWO_WRITERS' });
});

test('an acknowledged write missing from a later primary is caught, whichever comes first', (t) => {
  const old = writes([{ tl: 1, end: 0 }], 1, 10);
  // Acknowledged first, then a primary forks timeline 2 from a replica that only had 8 writes.
  const recorder = new HaRecorder(true);
  t.is(recorder.acknowledge({ tl: 1, lsn: 8, node: 'n1' }), null);
  t.is(recorder.acknowledge({ tl: 1, lsn: 9, node: 'n1' }), null);
  t.like(recorder.fork({ node: 'n2', tl: 2, wal: fork(truncate(old, 8), 2) }), { code: 'ACKED_WRITE_LOST' });
  // Forked first, then the old primary (frozen, not fenced) acknowledges a write on timeline 1.
  const late = new HaRecorder(true);
  t.is(late.fork({ node: 'n2', tl: 2, wal: fork(truncate(old, 8), 2) }), null);
  t.is(late.acknowledge({ tl: 1, lsn: 8, node: 'n1' }), null);
  t.like(late.acknowledge({ tl: 1, lsn: 9, node: 'n1' }), { code: 'ACKED_WRITE_LOST' });
  // Writes of the new timeline are not judged against older forks.
  t.is(late.acknowledge({ tl: 2, lsn: 9, node: 'n2' }), null);
});

test('asynchronous replication may lose acknowledged writes: not checked', (t) => {
  const recorder = new HaRecorder(false);
  t.is(recorder.acknowledge({ tl: 1, lsn: 9, node: 'n1' }), null);
  t.is(recorder.fork({ node: 'n2', tl: 2, wal: [{ tl: 1, end: 3 }, { tl: 2, end: 3 }] }), null);
});

test('epochs: granted once, never regress within a lifetime', (t) => {
  const recorder = new HaRecorder(true);
  t.is(recorder.granted(1, 'n1', 1, false), null);
  t.is(recorder.granted(1, 'n1', 1, false), null, 'every node applies the same promote');
  t.like(recorder.granted(1, 'n2', 2, true), { code: 'EPOCH_CONFLICT' });
  t.is(recorder.applied('n1', 1, 3), null);
  t.like(recorder.applied('n1', 1, 2), { code: 'EPOCH_REGRESSED' });
  t.is(recorder.applied('n1', 2, 1), null, 'a restarted node replays from its snapshot');
});

test('timelines: forked once, from an older one, by the member the history names', (t) => {
  const recorder = new HaRecorder(true);
  t.is(recorder.granted(2, 'n2', 2, true), null);
  t.like(recorder.fork({ node: 'n3', tl: 2, wal: [{ tl: 1, end: 4 }, { tl: 2, end: 4 }] }), { code: 'HISTORY_MISMATCH' });
  t.is(recorder.fork({ node: 'n2', tl: 2, wal: [{ tl: 1, end: 4 }, { tl: 2, end: 4 }] }), null);
  t.like(recorder.fork({ node: 'n3', tl: 2, wal: [{ tl: 1, end: 5 }, { tl: 2, end: 5 }] }), { code: 'TIMELINE_REUSED' });
  t.like(recorder.fork({ node: 'n3', tl: 3, wal: [{ tl: 4, end: 5 }, { tl: 3, end: 5 }] }), { code: 'HISTORY_MISMATCH' });
  t.like(recorder.granted(4, 'n1', 2, true), { code: 'HISTORY_MISMATCH' });
});

test('the HA world is deterministic by construction: no clock, no Math.random, no timers', (t) => {
  const url = new URL('../../../src/sim/ha/', import.meta.url);
  const names = readdirSync(url).filter((name) => name.endsWith('.ts'));
  t.true(names.length > 5);
  for (const name of names) {
    const source = readFileSync(new URL(name, url), 'utf8');
    for (const pattern of [/\bDate\.now\b|\bnew Date\b|performance\.now/, /\bMath\.random\b/, /\b(setTimeout|setInterval|setImmediate)\b/]) {
      t.false(pattern.test(source), `${name}: ${String(pattern)}`);
    }
  }
});

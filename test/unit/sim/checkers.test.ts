import test from 'ava';
import {
  checkApply,
  checkCommit,
  checkDurableHardState,
  checkElectionSafety,
  checkLeaderCompleteness,
  checkLogMatching,
  type LogView,
  type Violation,
} from '../../../src/sim/checkers.js';
import { HASH_SEED, mix } from '../../../src/sim/hash.js';
import { SafetyRecorder, type Observation } from '../../../src/sim/history.js';

/** Feed a history to a fresh recorder; returns every violation, in order. */
function replay(history: readonly Observation[]): Violation[] {
  const recorder = new SafetyRecorder();
  return history.map((o) => recorder.observe(o)).filter((v): v is Violation => v !== null);
}

function codes(history: readonly Observation[]): string[] {
  return replay(history).map((v) => v.code);
}

/** A log given as the terms of indexes 1..n (after an empty snapshot). */
function log(...terms: number[]): LogView {
  return { snapshotIndex: 0, snapshotTerm: 0, lastIndex: terms.length, termAt: (i) => terms[i - 1] ?? -1 };
}

const entries = (node: string, ...list: [index: number, term: number, hash: number, prevTerm: number][]): Observation => ({
  kind: 'entries',
  node,
  entries: list.map(([index, term, hash, prevTerm]) => ({ index, term, hash, prevTerm })),
});
const apply = (node: string, index: number, term: number, hash: number): Observation => ({
  kind: 'apply',
  node,
  index,
  term,
  hash,
  payloadHash: hash,
});
const hs = (term: number, vote: string, commit = 0) => ({ term, vote, commit });

/** A correct three-node history: n1 leads term 1 and commits two entries, n2 leads term 2. */
const VALID: readonly Observation[] = [
  { kind: 'boot', node: 'n1', hardState: hs(0, ''), snapshot: { index: 0, term: 0, digest: HASH_SEED } },
  { kind: 'durable', node: 'n1', hardState: hs(1, 'n1') },
  { kind: 'durable', node: 'n2', hardState: hs(1, 'n1') },
  { kind: 'leader', node: 'n1', term: 1 },
  { kind: 'leaderLog', node: 'n1', term: 1, committedIndex: 0, log: log() },
  entries('n1', [1, 1, 11, 0], [2, 1, 12, 1]),
  entries('n2', [1, 1, 11, 0], [2, 1, 12, 1]),
  { kind: 'commit', node: 'n1', commit: 2, term: 1 },
  apply('n1', 1, 1, 11),
  apply('n1', 2, 1, 12),
  { kind: 'commit', node: 'n2', commit: 1, term: 1 },
  apply('n2', 1, 1, 11),
  { kind: 'commit', node: 'n2', commit: 2, term: 1 },
  apply('n2', 2, 1, 12),
  { kind: 'durable', node: 'n2', hardState: hs(2, 'n2', 2) },
  { kind: 'leader', node: 'n2', term: 2 },
  { kind: 'leaderLog', node: 'n2', term: 2, committedIndex: 2, log: log(1, 1) },
  entries('n2', [3, 2, 13, 1]),
  { kind: 'leader', node: 'n2', term: 2 }, // the same leader seen again is fine
  { kind: 'restore', node: 'n3', index: 2, term: 1, digest: mix(mix(HASH_SEED, 11), 12) },
  apply('n3', 3, 2, 13),
];

test('a valid history passes every checker', (t) => {
  t.deepEqual(replay(VALID), []);
});

test('election safety: two leaders in one term', (t) => {
  t.deepEqual(codes([...VALID, { kind: 'leader', node: 'n3', term: 2 }]), ['ELECTION_SAFETY']);
  const leaders = new Map([[4, 'n1']]);
  const history = { leaders, fingerprints: new Map(), committed: [], nodes: new Map() };
  t.is(checkElectionSafety(history, 'n1', 4), null);
  t.is(checkElectionSafety(history, 'n2', 4)?.code, 'ELECTION_SAFETY');
  t.is(checkElectionSafety(history, 'n2', 5), null);
});

test('log matching: same index and term, different entries', (t) => {
  t.deepEqual(codes([entries('n1', [1, 1, 11, 0]), entries('n2', [1, 1, 99, 0])]), ['LOG_MATCHING']);
});

test('log matching: same index and term, different preceding entry', (t) => {
  const history = [entries('n1', [1, 1, 11, 0], [2, 2, 12, 1]), entries('n2', [1, 2, 21, 0], [2, 2, 12, 2])];
  t.deepEqual(codes(history), ['LOG_MATCHING']);
  t.is(checkLogMatching(new SafetyRecorder(), 'n1', { index: 1, term: 1, hash: 1, prevTerm: -1 }), null);
});

test('leader completeness: a later leader misses a committed entry', (t) => {
  const base = VALID.slice(0, 14); // entries 1 and 2 of term 1 are committed (applied)
  t.deepEqual(codes([...base, { kind: 'leader', node: 'n3', term: 2 }, { kind: 'leaderLog', node: 'n3', term: 2, committedIndex: 2, log: log(1) }]), [
    'LEADER_COMPLETENESS',
  ]);
  const recorder = new SafetyRecorder();
  for (const o of base) recorder.observe(o);
  t.is(checkLeaderCompleteness(recorder, 'n3', 2, 2, log(1, 3))?.code, 'LEADER_COMPLETENESS', 'wrong term at a committed index');
  t.is(checkLeaderCompleteness(recorder, 'n3', 2, 2, log(1, 1, 2)), null);
  t.is(checkLeaderCompleteness(recorder, 'n3', 2, 1, log(1)), null, 'only what was committed at election time counts');
  const compacted: LogView = { snapshotIndex: 2, snapshotTerm: 1, lastIndex: 2, termAt: () => -1 };
  t.is(checkLeaderCompleteness(recorder, 'n3', 2, 2, compacted), null, 'committed entries inside the snapshot');
});

test('leader completeness is about earlier terms: a late leader of an old term need not hold newer commits', (t) => {
  const recorder = new SafetyRecorder();
  for (const o of VALID.slice(0, 14)) recorder.observe(o); // indexes 1..2 committed in term 1
  recorder.observe({ kind: 'commit', node: 'n3', commit: 3, term: 5 });
  recorder.observe(apply('n3', 1, 1, 11));
  recorder.observe(apply('n3', 2, 1, 12));
  recorder.observe(apply('n3', 3, 5, 13));
  t.is(recorder.committedBefore(1), 0);
  t.is(recorder.committedBefore(2), 2);
  t.is(recorder.committedBefore(5), 2, 'index 3 was committed in term 5: leaders of terms <= 5 need not hold it');
  t.is(recorder.committedBefore(6), 3);
  recorder.observe({ kind: 'commit', node: 'n2', commit: 3, term: 4 });
  t.is(recorder.committedBefore(5), 3, 'a node at term 4 knew index 3 committed: every leader after term 4 must hold it');
});

test('state-machine safety: diverging applied sequences', (t) => {
  t.deepEqual(codes([apply('n1', 1, 1, 11), apply('n2', 1, 1, 77)]), ['STATE_MACHINE_SAFETY']);
  t.deepEqual(codes([apply('n1', 1, 1, 11), apply('n2', 1, 2, 11)]), ['STATE_MACHINE_SAFETY']);
});

test('state-machine safety: gaps, repeats and foreign snapshots', (t) => {
  t.deepEqual(codes([apply('n1', 1, 1, 11), apply('n1', 3, 1, 13)]), ['STATE_MACHINE_SAFETY']);
  t.deepEqual(codes([apply('n1', 1, 1, 11), apply('n1', 1, 1, 11)]), ['STATE_MACHINE_SAFETY']);
  const wrongState: Observation = { kind: 'restore', node: 'n2', index: 1, term: 1, digest: 12345 };
  t.deepEqual(codes([apply('n1', 1, 1, 11), wrongState]), ['STATE_MACHINE_SAFETY']);
  const unknown: Observation = { kind: 'restore', node: 'n2', index: 5, term: 1, digest: HASH_SEED };
  t.deepEqual(codes([unknown]), ['STATE_MACHINE_SAFETY']);
  const backwards: Observation = { kind: 'restore', node: 'n1', index: 1, term: 1, digest: mix(HASH_SEED, 11) };
  t.deepEqual(codes([apply('n1', 1, 1, 11), apply('n1', 2, 1, 12), backwards]), ['STATE_MACHINE_SAFETY']);
  t.is(checkApply(new SafetyRecorder(), 'n1', 1, 1, 11), null);
});

test('commit index never goes backwards within a lifetime', (t) => {
  const commit = (node: string, value: number): Observation => ({ kind: 'commit', node, commit: value, term: 1 });
  t.deepEqual(codes([commit('n1', 5), commit('n1', 3)]), ['COMMIT_REGRESSED']);
  t.deepEqual(codes([commit('n1', 5), commit('n1', 5), commit('n2', 1)]), []);
  const boot: Observation = { kind: 'boot', node: 'n1', hardState: hs(1, 'n1', 2), snapshot: { index: 0, term: 0, digest: HASH_SEED } };
  t.deepEqual(codes([commit('n1', 5), boot, commit('n1', 2)]), [], 'after a restart: from the durable commit on');
  t.deepEqual(codes([commit('n1', 5), boot, commit('n1', 1)]), ['COMMIT_REGRESSED'], 'below the durable commit');
  t.is(checkCommit(new SafetyRecorder(), 'n1', 0), null);
});

test('persisted term never regresses', (t) => {
  const durable = (term: number, vote: string): Observation => ({ kind: 'durable', node: 'n1', hardState: hs(term, vote) });
  t.deepEqual(codes([durable(3, 'n1'), durable(2, 'n2')]), ['HARD_STATE_REGRESSED']);
  t.deepEqual(codes([durable(3, 'n1'), durable(4, ''), durable(4, 'n2')]), []);
  const acknowledged: Observation = { kind: 'acknowledged', node: 'n1', hardState: hs(5, 'n1') };
  const lostOnCrash: Observation = { kind: 'boot', node: 'n1', hardState: hs(4, 'n1'), snapshot: { index: 0, term: 0, digest: HASH_SEED } };
  t.deepEqual(codes([acknowledged, lostOnCrash]), ['HARD_STATE_REGRESSED'], 'a restart reads back less than was acknowledged');
});

test('a persisted vote never changes within its term', (t) => {
  const durable = (term: number, vote: string): Observation => ({ kind: 'durable', node: 'n1', hardState: hs(term, vote) });
  t.deepEqual(codes([durable(3, 'n1'), durable(3, 'n2')]), ['HARD_STATE_REGRESSED']);
  t.deepEqual(codes([durable(3, 'n1'), durable(3, '')]), ['HARD_STATE_REGRESSED']);
  t.deepEqual(codes([durable(3, ''), durable(3, 'n2'), durable(3, 'n2')]), []);
  const recorder = new SafetyRecorder();
  recorder.observe(durable(3, 'n2'));
  t.is(checkDurableHardState(recorder, 'n1', hs(3, 'n3'))?.code, 'HARD_STATE_REGRESSED');
});

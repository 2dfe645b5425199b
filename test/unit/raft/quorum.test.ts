import test from 'ava';
import fc from 'fast-check';
import { committedIndex, majoritySize, voteResult } from '../../../src/raft/core/quorum.js';

const MEMBERS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const RUNS = { seed: 20240601, numRuns: 2000 };

const voters = fc.uniqueArray(fc.constantFrom(...MEMBERS), { minLength: 0, maxLength: MEMBERS.length });
/** Matches for any member (voter or not); a missing key means "unknown". */
const matches = fc.dictionary(fc.constantFrom(...MEMBERS), fc.nat(30));
const votes = fc.dictionary(fc.constantFrom(...MEMBERS), fc.boolean());

/** Naive: the largest index that at least a majority of voters has reached. */
function naiveCommitted(ids: readonly string[], match: Record<string, number>): number {
  if (ids.length === 0) return 0;
  let best = 0;
  for (let index = 0; index <= 30; index++) {
    const reached = ids.filter((id) => (match[id] ?? 0) >= index).length;
    if (reached * 2 > ids.length) best = index;
  }
  return best;
}

function naiveVote(ids: readonly string[], cast: Record<string, boolean>): 'won' | 'lost' | 'pending' {
  if (ids.length === 0) return 'lost';
  const yes = ids.filter((id) => cast[id] === true).length;
  const no = ids.filter((id) => cast[id] === false).length;
  if (yes * 2 > ids.length) return 'won';
  if (no * 2 >= ids.length) return 'lost';
  return 'pending';
}

test('committedIndex equals the naive "largest index a majority reached"', (t) => {
  fc.assert(
    fc.property(voters, matches, (ids, match) => committedIndex(ids, (id) => match[id]) === naiveCommitted(ids, match)),
    RUNS,
  );
  t.pass();
});

test('voteResult equals the naive count, ignoring votes of non-voters', (t) => {
  fc.assert(
    fc.property(voters, votes, (ids, cast) => voteResult(ids, new Map(Object.entries(cast))) === naiveVote(ids, cast)),
    RUNS,
  );
  t.pass();
});

test('committedIndex never decreases when a voter matches more', (t) => {
  fc.assert(
    fc.property(voters, matches, fc.constantFrom(...MEMBERS), fc.nat(10), (ids, match, who, more) => {
      const before = committedIndex(ids, (id) => match[id]);
      const after = committedIndex(ids, (id) => (id === who ? (match[id] ?? 0) + more : match[id]));
      return after >= before;
    }),
    RUNS,
  );
  t.pass();
});

test('committedIndex is matched by a majority and a larger value is not', (t) => {
  fc.assert(
    fc.property(voters.filter((ids) => ids.length > 0), matches, (ids, match) => {
      const committed = committedIndex(ids, (id) => match[id]);
      const reached = (index: number) => ids.filter((id) => (match[id] ?? 0) >= index).length;
      return reached(committed) >= majoritySize(ids.length) && reached(committed + 1) < majoritySize(ids.length);
    }),
    RUNS,
  );
  t.pass();
});

test('examples: majorities, even sizes, empty configuration', (t) => {
  t.is(majoritySize(1), 1);
  t.is(majoritySize(2), 2);
  t.is(majoritySize(3), 2);
  t.is(majoritySize(4), 3);
  const match: Record<string, number> = { a: 5, b: 3, c: 1, d: 9 };
  t.is(committedIndex(['a', 'b', 'c'], (id) => match[id]), 3);
  t.is(committedIndex(['a', 'b', 'c', 'd'], (id) => match[id]), 3);
  t.is(committedIndex(['a', 'x'], (id) => match[id]), 0, 'an unknown voter counts as 0');
  t.is(committedIndex([], (id) => match[id]), 0);
  t.is(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', true]])), 'won');
  t.is(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', false]])), 'pending');
  t.is(voteResult(['a', 'b', 'c'], new Map([['a', false], ['b', false]])), 'lost');
  t.is(voteResult(['a', 'b', 'c', 'd'], new Map([['a', true], ['b', true], ['c', false]])), 'pending');
  t.is(voteResult(['a', 'b', 'c', 'd'], new Map([['a', false], ['b', false]])), 'lost');
  t.is(voteResult(['a', 'b'], new Map([['a', true], ['x', true]])), 'pending', 'a non-voter does not count');
  t.is(voteResult([], new Map()), 'lost');
});

import test from 'ava';
import { runSeed, type SeedResult } from '../../../src/sim/run-seed.js';

const seeds = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

function describe(result: SeedResult): string {
  const v = result.violation;
  return v === null ? `seed ${result.seed}: ok` : `seed ${result.seed}: ${v.code}: ${v.message} (${result.replay})`;
}

test('20 seeds run without a violation', (t) => {
  const failures = seeds(1, 20)
    .map((seed) => runSeed({ seed }))
    .filter((r) => r.violation !== null)
    .map(describe);
  t.deepEqual(failures, []);
});

test('a seed replays exactly: same trace digest, same outcome', (t) => {
  for (const seed of [3, 11]) {
    const first = runSeed({ seed });
    const second = runSeed({ seed });
    t.is(first.digest, second.digest);
    t.deepEqual(first, second);
  }
  t.not(runSeed({ seed: 3 }).digest, runSeed({ seed: 4 }).digest);
});

test('--nodes given explicitly replays the seed drawn with that size', (t) => {
  const drawn = runSeed({ seed: 5 });
  const forced = runSeed({ seed: 5, nodes: drawn.nodes });
  t.is(forced.digest, drawn.digest);
});

test('the simulation exercises faults, elections, snapshots and membership changes', (t) => {
  const results = seeds(1, 10).map((seed) => runSeed({ seed }));
  const total = (pick: (r: SeedResult) => number): number => results.reduce((sum, r) => sum + pick(r), 0);
  t.true(total((r) => r.stats.faults.crashes) > 0);
  t.true(total((r) => r.stats.faults.partitions) > 0);
  t.true(total((r) => r.stats.leaders) > results.length);
  t.true(total((r) => r.stats.snapshots) > 0);
  t.true(total((r) => r.stats.installs) > 0, 'InstallSnapshot');
  t.true(total((r) => r.stats.reads) > 0, 'ReadIndex');
  t.true(total((r) => r.stats.transfers) > 0);
  t.true(total((r) => r.stats.confChanges) > 0);
  t.true(total((r) => r.stats.acknowledged) > 0);
});

test('a lying disk (acknowledges syncs it never did) is caught', (t) => {
  const lying = seeds(1, 40).map((seed) => runSeed({ seed, lyingDisk: true }));
  const caught = lying.filter((r) => r.violation !== null);
  t.true(caught.length > 0, 'no seed caught the lying disk');
  t.true(
    caught.some((r) => r.violation!.code === 'HARD_STATE_REGRESSED'),
    `no seed caught it with the simulator's own checkers: ${caught.map(describe).join('; ')}`,
  );
  const honest = caught.map((r) => runSeed({ seed: r.seed, nodes: r.nodes }));
  t.deepEqual(honest.filter((r) => r.violation !== null).map(describe), [], 'the same seeds pass with an honest disk');
});

test('bad options are rejected naming the flag', (t) => {
  t.throws(() => runSeed({ seed: -1 }), { message: /--seed/ });
  t.throws(() => runSeed({ seed: 1, nodes: 4 as 3 }), { message: /--nodes/ });
  t.throws(() => runSeed({ seed: 1, steps: 0 }), { message: /--steps/ });
});

import test from 'ava';
import { SeededRng } from '../../../src/lib/random.js';
import { SimNetwork } from '../../../src/sim/network.js';
import { bridge, halves, isolate, majoritiesRing, type Grudge } from '../../../src/sim/partitions.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

/** Who `node` hears (itself included). */
function heard(grudge: Grudge, node: string, all: readonly string[]): string[] {
  return all.filter((from) => grudge.get(node)?.has(from) !== true);
}

test('isolate cuts one node off both ways', (t) => {
  const all = ids(5);
  const g = isolate('n3', all);
  t.deepEqual(heard(g, 'n3', all), ['n3']);
  for (const other of all.filter((n) => n !== 'n3')) t.false(heard(g, other, all).includes('n3'));
});

test('halves: a majority and a minority that cannot hear each other', (t) => {
  const all = ids(5);
  const g = halves(new SeededRng(7), all);
  const sizes = all.map((n) => heard(g, n, all).length).sort();
  t.deepEqual(sizes, [2, 2, 3, 3, 3]);
});

test('bridge: one node hears both halves, the halves do not hear each other', (t) => {
  const all = ids(5);
  const g = bridge(new SeededRng(3), all);
  const middle = all.filter((n) => heard(g, n, all).length === 5);
  t.is(middle.length, 1);
  const rest = all.filter((n) => n !== middle[0]);
  for (const n of rest) t.is(heard(g, n, all).length, 3);
});

for (const n of [3, 4, 5, 6, 7]) {
  test(`majorities ring of ${n}: each node hears a majority, no two the same`, (t) => {
    const all = ids(n);
    const g = majoritiesRing(new SeededRng(n), all);
    const views = all.map((node) => heard(g, node, all));
    for (const [i, view] of views.entries()) {
      t.true(view.includes(all[i]!));
      t.is(view.length, Math.floor(n / 2) + 1);
    }
    t.is(new Set(views.map((v) => v.join(','))).size, n);
  });
}

test('the network honours cuts, and stops random faults in the liveness phase', (t) => {
  const net = new SimNetwork(new SeededRng(1), { dropRate: 1, duplicateRate: 0, delayMinUnits: 2, delayJitterUnits: 0 });
  net.cut('p', isolate('n1', ids(3)));
  t.true(net.blocked('n2', 'n1'));
  t.true(net.blocked('n1', 'n2'));
  t.false(net.blocked('n2', 'n3'));
  t.deepEqual(net.delays(), []);
  net.healAll();
  net.stopFaults();
  t.false(net.blocked('n2', 'n1'));
  t.deepEqual(net.delays(), [2]);
});

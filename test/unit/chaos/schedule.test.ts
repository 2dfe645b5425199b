import test from 'ava';
import { faultKinds, partitionOf, planRun, resolveTarget } from '../../../chaos/schedule.js';

test('a seed replays the same schedule; another seed draws another', (t) => {
  t.deepEqual(planRun(7, { profile: 'full', nodes: 3 }), planRun(7, { profile: 'full', nodes: 3 }));
  t.notDeepEqual(planRun(7, { profile: 'full', nodes: 3 }), planRun(8, { profile: 'full', nodes: 3 }));
});

test('smoke: the primary\'s host killed, frozen and partitioned away, each held past the ttl', (t) => {
  for (let seed = 0; seed < 50; seed++) {
    const steps = planRun(seed, { profile: 'smoke', nodes: 3 });
    t.deepEqual(steps.map((s) => s.kind).sort(), ['freeze-host', 'isolate-primary', 'kill-host']);
    t.true(steps.every((s) => s.target === 'primary' && s.holdMs >= 5_000));
  }
});

test('full: over many seeds every fault kind occurs; the ring only with five nodes', (t) => {
  const seen = (nodes: number): Set<string> => new Set(Array.from({ length: 200 }, (_, seed) => planRun(seed, { profile: 'full', nodes })).flat().map((s) => s.kind));
  t.deepEqual([...seen(3)].sort(), faultKinds(3).sort());
  t.false(seen(3).has('partition-ring'));
  t.true(seen(5).has('partition-ring'));
  // Replacing a node only where the backend can (netns): always a replica, nothing to hold.
  t.false(seen(3).has('replace-node'));
  const withReplace = Array.from({ length: 200 }, (_, seed) => planRun(seed, { profile: 'full', nodes: 3, replaceNode: true })).flat();
  t.deepEqual([...new Set(withReplace.map((s) => s.kind))].sort(), faultKinds(3, true).sort());
  for (const step of withReplace.filter((s) => s.kind === 'replace-node')) t.like(step, { target: 'replica', holdMs: 0 });
  for (const step of planRun(3, { profile: 'full', nodes: 5 })) {
    t.true(step.pick >= 0 && step.pick < 1);
    if (step.kind === 'packet-loss') t.true(step.lossProbability! > 0 && step.lossProbability! < 1);
  }
});

test('targets: the primary, a replica other than it, or any node', (t) => {
  const names = ['n3', 'n1', 'n2'];
  t.is(resolveTarget('primary', 0.9, names, 'n2'), 'n2');
  t.is(resolveTarget('replica', 0, names, 'n1'), 'n2');
  t.is(resolveTarget('replica', 0.99, names, 'n1'), 'n3');
  t.is(resolveTarget('any', 0.5, names, 'n1'), 'n2');
  t.is(resolveTarget('primary', 0.1, names, null), 'n1', 'no primary known: any node');
});

test('partitions: halves cut a minority with the target off; bridge leaves one node seeing both sides; ring leaves each node its two neighbours', (t) => {
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const halves = partitionOf('halves', 'n3', 0, five);
  t.is(halves.targets.length, 2);
  t.true(halves.targets.includes('n3'));
  t.is(halves.cuts.length, 2 * 3, 'every minority node from every majority node');

  const three = partitionOf('halves', 'n2', 0.5, ['n1', 'n2', 'n3']);
  t.deepEqual(three.targets, ['n2']);

  const bridge = partitionOf('bridge', 'n1', 0.5, five);
  const cutPeers = (n: string): Set<string> => new Set(bridge.cuts.flatMap(([a, b]) => (a === n ? [b] : b === n ? [a] : [])));
  const bridges = five.filter((n) => cutPeers(n).size === 0);
  t.is(bridges.length, 1, 'exactly one node reaches everyone');
  t.not(bridges[0], 'n1', 'the target is on one side, not the bridge');
  t.true(cutPeers('n1').size > 0);

  const ring = partitionOf('ring', 'n1', 0.3, five);
  t.is(ring.cuts.length, 5, 'each of five nodes loses the two non-neighbours: 5 pairs');
  for (const n of five) {
    const reachable = five.filter((m) => m !== n && !ring.cuts.some(([a, b]) => (a === n && b === m) || (a === m && b === n)));
    t.is(reachable.length, 2, `${n} reaches two others: with itself a majority`);
  }
});

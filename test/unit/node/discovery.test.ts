import test from 'ava';
import { decideBootstrap } from '../../../src/node/discovery.js';

const fresh = { configured: false, voters: [], learners: [] };
const inCluster = (voters: string[], learners: string[] = []) => ({ configured: true, voters, learners });

test('a fresh cluster forms only once every initial voter answered', (t) => {
  const initial = ['n1', 'n2', 'n3'];
  t.is(decideBootstrap('n1', initial, new Map([['n2', fresh], ['n3', null]])).kind, 'wait');
  t.regex(decideBootstrap('n1', initial, new Map([['n2', fresh], ['n3', null]])).reason, /n3/);
  t.is(decideBootstrap('n1', initial, new Map([['n2', fresh], ['n3', fresh]])).kind, 'bootstrap');
  // A peer that is not an initial voter need not answer.
  t.is(decideBootstrap('n1', initial, new Map([['n2', fresh], ['n3', fresh], ['n4', null]])).kind, 'bootstrap');
});

test('a peer that formed the cluster with the same initial voters: bootstrap with them too', (t) => {
  t.is(decideBootstrap('n3', ['n1', 'n2', 'n3'], new Map([['n1', inCluster(['n3', 'n1', 'n2'])], ['n2', null]])).kind, 'bootstrap');
});

test('found by the chaos suite (seed 2022, replace-node): a replacement whose name is among the first by name joins the cluster, never forms another', (t) => {
  // n3 died and was removed; r1 replaces it with the peer list n1 n2 r1 and bootstrap_expect 3, so by name it is an initial voter.
  const decision = decideBootstrap('r1', ['n1', 'n2', 'r1'], new Map([['n1', inCluster(['n1', 'n2'])], ['n2', null]]));
  t.is(decision.kind, 'join');
  t.regex(decision.reason, /n1 is in a cluster whose voters are n1, n2/);
  // Even when the cluster's other voters do not answer, one configured peer with other voters is enough.
  t.is(decideBootstrap('n0', ['n0', 'n1', 'n3'], new Map([['n1', null], ['n3', inCluster(['n1', 'n3', 'n4'], ['n5'])], ['n4', null]])).kind, 'join');
});

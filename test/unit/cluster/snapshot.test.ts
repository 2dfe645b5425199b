import test from 'ava';
import fc from 'fast-check';
import { applyCommand } from '../../../src/cluster/apply.js';
import { COMMAND_TYPES, parseCommand, type ClusterCommand } from '../../../src/cluster/commands.js';
import type { RejectionCode } from '../../../src/cluster/results.js';
import { canonicalJson, decodeState, encodeState } from '../../../src/cluster/snapshot.js';
import { initialClusterState, type ClusterState } from '../../../src/cluster/state.js';
import { BOOTSTRAP_SEQUENCE, commandArbitrary } from './arbitraries.js';
import { deepFreeze, runningCluster } from './helpers.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function run(commands: readonly ClusterCommand[]): { state: ClusterState; codes: (RejectionCode | 'ok')[] } {
  let state = initialClusterState();
  const codes: (RejectionCode | 'ok')[] = [];
  for (const command of commands) {
    const outcome = applyCommand(deepFreeze(state), command);
    codes.push(outcome.result.ok ? 'ok' : outcome.result.code);
    state = outcome.state;
  }
  return { state, codes };
}

const sequences = fc.array(commandArbitrary, { maxLength: 60 }).map((random) => [...BOOTSTRAP_SEQUENCE, ...random].map(parseCommand));

test('the initial and a running state round-trip exactly', (t) => {
  for (const state of [initialClusterState(), runningCluster()]) {
    const decoded = decodeState(encodeState(state));
    t.deepEqual(decoded, state);
    t.is(text(encodeState(decoded)), text(encodeState(state)));
  }
});

test('property: after any command sequence, encode → decode gives the same state and the same bytes', (t) => {
  fc.assert(
    fc.property(sequences, (commands) => {
      const { state } = run(commands);
      const bytes = encodeState(state);
      const decoded = decodeState(bytes);
      t.deepEqual(decoded, state);
      return text(encodeState(decoded)) === text(bytes);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: apply is deterministic — the same sequence twice gives identical encodings and results', (t) => {
  fc.assert(
    fc.property(sequences, (commands) => {
      const first = run(commands);
      const second = run(commands.map((c) => parseCommand(JSON.parse(JSON.stringify(c)))));
      return text(encodeState(first.state)) === text(encodeState(second.state)) && first.codes.join() === second.codes.join();
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('random sequences reach every command type and many outcomes', (t) => {
  const seen = new Set<string>();
  const types = new Set<string>();
  // Long sequences: a success that needs an earlier one (a slot dropped after it was recorded) must occur.
  const long = fc.array(commandArbitrary, { maxLength: 60, size: 'max' }).map((random) => [...BOOTSTRAP_SEQUENCE, ...random].map(parseCommand));
  fc.assert(
    fc.property(long, (commands) => {
      const { codes } = run(commands);
      commands.forEach((c, i) => {
        types.add(c.type);
        seen.add(`${c.type}:${codes[i]}`);
      });
    }),
    { numRuns: 1000, seed: 42 },
  );
  t.deepEqual([...types].sort(), [...COMMAND_TYPES].sort());
  for (const type of COMMAND_TYPES) t.true(seen.has(`${type}:ok`), `${type} succeeded at least once`);
});

test('the encoding is canonical: key order does not matter', (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}');
  const state = runningCluster();
  const members = Object.fromEntries(Object.entries(state.members).reverse());
  t.is(text(encodeState({ ...state, members })), text(encodeState(state)));
});

test('a snapshot from before restores existed (no initialize.restoredFrom) decodes as initdb', (t) => {
  const good = JSON.parse(text(encodeState(runningCluster()))) as { format: string; v: number; state: { initialize: Record<string, unknown> } };
  t.is(good.state.initialize.restoredFrom, null);
  delete good.state.initialize.restoredFrom;
  const decoded = decodeState(new TextEncoder().encode(JSON.stringify(good)));
  t.is(decoded.initialize?.restoredFrom, null);
  t.is(text(encodeState(decoded)), text(encodeState(runningCluster())));
});

test('malformed snapshots are refused naming the field', (t) => {
  const good = JSON.parse(text(encodeState(runningCluster()))) as { format: string; v: number; state: Record<string, unknown> };
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const refuse = (value: unknown, key: string) => {
    const error = t.throws(() => decodeState(bytes(value)), { code: 'PGHERD_CLUSTER_DECODE_FAILED' });
    t.is((error as unknown as { key: string }).key, key);
  };
  t.throws(() => decodeState(new Uint8Array([0xff, 0xfe])), { code: 'PGHERD_CLUSTER_DECODE_FAILED', message: /^state: is not UTF-8 JSON/ });
  refuse({ ...good, format: 'other' }, 'snapshot.format');
  refuse({ ...good, v: 2 }, 'snapshot.v');
  refuse({ ...good, state: { ...good.state, epoch: -1 } }, 'state.epoch');
  refuse({ ...good, state: { ...good.state, extra: 1 } }, 'state.extra');
  refuse({ ...good, state: { ...good.state, slots: { n2: { slotName: 'pgherd_n2', createdAtLsn: 'zz', createdByEpoch: 1 } } } }, 'state.slots.n2.createdAtLsn');
  refuse({ ...good, state: { ...good.state, config: { version: 1, values: { ttl_ms: 1000 } } } }, 'state.config.values.ttl_ms');
  refuse({ ...good, state: { ...good.state, epoch: 3 } }, 'state');
});

import test from 'ava';
import { DYNAMIC_DEFAULTS } from '../../../src/config/dynamic.js';
import { mergePatch } from '../../../src/cluster/merge-patch.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import { expectOk, expectRefused, runningCluster, T0_MS } from './helpers.js';

const patch = (expectedVersion: number, values: Record<string, unknown>) => ({ type: 'patchConfig', atMs: T0_MS, expectedVersion, patch: values }) as const;

test('the initial config is the schema defaults at version 0', (t) => {
  t.deepEqual(initialClusterState().config, { version: 0, values: DYNAMIC_DEFAULTS });
});

test('patchConfig merges, validates the whole and bumps the version', (t) => {
  const first = expectOk(t, initialClusterState(), patch(0, { ttl_ms: 10_000, postgresql_parameters: { work_mem: '8MB', max_connections: 200 } }));
  t.is(first.result.version, 1);
  t.is(first.state.config.version, 1);
  t.is(first.state.config.values.ttl_ms, 10_000);
  t.is(first.state.config.values.loop_wait_ms, DYNAMIC_DEFAULTS.loop_wait_ms);
  const second = expectOk(t, first.state, patch(1, { ttl_ms: null, postgresql_parameters: { work_mem: null, shared_buffers: '1GB' } }));
  t.is(second.state.config.values.ttl_ms, DYNAMIC_DEFAULTS.ttl_ms, 'null restores the default');
  t.deepEqual(second.state.config.values.postgresql_parameters, { max_connections: 200, shared_buffers: '1GB' });
  t.is(second.state.config.version, 2);
});

test('patchConfig: ttl_ms not above loop_wait_ms + safety_margin_ms is refused naming the key; nothing changes', (t) => {
  const state = initialClusterState();
  const refused = expectRefused(t, state, patch(0, { loop_wait_ms: 3000 }), 'INVALID_CONFIG');
  t.is(refused.key, 'config.ttl_ms');
  t.regex(refused.reason, /^config\.ttl_ms: must be greater than loop_wait_ms \+ safety_margin_ms/);
  t.is(state.config.version, 0);
  t.is(state.config.values.loop_wait_ms, DYNAMIC_DEFAULTS.loop_wait_ms);
});

test('patchConfig: unknown keys, wrong types and agent-owned parameters are refused naming the key', (t) => {
  const state = initialClusterState();
  t.is(expectRefused(t, state, patch(0, { ttl: 5000 }), 'INVALID_CONFIG').key, 'config.ttl');
  t.is(expectRefused(t, state, patch(0, { synchronous_mode: 'sometimes' }), 'INVALID_CONFIG').key, 'config.synchronous_mode');
  t.is(expectRefused(t, state, patch(0, { postgresql_parameters: { port: 5433 } }), 'INVALID_CONFIG').key, 'config.postgresql_parameters.port');
  t.is(expectRefused(t, state, JSON.parse('{"type":"patchConfig","atMs":1,"expectedVersion":0,"patch":{"__proto__":{"ttl_ms":1}}}'), 'INVALID_CONFIG').key, 'config.__proto__');
});

test('patchConfig: a stale version is refused', (t) => {
  const state = expectOk(t, initialClusterState(), patch(0, { loop_wait_ms: 500 })).state;
  const refused = expectRefused(t, state, patch(0, { loop_wait_ms: 700 }), 'VERSION_MISMATCH');
  t.regex(refused.reason, /version is 1, not 0/);
  expectRefused(t, state, patch(2, {}), 'VERSION_MISMATCH');
});

test('merge patch follows RFC 7386', (t) => {
  t.deepEqual(mergePatch({ a: 'b' }, { a: 'c' }), { a: 'c' });
  t.deepEqual(mergePatch({ a: 'b' }, { b: 'c' }), { a: 'b', b: 'c' });
  t.deepEqual(mergePatch({ a: 'b' }, { a: null }), {});
  t.deepEqual(mergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } }), { a: { b: 'd' } });
  t.deepEqual(mergePatch({ a: [1] }, { a: [2] }), { a: [2] });
  t.deepEqual(mergePatch(['a'], { a: 'b' }), { a: 'b' });
  t.deepEqual(mergePatch({}, { a: { bb: { ccc: null } } }), { a: { bb: {} } });
  const input = { a: { b: 1 } };
  mergePatch(input, { a: { b: 2 } });
  t.deepEqual(input, { a: { b: 1 } }, 'the target is not mutated');
});

test('patchConfig: while a primary holds the lease ttl_ms may be raised, not lowered (the primary may still count with the old one)', (t) => {
  const running = runningCluster();
  t.not(running.leader, null);
  const raised = expectOk(t, running, patch(running.config.version, { ttl_ms: running.config.values.ttl_ms + 2000 })).state;
  const refused = expectRefused(t, raised, patch(raised.config.version, { ttl_ms: running.config.values.ttl_ms }), 'UNSAFE_LEASE_CHANGE');
  t.is(refused.key, 'ttl_ms');
  t.regex(refused.reason, /lowering ttl_ms \(\d+ -> \d+\) while n\d holds the lease/);
  t.is(expectOk(t, initialClusterState(), patch(0, { ttl_ms: 3000 })).state.config.values.ttl_ms, 3000, 'with no lease held it may be lowered');
});

/**
 * GetConfig and PatchConfig over real gRPC with mutual TLS, against the
 * real cluster state machine: a patch is checked with the dynamic schema
 * before anything is proposed (errors name the key), committed on the
 * version it was checked on, and a refusal leaves the state untouched.
 */
import test, { type ExecutionContext } from 'ava';
import { AdminCallError } from '../../../src/admin/errors.js';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ApplyResult } from '../../../src/cluster/results.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { connectClient, MemoryBackend, serveAdmin, refused } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** The running cluster with its bootstrap configuration committed (version 1: ttl_ms 5000). */
function bootstrapped(): MemoryBackend {
  const backend = new MemoryBackend(runningCluster());
  backend.apply({ type: 'patchConfig', atMs: T0_MS + 5, expectedVersion: 0, patch: { ttl_ms: 5000 } });
  return backend;
}

async function setup(t: ExecutionContext, backend = bootstrapped()) {
  const server = await serveAdmin(t, pki, backend);
  const client = await connectClient(t, pki, server.address);
  return { backend, server, client };
}

/** Refused with `status` and `reason`, the message matching `message`; nothing proposed, the state the same object. */

test('GetConfig: the whole configuration with defaults, and its version', async (t) => {
  const { client } = await setup(t);
  const config = await client.getConfig();
  t.is(config.version, 1);
  t.like(config.values, { ttl_ms: 5000, loop_wait_ms: 1000, safety_margin_ms: 1000, synchronous_mode: 'off', use_rewind: true, postgresql_parameters: {} });
  t.deepEqual(Object.keys(config.values), Object.keys(bootstrapped().local().config.values), 'every key of the schema');
});

test('PatchConfig: committed on the version it was checked on; the answer lists each change old → new; the agent logs who and what', async (t) => {
  const { backend, client, server } = await setup(t);
  const result = await client.patchConfig({ patch: { ttl_ms: 6000, postgresql_parameters: { work_mem: '64MB', max_connections: 200 } }, by: 'alice' });
  t.like(result, { version: 2, previousVersion: 1, dryRun: false });
  t.deepEqual(result.changes, [
    { key: 'ttl_ms', from: 5000, to: 6000 },
    { key: 'postgresql_parameters.max_connections', from: null, to: 200 },
    { key: 'postgresql_parameters.work_mem', from: null, to: '64MB' },
  ]);
  t.like(result.values, { ttl_ms: 6000, postgresql_parameters: { work_mem: '64MB', max_connections: 200 } });
  t.like(backend.proposed[0], { type: 'patchConfig', expectedVersion: 1, atMs: backend.wallMs });
  t.is(backend.local().config.version, 2);
  t.like(backend.local().config.values, { ttl_ms: 6000, postgresql_parameters: { work_mem: '64MB' } });
  const line = server.logs.find((l) => l.event === 'admin.patch_config');
  t.is(line?.level, 'info');
  t.like(line?.fields, { outcome: 'ok', by: 'alice (certificate n2)', previousVersion: 1, version: 2, certificate: 'n2' });
  t.deepEqual((line?.fields['changes'] as unknown[])[0], { key: 'ttl_ms', from: 5000, to: 6000 });

  // null resets a key to its default and removes a parameter.
  const reset = await client.patchConfig({ patch: { loop_wait_ms: 500 } });
  t.deepEqual(reset.changes, [{ key: 'loop_wait_ms', from: 1000, to: 500 }]);
  const back = await client.patchConfig({ patch: { loop_wait_ms: null, postgresql_parameters: { work_mem: null } } });
  t.deepEqual(back.changes, [
    { key: 'loop_wait_ms', from: 500, to: 1000 },
    { key: 'postgresql_parameters.work_mem', from: '64MB', to: null },
  ]);
  t.deepEqual(backend.local().config.values.postgresql_parameters, { max_connections: 200 });
  t.regex(server.logs.filter((l) => l.event === 'admin.patch_config')[1]?.fields['by'] as string, /^pgherdctl@.*\(certificate n2\)$/);
  // Lowering the ttl while a primary holds the lease is refused by the cluster state, and says why.
  const before = backend.machine.state;
  const unsafe = await t.throwsAsync(client.patchConfig({ patch: { ttl_ms: null } }), { instanceOf: AdminCallError });
  t.like(unsafe, { status: 'FAILED_PRECONDITION', reason: 'UNSAFE_LEASE_CHANGE' });
  t.regex(unsafe.details, /lowering ttl_ms \(6000 -> 4000\) while n1 holds the lease/);
  t.is(backend.machine.state, before, 'the cluster state is unchanged');
});

test("PatchConfig takes Patroni's names for ours, in our units, and says so", async (t) => {
  const { backend, client } = await setup(t);
  const result = await client.patchConfig({ patch: { ttl: 7000, loop_wait: 500, maximum_lag_on_failover: 2048 } });
  t.deepEqual([...result.aliases], ['ttl -> ttl_ms', 'loop_wait -> loop_wait_ms', 'maximum_lag_on_failover -> maximum_lag_on_failover_bytes']);
  t.like(backend.local().config.values, { ttl_ms: 7000, loop_wait_ms: 500, maximum_lag_on_failover_bytes: 2048 });
  t.like(backend.proposed[0], { patch: { ttl_ms: 7000, loop_wait_ms: 500, maximum_lag_on_failover_bytes: 2048 } });
  // Patroni's ttl is in seconds: 30 is refused (as too small for milliseconds), not taken as 30 s.
  await refused(t, backend, client.patchConfig({ patch: { ttl: 30 } }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', /^config\.ttl_ms: .*>=1000.*\(taken as our keys: ttl -> ttl_ms\)/);
  await refused(t, backend, client.patchConfig({ patch: { ttl: 8000, ttl_ms: 8000 } }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', /^config\.ttl: is Patroni's name of ttl_ms, which the patch also sets/);
});

test('PatchConfig with an unknown key: INVALID_ARGUMENT naming it with a hint; nothing changed', async (t) => {
  const { backend, client } = await setup(t);
  await refused(t, backend, client.patchConfig({ patch: { ttl_msx: 6000 } }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', /^config\.ttl_msx: unknown key; did you mean config\.ttl_ms\?; nothing changed$/);
  await refused(t, backend, client.patchConfig({ patch: { postgresql: { parameters: { work_mem: '1MB' } } } }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', /^config\.postgresql: unknown key; use postgresql_parameters/);
  await refused(t, backend, client.patchConfig({ patch: JSON.parse('{"__proto__": {"ttl_ms": 1}}') as Record<string, unknown> }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', /^config\.__proto__: unknown key/);
});

test('PatchConfig with an invalid value: INVALID_ARGUMENT naming the key and what it expects; nothing changed', async (t) => {
  const { backend, client } = await setup(t);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ttl_ms: 10 }, /^config\.ttl_ms: Too small: expected number to be >=1000/],
    [{ ttl_ms: '6s' }, /^config\.ttl_ms: Invalid input: expected number, received string/],
    [{ synchronous_mode: 'maybe' }, /^config\.synchronous_mode: Invalid option: expected one of "off"\|"on"\|"strict"/],
    [{ loop_wait_ms: 5000 }, /^config\.ttl_ms: must be greater than loop_wait_ms \+ safety_margin_ms \(5000 \+ 1000 = 6000\), got 5000/],
    [{ postgresql_parameters: { port: 5433 } }, /^config\.postgresql_parameters\.port: is set by the agent on each node/],
    [{ postgresql_parameters: { 'Work-Mem': '1MB' } }, /^config\.postgresql_parameters\.Work-Mem: invalid key: expected a PostgreSQL parameter name/],
    [{ postgresql_parameters: { work_mem: ['1MB'] } }, /^config\.postgresql_parameters\.work_mem: Invalid input/],
  ];
  for (const [patch, message] of cases) await refused(t, backend, client.patchConfig({ patch }), 'INVALID_ARGUMENT', 'INVALID_CONFIG', message);
  // Not a merge patch at all.
  await refused(t, backend, client.patchConfig({ patch: {} }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^patch_json: is empty/);
  await refused(t, backend, client.patchConfig({ patch: [1] as unknown as Record<string, unknown> }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^patch_json: expected a JSON object.*got an array/);
});

test('PatchConfig on a version that is not the current one: ABORTED VERSION_CONFLICT; nothing changed', async (t) => {
  const { backend, client } = await setup(t);
  await refused(t, backend, client.patchConfig({ patch: { ttl_ms: 6000 }, expectedVersion: 0 }), 'ABORTED', 'VERSION_CONFLICT', /^the configuration is at version 1, not 0: someone changed it meanwhile; nothing changed/);
  const ok = await client.patchConfig({ patch: { ttl_ms: 6000 }, expectedVersion: 1 });
  t.is(ok.version, 2);
});

/** A backend where another change commits just before the first proposal (as if a second operator was faster). */
class RacedBackend extends MemoryBackend {
  raced = false;

  override async propose(command: ClusterCommandInput): Promise<ApplyResult> {
    if (!this.raced && command.type === 'patchConfig') {
      this.raced = true;
      this.apply({ type: 'patchConfig', atMs: T0_MS + 50, expectedVersion: this.local().config.version, patch: { loop_wait_ms: 900 } });
    }
    return super.propose(command);
  }
}

test('PatchConfig racing another change: with expected_version ABORTED (the other change kept); without, checked again on the new version', async (t) => {
  const strict = new RacedBackend(bootstrapped().local());
  const { client } = await setup(t, strict);
  const error = await t.throwsAsync(client.patchConfig({ patch: { ttl_ms: 6000 }, expectedVersion: 1 }), { instanceOf: AdminCallError });
  t.like(error, { status: 'ABORTED', reason: 'VERSION_CONFLICT' });
  t.regex(error.details, /changed while this change was being committed/);
  t.like(strict.local().config, { version: 2, values: { ttl_ms: 5000, loop_wait_ms: 900 } });

  const lenient = new RacedBackend(bootstrapped().local());
  const second = await setup(t, lenient);
  const result = await second.client.patchConfig({ patch: { ttl_ms: 6000 } });
  t.like(result, { previousVersion: 2, version: 3 });
  t.like(lenient.local().config.values, { ttl_ms: 6000, loop_wait_ms: 900 });
  t.deepEqual(lenient.proposed.map((c) => (c as { expectedVersion: number }).expectedVersion), [1, 2]);
});

test('PatchConfig dry run and a patch that changes nothing: answered without a proposal', async (t) => {
  const { backend, client } = await setup(t);
  const dry = await client.patchConfig({ patch: { ttl_ms: 9000 }, dryRun: true });
  t.like(dry, { dryRun: true, version: 1, previousVersion: 1, values: { ttl_ms: 9000 } });
  t.deepEqual(dry.changes, [{ key: 'ttl_ms', from: 5000, to: 9000 }]);
  const same = await client.patchConfig({ patch: { ttl_ms: 5000 } });
  t.like(same, { dryRun: false, version: 1, changes: [] });
  t.deepEqual(backend.proposed, []);
  t.is(backend.local().config.values.ttl_ms, 5000);
});

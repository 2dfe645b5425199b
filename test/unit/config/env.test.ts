import test from 'ava';
import { envOverrides, variableFor } from '../../../src/config/env.js';
import { loadConfig } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { kindOf, leafPaths, objectShape } from '../../../src/config/shape.js';
import type { z } from 'zod';
import { load, loadError, withMinimal } from './helpers.js';

/** The minimal configuration as environment variables only. */
const MINIMAL_ENV = Object.freeze({
  PGHERD_NAME: 'n1',
  PGHERD_RAFT_ADVERTISE: '10.0.0.1:7400',
  PGHERD_RAFT_BOOTSTRAP_EXPECT: '1',
  PGHERD_POSTGRESQL_CONNECT_ADDRESS: '10.0.0.1:5432',
});

test('a configuration from the environment alone (no file)', (t) => {
  const config = loadConfig({ env: { ...MINIMAL_ENV, PATH: '/usr/bin', HOME: '/root' } });
  t.is(config.name, 'n1');
  t.is(config.raft.bootstrap_expect, 1);
  t.is(config.raft.advertise, '10.0.0.1:7400');
});

test('every key has exactly one variable, and every variable maps back to its key', (t) => {
  const paths = leafPaths(configSchema);
  t.true(paths.length > 50);
  const variables = paths.map(variableFor);
  t.is(new Set(variables).size, variables.length);
  t.true(variables.includes('PGHERD_BOOTSTRAP_DYNAMIC_TTL_MS'));
  const sample: Record<string, string> = { number: '1', boolean: 'true', array: '' };
  for (const path of paths) {
    const variable = variableFor(path);
    const kind = kindOf(path.reduce<z.ZodType>((schema, key) => objectShape(schema)![key]!, configSchema));
    if (kind === 'record') {
      t.throws(() => envOverrides({ [variable]: 'x' }, configSchema), { message: /names the map/ });
      continue;
    }
    const [override] = envOverrides({ [variable]: sample[kind] ?? 'x' }, configSchema);
    t.deepEqual(override!.path, path, variable);
  }
});

test('overrides of each type: string, number, boolean, enum, list, map entry', (t) => {
  const config = load(t, withMinimal({ raft: { peers: ['n9@10.0.0.9:7400'] } }), {
    PGHERD_CLUSTER_NAME: 'main',
    PGHERD_RAFT_TICK_MS: '50',
    PGHERD_POSTGRESQL_PORT: '5433',
    PGHERD_POSTGRESQL_SHARED_BUFFERS_FRACTION: '0.4',
    PGHERD_TAGS_NOFAILOVER: 'true',
    PGHERD_TAGS_CLONEFROM: 'false',
    PGHERD_LOG_LEVEL: 'debug',
    PGHERD_BOOTSTRAP_DYNAMIC_TTL_MS: '5000',
    PGHERD_BOOTSTRAP_DYNAMIC_SYNCHRONOUS_MODE: 'strict',
    PGHERD_RAFT_PEERS: 'n2@10.0.0.2:7400, n3@10.0.0.3:7400',
    PGHERD_RAFT_BOOTSTRAP_EXPECT: '3',
    PGHERD_POSTGRESQL_PARAMETERS_WORK_MEM: '16MB',
    PGHERD_BOOTSTRAP_DYNAMIC_POSTGRESQL_PARAMETERS_MAX_CONNECTIONS: '200',
    PGHERD_POSTGRESQL_CALLBACKS_ON_ROLE_CHANGE: '/usr/local/bin/role-change',
  });
  t.is(config.cluster_name, 'main');
  t.is(config.raft.tick_ms, 50);
  t.is(config.postgresql.port, 5433);
  t.is(config.postgresql.connect_address, '10.0.0.1:5432');
  t.is(config.postgresql.shared_buffers_fraction, 0.4);
  t.true(config.tags.nofailover);
  t.false(config.tags.clonefrom);
  t.is(config.log.level, 'debug');
  t.is(config.bootstrap.dynamic.ttl_ms, 5000);
  t.is(config.bootstrap.dynamic.synchronous_mode, 'strict');
  t.deepEqual(config.raft.peers, [
    { name: 'n2', address: '10.0.0.2:7400' },
    { name: 'n3', address: '10.0.0.3:7400' },
  ]);
  t.deepEqual(config.postgresql.parameters, { work_mem: '16MB' });
  t.deepEqual(config.bootstrap.dynamic.postgresql_parameters, { max_connections: '200' });
  t.is(config.postgresql.callbacks.on_role_change, '/usr/local/bin/role-change');
});

test('the environment wins over the file; an empty list variable empties the list', (t) => {
  const file = withMinimal({ name: 'from-file', raft: { tick_ms: 200, peers: ['n2@10.0.0.2:7400'] }, tags: { nofailover: true } });
  const config = load(t, file, { PGHERD_NAME: 'from-env', PGHERD_RAFT_TICK_MS: '50', PGHERD_TAGS_NOFAILOVER: 'false', PGHERD_RAFT_PEERS: '' });
  t.is(config.name, 'from-env');
  t.is(config.raft.tick_ms, 50);
  t.false(config.tags.nofailover);
  t.deepEqual(config.raft.peers, []);
  t.is(load(t, file).raft.tick_ms, 200);
});

test('a bad value names the key and the variable', (t) => {
  t.is(loadError(t, withMinimal(), { PGHERD_RAFT_TICK_MS: 'fast' }), 'raft.tick_ms: expected a number, got "fast" (from PGHERD_RAFT_TICK_MS)');
  t.is(loadError(t, withMinimal(), { PGHERD_TAGS_NOFAILOVER: 'yes' }), 'tags.nofailover: expected true or false, got "yes" (from PGHERD_TAGS_NOFAILOVER)');
  t.regex(loadError(t, withMinimal(), { PGHERD_RAFT_TICK_MS: '5' }), /^raft\.tick_ms: .*>=10 \(from PGHERD_RAFT_TICK_MS\)$/);
  t.regex(loadError(t, withMinimal(), { PGHERD_LOG_FORMAT: 'xml' }), /^log\.format: .* \(from PGHERD_LOG_FORMAT\)$/);
  t.regex(loadError(t, withMinimal(), { PGHERD_RAFT_PEERS: 'n2@10.0.0.2:7400,n3' }), /^raft\.peers\.1: expected "name@host:port".* \(from PGHERD_RAFT_PEERS\)$/);
  // A cross-key rule broken by the environment names the variable too.
  t.regex(loadError(t, withMinimal(), { PGHERD_RAFT_HEARTBEAT_TICKS: '10' }), /^raft\.heartbeat_ticks: must be less than .* \(from PGHERD_RAFT_HEARTBEAT_TICKS\)$/);
  t.regex(loadError(t, withMinimal(), { PGHERD_BOOTSTRAP_DYNAMIC_TTL_MS: '2000' }), /^bootstrap\.dynamic\.ttl_ms: must be greater .* \(from PGHERD_BOOTSTRAP_DYNAMIC_TTL_MS\)$/);
});

test('an unknown PGHERD_ variable is an error naming it, with a hint', (t) => {
  t.is(loadError(t, withMinimal(), { PGHERD_RAFT_TICKMS: '50' }), 'PGHERD_RAFT_TICKMS: is not a configuration key; did you mean PGHERD_RAFT_TICK_MS?');
  t.regex(loadError(t, withMinimal(), { PGHERD_WHATEVER: '1' }), /^PGHERD_WHATEVER: is not a configuration key; variables are PGHERD_ \+ the key path/);
  t.regex(loadError(t, withMinimal(), { PGHERD_raft_tick_ms: '50' }), /^PGHERD_raft_tick_ms: is not a configuration key; did you mean PGHERD_RAFT_TICK_MS\?/);
  t.is(loadError(t, withMinimal(), { PGHERD_RAFT: 'x' }), 'PGHERD_RAFT: names the section raft; set its keys, e.g. PGHERD_RAFT_KEY');
  t.is(
    loadError(t, withMinimal(), { PGHERD_POSTGRESQL_PARAMETERS: 'work_mem=1MB' }),
    'PGHERD_POSTGRESQL_PARAMETERS: names the map postgresql.parameters; set one entry per variable, e.g. PGHERD_POSTGRESQL_PARAMETERS_NAME',
  );
});

test('variables without the PGHERD_ prefix are not read at all', (t) => {
  const config = load(t, withMinimal(), { DEV_RAFT_NODE: '1', PGHERDX: '1', RAFT_TICK_MS: '1' });
  t.is(config.raft.tick_ms, 100);
});

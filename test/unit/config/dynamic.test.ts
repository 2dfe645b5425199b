import test from 'ava';
import { DYNAMIC_DEFAULTS, parseDynamicConfig } from '../../../src/config/dynamic.js';

test('defaults: ttl 4 s, loop_wait 1 s, safety margin 1 s, asynchronous', (t) => {
  t.is(DYNAMIC_DEFAULTS.ttl_ms, 4000);
  t.is(DYNAMIC_DEFAULTS.loop_wait_ms, 1000);
  t.is(DYNAMIC_DEFAULTS.safety_margin_ms, 1000);
  t.is(DYNAMIC_DEFAULTS.synchronous_mode, 'off');
  t.true(Object.isFrozen(DYNAMIC_DEFAULTS));
});

test('loop_wait + safety_margin must stay below ttl: rejected, never adjusted', (t) => {
  const error = t.throws(() => parseDynamicConfig({ ttl_ms: 2000 }), { code: 'PGHERD_CONFIG_INVALID' });
  t.is(error!.message, 'config.ttl_ms: must be greater than loop_wait_ms + safety_margin_ms (1000 + 1000 = 2000), got 2000');
  t.is(parseDynamicConfig({ ttl_ms: 2100 }).ttl_ms, 2100);
});

test('bad values and unknown keys name the key', (t) => {
  t.regex(t.throws(() => parseDynamicConfig({ ttl_ms: 'soon' }, 'bootstrap.dynamic'))!.message, /^bootstrap\.dynamic\.ttl_ms: /);
  t.regex(t.throws(() => parseDynamicConfig({ ttl: 30 }))!.message, /^config\.ttl: unknown key/);
  t.regex(t.throws(() => parseDynamicConfig({ synchronous_mode: 'yes' }))!.message, /^config\.synchronous_mode: /);
  t.regex(t.throws(() => parseDynamicConfig({ postgresql_parameters: { 'bad name': 1 } }))!.message, /^config\.postgresql_parameters\./);
});

test('parameters the agent owns per node cannot be set cluster-wide', (t) => {
  const error = t.throws(() => parseDynamicConfig({ postgresql_parameters: { primary_slot_name: 'x' } }));
  t.is(error!.message, 'config.postgresql_parameters.primary_slot_name: is set by the agent on each node and cannot be configured cluster-wide');
  t.deepEqual(parseDynamicConfig({ postgresql_parameters: { work_mem: '16MB', max_connections: 200 } }).postgresql_parameters, {
    work_mem: '16MB',
    max_connections: 200,
  });
});

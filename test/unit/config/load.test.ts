import { join } from 'node:path';
import test from 'ava';
import { loadConfig } from '../../../src/config/load.js';
import { PgherdError } from '../../../src/lib/errors.js';
import { load, tempDir, withMinimal, writeYaml } from './helpers.js';

const MINIMAL_YAML = `name: n1
raft:
  advertise: 10.0.0.1:7400
  bootstrap_expect: 1
postgresql:
  connect_address: 10.0.0.1:5432
`;

test('a YAML syntax error names the file and the line', (t) => {
  const file = writeYaml(t, `${MINIMAL_YAML}tags:\n  nofailover: true\n nosync: true\n`);
  const error = t.throws(() => loadConfig({ file, env: {} }), { code: 'PGHERD_CONFIG_INVALID' });
  t.is(error!.message.split(':')[0], file);
  t.regex(error!.message, /:9: invalid YAML at line 9, column \d+: All mapping items must start at the same column$/);
});

test('a duplicate key is a YAML error naming its line', (t) => {
  const file = writeYaml(t, `${MINIMAL_YAML}log:\n  level: info\n  level: debug\n`);
  t.throws(() => loadConfig({ file, env: {} }), { message: /:9: invalid YAML at line 9, column 3: Map keys must be unique$/ });
});

test('a missing file is named', (t) => {
  const file = join(tempDir(t), 'absent.yaml');
  t.throws(() => loadConfig({ file, env: {} }), { message: `${file}: cannot read the configuration file (ENOENT)` });
});

test('the top level must be a mapping; an empty file is all defaults', (t) => {
  t.throws(() => loadConfig({ file: writeYaml(t, '- a\n- b\n'), env: {} }), { message: /: expected a mapping of configuration keys at the top level$/ });
  t.throws(() => loadConfig({ file: writeYaml(t, ''), env: {} }), { message: /^name: is required/ });
});

test('an empty YAML value means "not set": the default applies', (t) => {
  const config = loadConfig({ file: writeYaml(t, `${MINIMAL_YAML}  bin_dir:\n  port: ~\nlog:\n`), env: {} });
  t.is(config.postgresql.port, 5432);
  t.is(config.postgresql.bin_dir, undefined);
  t.is(config.log.level, 'info');
});

test('YAML 1.2: "off", "yes" and "no" are strings, not booleans', (t) => {
  const config = loadConfig({ file: writeYaml(t, `${MINIMAL_YAML}bootstrap:\n  dynamic:\n    synchronous_mode: off\n`), env: {} });
  t.is(config.bootstrap.dynamic.synchronous_mode, 'off');
  t.throws(() => loadConfig({ file: writeYaml(t, `${MINIMAL_YAML}tags:\n  nofailover: yes\n`), env: {} }), { message: /^tags\.nofailover: / });
});

test('the result is deeply frozen: mutation throws', (t) => {
  const config = load(t, withMinimal({ raft: { peers: ['n2@10.0.0.2:7400'] }, postgresql: { parameters: { work_mem: '4MB' } } }));
  t.true(Object.isFrozen(config));
  t.throws(() => {
    (config as { name: string }).name = 'x';
  }, { instanceOf: TypeError });
  t.throws(() => {
    (config.raft as { tick_ms: number }).tick_ms = 1;
  }, { instanceOf: TypeError });
  t.throws(() => {
    (config.raft.peers as unknown as unknown[]).push({ name: 'n3', address: '10.0.0.3:7400' });
  }, { instanceOf: TypeError });
  t.throws(() => {
    (config.raft.peers[0] as { address: string }).address = 'x';
  }, { instanceOf: TypeError });
  t.throws(() => {
    (config.postgresql.parameters as Record<string, unknown>).work_mem = '1GB';
  }, { instanceOf: TypeError });
  t.throws(() => {
    (config.bootstrap.dynamic as { ttl_ms: number }).ttl_ms = 1;
  }, { instanceOf: TypeError });
});

test('errors are ConfigError: stable code, the key on the error', (t) => {
  const error = t.throws(() => load(t, withMinimal({ raft: { tick_ms: 1 } })));
  t.true(error instanceof PgherdError);
  t.is((error as PgherdError & { key: string }).key, 'raft.tick_ms');
  t.is((error as PgherdError).code, 'PGHERD_CONFIG_INVALID');
});

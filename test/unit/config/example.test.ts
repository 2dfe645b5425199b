import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import YAML from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { leafPaths } from '../../../src/config/shape.js';
import { writeYaml } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../docs/pgherd.example.yaml', import.meta.url));

/** The example's values that are not defaults (required keys have none): everything else it states must equal the default. */
const EXAMPLE_VALUES = {
  name: 'n1',
  raft: { advertise: '10.0.0.1:7400', peers: ['n1@10.0.0.1:7400', 'n2@10.0.0.2:7400', { name: 'n3', address: '10.0.0.3:7400' }] },
  postgresql: { connect_address: '10.0.0.1:5432' },
};

test('the example configuration validates', (t) => {
  t.notThrows(() => loadConfig({ file: EXAMPLE, env: {} }));
});

test('every value the example states is the default (apart from the example values of required keys)', (t) => {
  const example = loadConfig({ file: EXAMPLE, env: {} });
  const defaults = loadConfig({ file: writeYaml(t, EXAMPLE_VALUES), env: {} });
  t.deepEqual(example, defaults);
});

test('the example shows every key, commented out where it has no default', (t) => {
  const uncommented = readFileSync(EXAMPLE, 'utf8').replace(/^(\s*)# ([a-z_]+: \S)/gm, '$1$2');
  const tree: unknown = YAML.parse(uncommented);
  const missing = leafPaths(configSchema).filter((path) => {
    let node = tree;
    for (const key of path) {
      if (typeof node !== 'object' || node === null || !(key in node)) return true;
      node = (node as Record<string, unknown>)[key];
    }
    return false;
  });
  t.deepEqual(missing, []);
  const everything = loadConfig({ file: writeYaml(t, uncommented), env: {} });
  t.is(everything.postgresql.callbacks.pre_promote, '/usr/local/bin/pgherd-pre-promote');
  t.is(everything.tls.key_file, '/etc/pgherd/node.key');
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import YAML from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';

/** The smallest valid configuration: what has no default (name, addresses behind wildcards) and a single-node cluster. */
export const MINIMAL = Object.freeze({
  name: 'n1',
  raft: { advertise: '10.0.0.1:7400', bootstrap_expect: 1 },
  postgresql: { connect_address: '10.0.0.1:5432' },
});

type Tree = Record<string, unknown>;

/** MINIMAL with sections merged one level deep (a key set to undefined is removed). */
export function withMinimal(overrides: Tree = {}): Tree {
  const result: Tree = structuredClone(MINIMAL) as Tree;
  for (const [key, value] of Object.entries(overrides)) {
    const base = result[key];
    if (value === undefined) delete result[key];
    else if (isObject(base) && isObject(value)) result[key] = dropUndefined({ ...base, ...value });
    else result[key] = value;
  }
  return result;
}

function isObject(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dropUndefined(tree: Tree): Tree {
  return Object.fromEntries(Object.entries(tree).filter(([, v]) => v !== undefined));
}

/** A temporary directory removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgherd-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeYaml(t: ExecutionContext, content: Tree | string, name = 'pgherd.yaml'): string {
  const file = join(tempDir(t), name);
  writeFileSync(file, typeof content === 'string' ? content : YAML.stringify(content));
  return file;
}

/** Load `tree` as a YAML file with the given environment. */
export function load(t: ExecutionContext, tree: Tree, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({ file: writeYaml(t, tree), env });
}

/** The ConfigError message loading `tree` throws. */
export function loadError(t: ExecutionContext, tree: Tree, env: NodeJS.ProcessEnv = {}): string {
  const error = t.throws(() => load(t, tree, env), { code: 'PGHERD_CONFIG_INVALID' });
  return error?.message ?? '';
}

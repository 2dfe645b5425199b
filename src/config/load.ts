import { readFileSync } from 'node:fs';
import YAML, { LineCounter } from 'yaml';
import { ConfigError } from '../lib/errors.js';
import { parseDynamicConfig } from './dynamic.js';
import { envOverrides, type EnvOverride } from './env.js';
import { checkKnownKeys, isPlainObject } from './keys.js';
import { checkConfigRules } from './rules.js';
import { configSchema, RENAMED_KEYS, resolveDerivedDefaults, type Config } from './schema.js';
import { configErrorFrom } from './zod-errors.js';

export interface LoadConfigOptions {
  /** The YAML file; absent: the environment and the defaults only. */
  readonly file?: string;
  /** Usually process.env; only PGHERD_* variables are read. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Read, merge (environment over file over defaults), validate and freeze the
 * node's configuration, once, at start. Throws ConfigError naming the key —
 * or the file and line, or the environment variable — and never adjusts a
 * value. A key set by the environment is named with its variable.
 */
export function loadConfig(options: LoadConfigOptions): Config {
  const fromFile = options.file === undefined ? {} : readYamlFile(options.file);
  checkKnownKeys(fromFile, configSchema, RENAMED_KEYS);
  const overrides = envOverrides(options.env, configSchema);
  const merged = structuredClone(fromFile);
  for (const override of overrides) setPath(merged, override.path, override.value);
  try {
    const parsed = configSchema.safeParse(merged);
    if (!parsed.success) throw configErrorFrom('', parsed.error);
    const dynamic = parseDynamicConfig(parsed.data.bootstrap.dynamic, 'bootstrap.dynamic');
    const config = resolveDerivedDefaults({ ...parsed.data, bootstrap: { ...parsed.data.bootstrap, dynamic } });
    checkConfigRules(config);
    return deepFreeze(config);
  } catch (error) {
    throw error instanceof ConfigError ? nameVariable(error, overrides) : error;
  }
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `cannot read the configuration file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
  const lineCounter = new LineCounter();
  const document = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntaxError = document.errors[0];
  if (syntaxError !== undefined) {
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    throw new ConfigError(`${file}:${line}`, `invalid YAML at line ${line}, column ${col}: ${syntaxError.message}`, { cause: syntaxError });
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) throw new ConfigError(file, 'expected a mapping of configuration keys at the top level');
  return withoutNulls(value) as Record<string, unknown>;
}

/** An empty YAML value (`key:` or `key: ~`) means "not set": the default applies. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

/** Add "(from PGHERD_X)" when the offending key — or a key under or above it — came from the environment. */
function nameVariable(error: ConfigError, overrides: readonly EnvOverride[]): ConfigError {
  const related = (path: string) => path === error.key || path.startsWith(`${error.key}.`) || error.key.startsWith(`${path}.`);
  const override = overrides.find((o) => related(o.path.join('.')));
  if (override === undefined || error.message.includes(override.variable)) return error;
  const message = error.message.slice(error.key.length + 2);
  return new ConfigError(error.key, `${message} (from ${override.variable})`, { cause: error });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

import type { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { closest } from './hints.js';
import { arrayElement, kindOf, leafPaths, objectShape, recordValue, type Kind } from './shape.js';

/**
 * PGHERD_* environment variables: `PGHERD_` + the key's path joined with
 * `_`, upper case. `raft.tick_ms` ← PGHERD_RAFT_TICK_MS,
 * `bootstrap.dynamic.ttl_ms` ← PGHERD_BOOTSTRAP_DYNAMIC_TTL_MS. Map entries
 * (postgresql.parameters) take the entry name after the map's variable:
 * PGHERD_POSTGRESQL_PARAMETERS_WORK_MEM=16MB. The text is coerced by the
 * schema's type at that path: numbers, `true`/`false`, lists as
 * comma-separated items, everything else as the string itself. Any other
 * PGHERD_ variable is an error (development and test tooling uses other prefixes).
 */
export const ENV_PREFIX = 'PGHERD_';

export interface EnvOverride {
  readonly variable: string;
  readonly path: readonly string[];
  readonly value: unknown;
}

export function variableFor(path: readonly string[]): string {
  return ENV_PREFIX + path.join('_').toUpperCase();
}

/** The overrides the environment asks for, in variable-name order; throws ConfigError naming a variable that maps to no key. */
export function envOverrides(env: NodeJS.ProcessEnv, schema: z.ZodType): EnvOverride[] {
  const variables = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX))
    .sort();
  return variables.map((variable) => {
    const path = resolveVariable(variable, schema);
    return { variable, path: path.path, value: coerce(env[variable] ?? '', path.kind, path.elementKind, variable, path.path) };
  });
}

interface ResolvedPath {
  readonly path: string[];
  readonly kind: Kind;
  readonly elementKind: Kind;
}

function resolveVariable(variable: string, schema: z.ZodType): ResolvedPath {
  const rest = variable.slice(ENV_PREFIX.length);
  const matches = rest === rest.toUpperCase() ? match(rest.toLowerCase(), schema, []) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new ConfigError(variable, `maps to several keys (${matches.map((m) => m.path.join('.')).join(', ')})`);
  }
  const known = leafPaths(schema).map(variableFor);
  const near = closest(variable.toUpperCase(), known);
  const hint = near !== undefined ? `; did you mean ${near}?` : '; variables are PGHERD_ + the key path in upper case with "_" (e.g. PGHERD_RAFT_TICK_MS for raft.tick_ms)';
  return fail(variable, `is not a configuration key${hint}`);
}

function match(rest: string, schema: z.ZodType, path: string[]): ResolvedPath[] {
  const shape = objectShape(schema);
  if (shape === undefined) return [];
  const found: ResolvedPath[] = [];
  for (const [key, child] of Object.entries(shape)) {
    const childPath = [...path, key];
    const kind = kindOf(child);
    if (rest === key) {
      found.push({ path: childPath, kind, elementKind: kindOf(arrayElement(child) ?? child) });
    } else if (rest.startsWith(`${key}_`)) {
      const tail = rest.slice(key.length + 1);
      if (kind === 'object') found.push(...match(tail, child, childPath));
      const value = recordValue(child);
      if (value !== undefined) found.push({ path: [...childPath, tail], kind: kindOf(value), elementKind: 'other' });
    }
  }
  return found;
}

function coerce(text: string, kind: Kind, elementKind: Kind, variable: string, path: readonly string[]): unknown {
  const key = path.join('.');
  switch (kind) {
    case 'object':
      return fail(variable, `names the section ${key}; set its keys, e.g. ${variableFor([...path, 'KEY'])}`);
    case 'record':
      return fail(variable, `names the map ${key}; set one entry per variable, e.g. ${variableFor([...path, 'NAME'])}`);
    case 'array':
      return text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
        .map((item) => coerceScalar(item, elementKind, variable, key));
    default:
      return coerceScalar(text, kind, variable, key);
  }
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function coerceScalar(text: string, kind: Kind, variable: string, key: string): unknown {
  if (kind === 'number') {
    if (!NUMBER.test(text.trim())) throw new ConfigError(key, `expected a number, got ${JSON.stringify(text)} (from ${variable})`);
    return Number(text);
  }
  if (kind === 'boolean') {
    if (text !== 'true' && text !== 'false') throw new ConfigError(key, `expected true or false, got ${JSON.stringify(text)} (from ${variable})`);
    return text === 'true';
  }
  return text;
}

function fail(variable: string, message: string): never {
  throw new ConfigError(variable, message);
}

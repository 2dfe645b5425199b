import type { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { closest } from './hints.js';
import { arrayElement, objectShape, recordValue } from './shape.js';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reject the first key the schema does not know, naming it with a hint: the
 * replacement of a renamed key, else the known key within two edits, else
 * the list of keys allowed there. (zod's strict objects would reject it too,
 * without the hint.)
 */
export function checkKnownKeys(value: unknown, schema: z.ZodType, renamed: ReadonlyMap<string, string>, path: readonly string[] = []): void {
  const shape = objectShape(schema);
  if (shape !== undefined && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childPath = [...path, key];
      if (!Object.hasOwn(shape, key)) throw unknownKey(childPath, Object.keys(shape), renamed);
      checkKnownKeys(child, shape[key]!, renamed, childPath);
    }
    return;
  }
  const element = arrayElement(schema);
  if (element !== undefined && Array.isArray(value)) {
    value.forEach((item, i) => checkKnownKeys(item, element, renamed, [...path, String(i)]));
    return;
  }
  const recordItem = recordValue(schema);
  if (recordItem !== undefined && isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) checkKnownKeys(item, recordItem, renamed, [...path, key]);
  }
}

function unknownKey(path: readonly string[], known: readonly string[], renamed: ReadonlyMap<string, string>): ConfigError {
  const key = path.join('.');
  const replacement = renamed.get(key.replace(/\.\d+(?=\.|$)/g, ''));
  if (replacement !== undefined) return new ConfigError(key, `unknown key; use ${replacement}`);
  const parent = path.slice(0, -1).map((p) => `${p}.`).join('');
  const near = closest(path.at(-1)!, known);
  if (near !== undefined) return new ConfigError(key, `unknown key; did you mean ${parent}${near}?`);
  return new ConfigError(key, `unknown key; known keys${parent === '' ? '' : ` in ${parent.slice(0, -1)}`}: ${known.join(', ')}`);
}

import { parse as parseYaml } from 'yaml';
import { CtlUsageError } from './failure.js';

/**
 * edit-config's `-s KEY=VALUE` and `-p NAME=VALUE` → a JSON merge patch of
 * the dynamic configuration, pure. Values are YAML scalars (6000 is a
 * number, true a boolean, 64MB a string, "6000" a string); null resets a
 * key to its default or removes a parameter. The agent checks the keys and
 * values (and takes Patroni's names, ttl for ttl_ms); here only the form.
 */

/** The dynamic configuration's key of PostgreSQL parameters: where -p NAME=VALUE goes. */
export const PARAMETERS_KEY = 'postgresql_parameters';

/** commander's collector for a repeatable option: every occurrence, in order (values may hold commas). */
export const repeated = (value: string, previous: readonly string[] | undefined): string[] => [...(previous ?? []), value];

export function patchOfFlags(sets: readonly string[], parameters: readonly string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const given = new Map<string, string>();
  const put = (path: readonly [string] | readonly [string, string], value: unknown, flag: string): void => {
    const key = path.join('.');
    const clash = given.get(key) ?? given.get(path[0]) ?? [...given.keys()].find((other) => other.startsWith(`${key}.`));
    if (clash !== undefined) throw new CtlUsageError(`${flag}: ${key} is already set by ${clash}: give each key once`);
    given.set(key, flag);
    if (path.length === 1) {
      patch[path[0]] = value;
      return;
    }
    const inner = (patch[path[0]] ??= Object.create(null) as Record<string, unknown>) as Record<string, unknown>;
    inner[path[1]] = value;
  };
  for (const text of sets) {
    const { key, value } = splitAssignment('-s', text, 'KEY=VALUE (e.g. ttl_ms=6000)');
    // One level of nesting at most (postgresql_parameters.NAME); a parameter name may itself hold dots.
    const dot = key.indexOf('.');
    const path = dot < 0 ? ([key] as const) : ([key.slice(0, dot), key.slice(dot + 1)] as const);
    if (path.some((part) => part === '')) throw new CtlUsageError(`-s: expected KEY=VALUE or ${PARAMETERS_KEY}.NAME=VALUE, got ${JSON.stringify(text)}`);
    put(path, parseScalar('-s', key, value, false), `-s ${key}`);
  }
  for (const text of parameters) {
    const { key, value } = splitAssignment('-p', text, 'NAME=VALUE (e.g. work_mem=64MB)');
    put([PARAMETERS_KEY, key], parseScalar('-p', key, value, true), `-p ${key}`);
  }
  return toPlain(patch);
}

function splitAssignment(flag: string, text: string, form: string): { key: string; value: string } {
  const at = text.indexOf('=');
  if (at <= 0) throw new CtlUsageError(`${flag}: expected ${form}, got ${JSON.stringify(text)}`);
  return { key: text.slice(0, at).trim(), value: text.slice(at + 1) };
}

/**
 * A YAML scalar. For -p (`parameterText`) PostgreSQL's own syntax wins
 * where YAML would not take the text as one value ('$user', public) or
 * would read a list or mapping in it: the text itself, as PostgreSQL reads
 * it; and an empty value is the empty string (a parameter may be ''). For
 * -s an empty value is an error (null resets the key) and so is anything
 * but a single YAML value.
 */
export function parseScalar(flag: string, key: string, text: string, parameterText: boolean): unknown {
  if (text.trim() === '') {
    if (parameterText) return '';
    throw new CtlUsageError(`${flag} ${key}=: expected a value (null resets ${key} to its default)`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    if (parameterText) return text;
    throw new CtlUsageError(`${flag} ${key}=${text}: not a YAML value: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new CtlUsageError(`${flag} ${key}=${text}: expected a finite number, a boolean, a string or null`);
  if (typeof value === 'object' && value !== null) {
    if (parameterText) return text;
    throw new CtlUsageError(`${flag} ${key}=${text}: expected a single value (a number, a boolean, a string or null), got a YAML ${Array.isArray(value) ? 'list' : 'mapping'}; quote it to mean the text`);
  }
  return value;
}

/** Objects with the ordinary prototype (built without one, so that no key is special while filling them). */
function toPlain(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, typeof inner === 'object' && inner !== null ? toPlain(inner as Record<string, unknown>) : inner]));
}

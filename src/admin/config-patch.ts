import type { z } from 'zod';
import { mergePatch } from '../cluster/merge-patch.js';
import { diffDynamicConfig, type DynamicConfigChange } from '../config/dynamic-diff.js';
import { dynamicConfigSchema, parseDynamicConfig, type DynamicConfig } from '../config/dynamic.js';
import { checkKnownKeys, isPlainObject } from '../config/keys.js';
import { RENAMED_KEYS } from '../config/schema.js';
import { kindOf } from '../config/shape.js';
import { ConfigError } from '../lib/errors.js';
import { invalidField } from './errors.js';
import { parseBy } from './requests.js';
import type { WirePatchConfigRequest } from './wire.js';

/**
 * A PatchConfig request, checked before anything is proposed: pure. The
 * patch is a JSON merge patch of the dynamic configuration; Patroni's key
 * names are taken for ours; the merged whole must pass the schema
 * (parseDynamicConfig, as apply itself checks it), whose errors name the key.
 */

/** A merge patch of a configuration of a dozen keys and some PostgreSQL parameters: far below this. */
export const CONFIG_PATCH_CHARS_MAX = 65_536;

/** Where errors say a key is: the configuration in the cluster state, as apply names it (config.ttl_ms). */
export const CONFIG_KEY_PREFIX = 'config';

const DYNAMIC_PREFIX = 'bootstrap.dynamic.';

/**
 * Patroni's names of dynamic keys → ours, from the static configuration's
 * rename map (bootstrap.dynamic.ttl → bootstrap.dynamic.ttl_ms). The value
 * is taken in our key's unit (ttl=6000 is ttl_ms 6000; Patroni's ttl=30
 * seconds is refused as too small). Only keys of a single value: Patroni's
 * `postgresql` section has another shape than postgresql_parameters.
 */
export const DYNAMIC_KEY_ALIASES: ReadonlyMap<string, string> = new Map(
  [...RENAMED_KEYS]
    .filter(([from, to]) => from.startsWith(DYNAMIC_PREFIX) && to.startsWith(DYNAMIC_PREFIX))
    .map(([from, to]): [string, string] => [from.slice(DYNAMIC_PREFIX.length), to.slice(DYNAMIC_PREFIX.length)])
    .filter(([, to]) => {
      const schema = (dynamicConfigSchema.shape as Readonly<Record<string, z.ZodType>>)[to];
      return schema !== undefined && kindOf(schema) !== 'record' && kindOf(schema) !== 'object';
    }),
);

/** The other renamed dynamic keys, for the "unknown key; use …" hint of checkKnownKeys. */
const RENAMED_DYNAMIC_KEYS: ReadonlyMap<string, string> = new Map(
  [...RENAMED_KEYS]
    .filter(([from, to]) => from.startsWith(DYNAMIC_PREFIX) && to.startsWith(DYNAMIC_PREFIX) && !DYNAMIC_KEY_ALIASES.has(from.slice(DYNAMIC_PREFIX.length)))
    .map(([from, to]): [string, string] => [`${CONFIG_KEY_PREFIX}.${from.slice(DYNAMIC_PREFIX.length)}`, to.slice(DYNAMIC_PREFIX.length)]),
);

export interface ConfigPatchRequest {
  readonly patch: Readonly<Record<string, unknown>>;
  /** null: apply to the current version. */
  readonly expectedVersion: number | null;
  readonly dryRun: boolean;
  readonly by: string;
}

export function parseConfigPatchRequest(request: WirePatchConfigRequest): ConfigPatchRequest {
  const text = request.patch_json;
  if (text.length > CONFIG_PATCH_CHARS_MAX) throw invalidField('patch_json', `expected at most ${CONFIG_PATCH_CHARS_MAX} characters, got ${text.length}`);
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch {
    throw invalidField('patch_json', `expected a JSON object (a merge patch of the configuration), got ${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? '…' : ''}`);
  }
  if (!isPlainObject(patch)) throw invalidField('patch_json', `expected a JSON object (a merge patch of the configuration), got ${Array.isArray(patch) ? 'an array' : JSON.stringify(patch)}`);
  if (Object.keys(patch).length === 0) throw invalidField('patch_json', 'is empty: name at least one key to change');
  const expected = request.expected_version;
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 0)) throw invalidField('expected_version', `expected a version >= 0, got ${expected}`);
  return { patch, expectedVersion: expected ?? null, dryRun: request.dry_run, by: parseBy('requested_by', request.requested_by) };
}

export interface ConfigPatchPlan {
  /** The patch with Patroni's names replaced: what is proposed. */
  readonly patch: Readonly<Record<string, unknown>>;
  /** The configuration after the patch. */
  readonly values: DynamicConfig;
  readonly changes: readonly DynamicConfigChange[];
  /** 'ttl -> ttl_ms' for each alias taken. */
  readonly aliases: readonly string[];
}

/** What `patch` makes of `current`; ConfigError naming the key (config.<key>) when a key is unknown or the result invalid. */
export function planConfigPatch(current: DynamicConfig, patch: Readonly<Record<string, unknown>>): ConfigPatchPlan {
  const { resolved, aliases } = resolveAliases(patch);
  try {
    checkKnownKeys(resolved, dynamicConfigSchema, RENAMED_DYNAMIC_KEYS, [CONFIG_KEY_PREFIX]);
    const values = parseDynamicConfig(mergePatch(current, resolved), CONFIG_KEY_PREFIX);
    return { patch: resolved, values, changes: diffDynamicConfig(current, values), aliases };
  } catch (error) {
    if (!(error instanceof ConfigError) || aliases.length === 0) throw error;
    throw new ConfigError(error.key, `${error.message.slice(error.key.length + 2)} (taken as our keys: ${aliases.join(', ')})`, { cause: error });
  }
}

function resolveAliases(patch: Readonly<Record<string, unknown>>): { resolved: Record<string, unknown>; aliases: string[] } {
  const entries: [string, unknown][] = [];
  const aliases: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    const ours = DYNAMIC_KEY_ALIASES.get(key);
    if (ours === undefined) {
      entries.push([key, value]);
      continue;
    }
    if (Object.hasOwn(patch, ours)) throw new ConfigError(`${CONFIG_KEY_PREFIX}.${key}`, `is Patroni's name of ${ours}, which the patch also sets: give one`);
    entries.push([ours, value]);
    aliases.push(`${key} -> ${ours}`);
  }
  // fromEntries: a `__proto__` key stays an own key, for checkKnownKeys to refuse.
  return { resolved: Object.fromEntries(entries), aliases };
}

import type { DynamicConfig } from './dynamic.js';

/**
 * What differs between two dynamic configurations, value by value: a
 * top-level key, or one entry of an object-valued key
 * (`postgresql_parameters.work_mem`). Pure. For the admin answer, the
 * operator's diff and the agents' `config.changed` log lines.
 */
export interface DynamicConfigChange {
  readonly key: string;
  /** null: absent (a parameter not set before, or removed). Values themselves are never null. */
  readonly from: unknown;
  readonly to: unknown;
}

export function diffDynamicConfig(before: DynamicConfig, after: DynamicConfig): DynamicConfigChange[] {
  const changes: DynamicConfigChange[] = [];
  for (const key of unionOfKeys(before, after)) {
    const from = valueAt(before, key);
    const to = valueAt(after, key);
    if (isPlainObject(from) || isPlainObject(to)) {
      const inner = { from: isPlainObject(from) ? from : {}, to: isPlainObject(to) ? to : {} };
      for (const name of unionOfKeys(inner.from, inner.to).sort()) {
        const entry = { from: valueAt(inner.from, name), to: valueAt(inner.to, name) };
        if (entry.from !== entry.to) changes.push({ key: `${key}.${name}`, from: entry.from ?? null, to: entry.to ?? null });
      }
    } else if (from !== to) {
      changes.push({ key, from: from ?? null, to: to ?? null });
    }
  }
  return changes;
}

/** The keys of `a` in order, then those only `b` has. */
function unionOfKeys(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])];
}

function valueAt(record: object, key: string): unknown {
  return Object.hasOwn(record, key) ? (record as Record<string, unknown>)[key] : undefined;
}

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

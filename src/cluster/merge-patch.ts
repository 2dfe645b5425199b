/**
 * JSON merge patch (RFC 7386): objects merge key by key, `null` removes a
 * key, anything else replaces. Pure; builds new objects with own data
 * properties only (a `__proto__` key stays a plain key, for the schema to refuse).
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const base = isPlainObject(target) ? target : {};
  const keys = new Set([...Object.keys(base), ...Object.keys(patch)]);
  const entries: [string, unknown][] = [];
  for (const key of keys) {
    if (!Object.hasOwn(patch, key)) {
      entries.push([key, base[key]]);
      continue;
    }
    const value = patch[key];
    if (value === null) continue;
    entries.push([key, mergePatch(Object.hasOwn(base, key) ? base[key] : undefined, value)]);
  }
  return Object.fromEntries(entries);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

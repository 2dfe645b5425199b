import type { z } from 'zod';
import { ConfigError } from '../lib/errors.js';

/** Turn zod issues into one ConfigError whose key is the first offending path (`prefix.a.b`). */
export function configErrorFrom(prefix: string, error: z.ZodError): ConfigError {
  const describe = (issue: z.core.$ZodIssue): { key: string; message: string } => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path === '' ? k : `${path}.${k}`));
      return { key: keys[0]!, message: keys.length > 1 ? `unknown keys ${keys.join(', ')}` : 'unknown key' };
    }
    // A record key that fails its own schema: say what a key must be (zod says only "Invalid key in record").
    if (issue.code === 'invalid_key' && issue.issues[0] !== undefined) return { key: path || prefix, message: `invalid key: expected ${issue.issues[0].message}` };
    return { key: path || prefix, message: issue.message };
  };
  const [first, ...rest] = error.issues.map(describe);
  const more = rest.length > 0 ? `; also ${rest.map((r) => `${r.key}: ${r.message}`).join('; ')}` : '';
  return new ConfigError(first!.key, `${first!.message}${more}`);
}

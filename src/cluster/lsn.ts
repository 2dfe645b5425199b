/**
 * LSNs as the cluster state stores them: PostgreSQL's canonical `X/Y` text
 * (exact and JSON-safe), compared and subtracted through bigint. The
 * primitives live in src/lib/lsn.ts.
 */
import { formatLsn, parseLsn } from '../lib/lsn.js';

export { formatLsn, isLsnText, LSN_MAX, parseLsn } from '../lib/lsn.js';

export type Lsn = string;

/** The canonical text of an LSN given in any accepted spelling (`0/0000ABCD` → `0/ABCD`). */
export function canonicalLsn(text: string): Lsn {
  return formatLsn(parseLsn(text));
}

/** -1, 0 or 1 as `a` is before, at or after `b`. */
export function compareLsn(a: Lsn, b: Lsn): -1 | 0 | 1 {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Bytes of WAL from `from` to `to` (negative when `to` is behind). */
export function lsnDiffBytes(to: Lsn, from: Lsn): bigint {
  return parseLsn(to) - parseLsn(from);
}

/** The later of two LSNs. */
export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return compareLsn(a, b) >= 0 ? a : b;
}

/**
 * PostgreSQL log sequence numbers. An LSN is a 64-bit byte position in the
 * WAL, written by PostgreSQL as two hex halves `X/Y` (high/low 32 bits).
 * Values above 2^53 are real (a busy cluster gets there), so arithmetic and
 * comparison go through bigint; the cluster state stores the canonical text
 * form (upper-case hex, no leading zeros), which is exact and JSON-safe.
 */
export type Lsn = string;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const HALF_BITS = 32n;
const HALF_MASK = (1n << HALF_BITS) - 1n;
export const LSN_MAX = (1n << 64n) - 1n;

/** True when `text` is an LSN in PostgreSQL's `X/Y` form (any case, leading zeros allowed). */
export function isLsnText(text: string): boolean {
  return LSN_PATTERN.test(text);
}

/** Parse PostgreSQL's `X/Y` into its 64-bit value. Throws RangeError on malformed text. */
export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text);
  if (!match) throw new RangeError(`not an LSN (expected X/Y in hex): ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]!}`) << HALF_BITS) | BigInt(`0x${match[2]!}`);
}

/** Format a 64-bit value as PostgreSQL does: `X/Y`, upper-case hex. */
export function formatLsn(value: bigint): Lsn {
  if (value < 0n || value > LSN_MAX) throw new RangeError(`LSN out of range: ${value}`);
  const high = (value >> HALF_BITS).toString(16).toUpperCase();
  const low = (value & HALF_MASK).toString(16).toUpperCase();
  return `${high}/${low}`;
}

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

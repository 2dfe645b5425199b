/**
 * PostgreSQL log sequence numbers: a 64-bit byte position in the WAL,
 * written by PostgreSQL as two hex halves `X/Y` (high/low 32 bits). Values
 * above 2^53 are real (a busy cluster gets there), so the value is a bigint.
 * The cluster state stores the canonical text (src/cluster/lsn.ts).
 */
export type LsnValue = bigint;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const HALF_BITS = 32n;
const HALF_MASK = (1n << HALF_BITS) - 1n;
export const LSN_MAX: LsnValue = (1n << 64n) - 1n;

/** True when `text` is an LSN in PostgreSQL's `X/Y` form (any case, leading zeros allowed). */
export function isLsnText(text: string): boolean {
  return LSN_PATTERN.test(text);
}

/** Parse PostgreSQL's `X/Y` into its 64-bit value. Throws RangeError on malformed text. */
export function parseLsn(text: string): LsnValue {
  const match = LSN_PATTERN.exec(text);
  if (!match) throw new RangeError(`not an LSN (expected X/Y in hex): ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]!}`) << HALF_BITS) | BigInt(`0x${match[2]!}`);
}

/** Parse an LSN column that may be NULL. */
export function parseLsnOrNull(text: string | null | undefined): LsnValue | null {
  return text === null || text === undefined ? null : parseLsn(text);
}

/** Format a 64-bit value as PostgreSQL does: `X/Y`, upper-case hex, no leading zeros. */
export function formatLsn(value: LsnValue): string {
  if (value < 0n || value > LSN_MAX) throw new RangeError(`LSN out of range: ${value}`);
  return `${(value >> HALF_BITS).toString(16).toUpperCase()}/${(value & HALF_MASK).toString(16).toUpperCase()}`;
}

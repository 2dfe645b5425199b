/**
 * Small, fast, platform-independent 32-bit hashes (FNV-1a) for fingerprints
 * and trace digests. Collisions only ever hide a difference; they never
 * invent one, so a checker built on them has no false positives.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export const HASH_SEED = FNV_OFFSET;

export function hashBytes(bytes: Uint8Array, seed: number = FNV_OFFSET): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** Fold one 32-bit value into a running hash. */
export function mix(h: number, value: number): number {
  let x = h >>> 0;
  let v = value | 0;
  for (let i = 0; i < 4; i++) {
    x ^= v & 0xff;
    x = Math.imul(x, FNV_PRIME);
    v >>>= 8;
  }
  return x >>> 0;
}

/** Fold a string (char codes) into a running hash. */
export function mixString(h: number, text: string): number {
  let x = h >>> 0;
  for (let i = 0; i < text.length; i++) {
    x ^= text.charCodeAt(i);
    x = Math.imul(x, FNV_PRIME);
  }
  return x >>> 0;
}

export function hex32(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}

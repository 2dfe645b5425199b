import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) with continuation:
 * crc32(b, crc32(a)) === crc32(a ++ b). Node >= 20.15 has it natively in
 * zlib; older Node 20 releases fall back to the table below, which gives
 * identical results (a test compares the two).
 */
export function crc32(data: Uint8Array, initial = 0): number {
  return nativeCrc32 ? nativeCrc32(data, initial) : crc32Portable(data, initial);
}

const nativeCrc32: ((data: Uint8Array, initial?: number) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? zlib.crc32 : undefined;

const POLYNOMIAL_REVERSED = 0xedb88320;
const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL_REVERSED ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The table-driven implementation (exported for the equivalence test). */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  let c = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

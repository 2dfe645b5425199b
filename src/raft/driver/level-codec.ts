/**
 * The on-disk format of the Raft log in LevelDB: keys and checksummed binary
 * values. Pure: bytes in, typed records out; the store decides what a
 * malformed record means (it reports it through `fail`).
 *
 * Keys (utf8, ordered bytewise by LevelDB):
 *   'e' + 16 lower-case hex digits   one log entry, by index (so entries sort by index)
 *   'hs'                             the hard state
 *   'meta'                           magic, format version, node and cluster identity
 *   'snap'                           the latest snapshot
 *
 * Every value is framed as
 *   u32 crc32(key bytes ++ tag ++ body) | u8 tag | body
 * Folding the key into the checksum also catches a value stored under the
 * wrong key. Integers are big-endian; u64 is two u32 halves and must stay a
 * safe JavaScript integer; strings and byte strings are u32 length + bytes.
 */
import { assert } from '../../lib/assert.js';
import { crc32 } from '../../lib/crc32.js';
import type { Entry, EntryType, HardState, Snapshot } from '../core/types.js';

export const META_MAGIC = 'pgherd-raft-log';
export const FORMAT_VERSION = 1;

export const KEY_META = 'meta';
export const KEY_HARD_STATE = 'hs';
export const KEY_SNAPSHOT = 'snap';
const ENTRY_KEY_PREFIX = 'e';
const ENTRY_KEY_HEX_DIGITS = 16;
const ENTRY_KEY_PATTERN = /^e[0-9a-f]{16}$/;

/** Reports a malformed record; never returns. */
export type Fail = (reason: string) => never;

export interface Meta {
  readonly magic: string;
  readonly formatVersion: number;
  readonly nodeId: string;
  readonly clusterName: string;
}

const TAG_META = 1;
const TAG_HARD_STATE = 2;
const TAG_SNAPSHOT = 3;
const TAG_ENTRY = 4;

const ENTRY_TYPE_CODES: Readonly<Record<EntryType, number>> = { normal: 0, conf: 1 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf'];

const FRAME_HEADER_BYTES = 5; // u32 crc + u8 tag
const TWO_POW_32 = 0x1_0000_0000;
const U64_HIGH_MAX = Math.floor(Number.MAX_SAFE_INTEGER / TWO_POW_32);

export function entryKey(index: number): string {
  assert(Number.isSafeInteger(index) && index >= 0, () => `entry index must be a non-negative safe integer, got ${index}`);
  return ENTRY_KEY_PREFIX + index.toString(16).padStart(ENTRY_KEY_HEX_DIGITS, '0');
}

/** The index an entry key names, or undefined when `key` is not an entry key. */
export function parseEntryKey(key: string): number | undefined {
  if (!ENTRY_KEY_PATTERN.test(key)) return undefined;
  const index = Number.parseInt(key.slice(1), 16);
  return Number.isSafeInteger(index) ? index : undefined;
}

// ---- encoders ----

export function encodeMeta(meta: Meta): Uint8Array {
  return frame(KEY_META, TAG_META, (w) => {
    w.string(meta.magic);
    w.u32(meta.formatVersion);
    w.string(meta.nodeId);
    w.string(meta.clusterName);
  });
}

export function encodeHardState(hardState: HardState): Uint8Array {
  return frame(KEY_HARD_STATE, TAG_HARD_STATE, (w) => {
    w.u64(hardState.term);
    w.u64(hardState.commit);
    w.string(hardState.vote);
  });
}

export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const { index, term, confState } = snapshot.metadata;
  return frame(KEY_SNAPSHOT, TAG_SNAPSHOT, (w) => {
    w.u64(index);
    w.u64(term);
    w.strings(confState.voters);
    w.strings(confState.learners);
    w.bytes(snapshot.data);
  });
}

export function encodeEntry(entry: Entry): Uint8Array {
  return frame(entryKey(entry.index), TAG_ENTRY, (w) => {
    w.u8(ENTRY_TYPE_CODES[entry.type]);
    w.u64(entry.term);
    w.u64(entry.index);
    w.bytes(entry.data);
  });
}

// ---- decoders ----

export function decodeMeta(value: Uint8Array, fail: Fail): Meta {
  const r = unframe(KEY_META, TAG_META, value, fail);
  const magic = r.string();
  if (magic !== META_MAGIC) fail(`magic is '${magic.slice(0, 40)}', expected '${META_MAGIC}'`);
  const meta: Meta = { magic, formatVersion: r.u32(), nodeId: r.string(), clusterName: r.string() };
  r.end();
  return meta;
}

export function decodeHardState(value: Uint8Array, fail: Fail): HardState {
  const r = unframe(KEY_HARD_STATE, TAG_HARD_STATE, value, fail);
  const hardState: HardState = { term: r.u64(), commit: r.u64(), vote: r.string() };
  r.end();
  return hardState;
}

export function decodeSnapshot(value: Uint8Array, fail: Fail): Snapshot {
  const r = unframe(KEY_SNAPSHOT, TAG_SNAPSHOT, value, fail);
  const index = r.u64();
  const term = r.u64();
  const voters = r.strings();
  const learners = r.strings();
  const data = r.bytes();
  r.end();
  return { metadata: { index, term, confState: { voters, learners } }, data };
}

export function decodeEntry(key: string, value: Uint8Array, fail: Fail): Entry {
  const r = unframe(key, TAG_ENTRY, value, fail);
  const typeCode = r.u8();
  const type = ENTRY_TYPES[typeCode];
  if (type === undefined) fail(`unknown entry type code ${typeCode}`);
  const term = r.u64();
  const index = r.u64();
  const data = r.bytes();
  r.end();
  if (key !== entryKey(index)) fail(`holds the entry with index ${index}`);
  return { term, index, type, data };
}

// ---- framing ----

function frame(key: string, tag: number, writeBody: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter();
  w.u32(0); // checksum placeholder
  w.u8(tag);
  writeBody(w);
  const bytes = w.finish();
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(0, checksum(key, bytes.subarray(4)));
  return bytes;
}

function unframe(key: string, tag: number, value: Uint8Array, fail: Fail): ByteReader {
  if (value.byteLength < FRAME_HEADER_BYTES) fail(`value is ${value.byteLength} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte frame header`);
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  const computed = checksum(key, value.subarray(4));
  if (stored !== computed) fail(`checksum mismatch (stored ${hex32(stored)}, computed ${hex32(computed)}): the value is corrupt or torn`);
  if (value[4] !== tag) fail(`record tag is ${value[4]}, expected ${tag}`);
  return new ByteReader(value, FRAME_HEADER_BYTES, fail);
}

function checksum(key: string, tagAndBody: Uint8Array): number {
  return crc32(tagAndBody, crc32(Buffer.from(key, 'utf8')));
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

class ByteWriter {
  private buffer = Buffer.alloc(64);
  private length = 0;

  u8(value: number): void {
    this.reserve(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }

  u64(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, () => `u64 field must be a non-negative safe integer, got ${value}`);
    this.u32(Math.floor(value / TWO_POW_32));
    this.u32(value >>> 0);
  }

  bytes(value: Uint8Array): void {
    this.u32(value.byteLength);
    this.reserve(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
  }

  string(value: string): void {
    this.bytes(Buffer.from(value, 'utf8'));
  }

  strings(values: readonly string[]): void {
    this.u32(values.length);
    for (const value of values) this.string(value);
  }

  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class ByteReader {
  private readonly view: DataView;

  constructor(
    private readonly value: Uint8Array,
    private offset: number,
    private readonly fail: Fail,
  ) {
    this.view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.offset);
    this.offset += 4;
    return n;
  }

  u64(): number {
    const high = this.u32();
    const low = this.u32();
    if (high > U64_HIGH_MAX) this.fail(`integer field exceeds the safe integer range (high word ${high})`);
    return high * TWO_POW_32 + low;
  }

  /** A copy, so the record does not pin LevelDB's read buffer. */
  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const copy = new Uint8Array(this.value.subarray(this.offset, this.offset + length));
    this.offset += length;
    return copy;
  }

  string(): string {
    const raw = this.bytes();
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail('a string field is not valid UTF-8');
    }
  }

  strings(): string[] {
    const count = this.u32();
    const values: string[] = [];
    for (let i = 0; i < count; i++) values.push(this.string());
    return values;
  }

  end(): void {
    if (this.offset !== this.value.byteLength) this.fail(`${this.value.byteLength - this.offset} unexpected trailing bytes`);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.value.byteLength) this.fail(`value ends early (needs ${bytes} bytes at offset ${this.offset} of ${this.value.byteLength})`);
  }
}

import { StorageCorruptError } from '../../lib/errors.js';

/**
 * What a driver snapshot holds besides the application's state: the Raft
 * peer address book, because after log compaction the conf-change entries
 * that carried the addresses are gone.
 *
 * Layout: u32 big-endian header length | JSON header | application bytes.
 */
export interface DriverSnapshotData {
  readonly addresses: Readonly<Record<string, string>>;
  readonly app: Uint8Array;
}

const HEADER_VERSION = 1;

export function encodeSnapshotData(data: DriverSnapshotData): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ v: HEADER_VERSION, addresses: data.addresses }));
  const out = new Uint8Array(4 + header.byteLength + data.app.byteLength);
  new DataView(out.buffer).setUint32(0, header.byteLength);
  out.set(header, 4);
  out.set(data.app, 4 + header.byteLength);
  return out;
}

export function decodeSnapshotData(bytes: Uint8Array, where: string): DriverSnapshotData {
  if (bytes.byteLength === 0) return { addresses: {}, app: bytes };
  if (bytes.byteLength < 4) throw new StorageCorruptError(where, 'snapshot data is truncated');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + headerLength > bytes.byteLength) throw new StorageCorruptError(where, 'snapshot header is truncated');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)));
  } catch (cause) {
    throw new StorageCorruptError(where, 'snapshot header is not valid JSON', { cause });
  }
  const parsed = header as { v?: unknown; addresses?: unknown };
  if (parsed.v !== HEADER_VERSION || typeof parsed.addresses !== 'object' || parsed.addresses === null) {
    throw new StorageCorruptError(where, `snapshot header has an unknown format (version ${String(parsed.v)})`);
  }
  return { addresses: parsed.addresses as Record<string, string>, app: bytes.subarray(4 + headerLength) };
}

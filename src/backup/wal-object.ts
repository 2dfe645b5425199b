import { createHash } from 'node:crypto';
import type { Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { WalCorruptError } from './wal-errors.js';

/*
 * One archived WAL file in the object store: the bytes, gzip-compressed or
 * not, under walKey(cluster, name), with metadata (lowercase keys, ASCII
 * values, as ObjectStore wants):
 *
 *   encoding  "gzip" | "identity"     how the stored bytes are encoded
 *   sha256    64 lowercase hex        of the uncompressed file
 *   size      decimal                 bytes of the uncompressed file
 *
 * Objects written by another tool may lack all three: the encoding is then
 * read from the bytes (gzip's magic number; a WAL page or a history file
 * never starts with it) and the digest is computed when needed.
 */

export type WalEncoding = 'gzip' | 'identity';

export interface WalObjectMeta {
  readonly encoding: WalEncoding;
  /** Of the uncompressed bytes, lowercase hex. */
  readonly sha256: string;
  /** Uncompressed bytes. */
  readonly size: number;
}

/** What an object's metadata says; fields are undefined when absent (objects of other tools). */
export type StoredWalMeta = { readonly [K in keyof WalObjectMeta]: WalObjectMeta[K] | undefined };

const SHA256_HEX = /^[0-9a-f]{64}$/;
const GZIP_MAGIC = [0x1f, 0x8b] as const;
const gunzipAsync = promisify(gunzip);

export function toStoreMetadata(meta: WalObjectMeta): Record<string, string> {
  return { encoding: meta.encoding, sha256: meta.sha256, size: String(meta.size) };
}

/** Read an object's metadata. Throws WalCorruptError naming `key` when a field is present but malformed (never guessed). */
export function fromStoreMetadata(key: string, metadata: Readonly<Record<string, string>>): StoredWalMeta {
  const { encoding, sha256, size } = metadata;
  if (encoding !== undefined && encoding !== 'gzip' && encoding !== 'identity') throw new WalCorruptError(key, `metadata encoding=${JSON.stringify(encoding)}, expected gzip or identity`);
  if (sha256 !== undefined && !SHA256_HEX.test(sha256)) throw new WalCorruptError(key, `metadata sha256=${JSON.stringify(sha256)}, expected 64 lowercase hex digits`);
  if (size !== undefined && !/^(0|[1-9][0-9]{0,15})$/.test(size)) throw new WalCorruptError(key, `metadata size=${JSON.stringify(size)}, expected a decimal byte count`);
  return { encoding, sha256, size: size === undefined ? undefined : Number(size) };
}

/** The encoding of stored bytes that carry no "encoding" metadata. */
export function sniffEncoding(stored: Buffer): WalEncoding {
  return stored.length >= 2 && stored[0] === GZIP_MAGIC[0] && stored[1] === GZIP_MAGIC[1] ? 'gzip' : 'identity';
}

/** The uncompressed bytes of a whole stored object. */
export async function decodeBuffer(stored: Buffer, encoding: WalEncoding): Promise<Buffer> {
  return encoding === 'gzip' ? gunzipAsync(stored) : stored;
}

/** A decoding stage for a stored object's stream, or none for identity. */
export function decodeStream(encoding: WalEncoding): Transform | undefined {
  return encoding === 'gzip' ? createGunzip() : undefined;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Collect a stream's bytes. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

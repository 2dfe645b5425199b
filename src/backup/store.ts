import type { Readable } from 'node:stream';
import { assert } from '../lib/assert.js';
import { PgherdError } from '../lib/errors.js';

/*
 * Where WAL and base backups live (DESIGN §7). Two implementations behind
 * one interface: S3 (store-s3.ts) and a local directory (store-local.ts, the
 * embedded default for the demo and tests). One contract test suite
 * (test/unit/backup/store-contract.test.ts) runs against both.
 *
 * Keys are relative to the store's root (the S3 bucket + prefix, or the
 * directory) and use "/" as separator: "<cluster>/wal/<name>",
 * "<cluster>/basebackups/<id>/manifest.json". A key is non-empty, has no
 * empty segment, no leading or trailing "/", only [A-Za-z0-9._-] in each
 * segment, and no segment starting with "." (so no "." or ".." segment, and
 * the local store's hidden temporary and metadata files can never be a key):
 * checked by validateKey() in every implementation, so a key can never
 * escape the root.
 *
 * Whatever else lies under the root (files other tools put there whose names
 * are not keys) is ignored: list() never yields a key validateKey() rejects.
 */

export interface ObjectInfo {
  readonly key: string;
  /** Bytes stored. */
  readonly size: number;
  readonly modified: Date;
  /**
   * User metadata given to put(); empty when none. Only head() returns it:
   * list() yields {} in every implementation (S3's ListObjectsV2 does not
   * return user metadata, and a HEAD per listed object would make listing a
   * WAL archive cost one request per segment).
   */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface PutOptions {
  /**
   * Small user metadata, e.g. the SHA-256 of the uncompressed content: keys
   * [a-z0-9-] (S3 lowercases keys, so other keys would not read back alike),
   * values 1..1024 printable ASCII characters without spaces, at most
   * METADATA_BYTES_MAX in all (S3's limit). Checked by validateMetadata().
   */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Known length of a stream body (e.g. the size of the file being sent).
   * When the body turns out longer or shorter, put() fails and stores
   * nothing: the file changed while it was read.
   */
  readonly contentLength?: number;
}

export interface ObjectStore {
  /** For logs and errors: "s3://bucket/prefix (endpoint)" or "file:///dir". */
  readonly description: string;
  /**
   * Stores the object whole or not at all: a reader never sees a partial
   * object under `key` (local: write to a temporary name, fsync, rename;
   * S3: a single PUT or a completed multipart upload). Replaces an existing
   * object; callers that must not replace check with head() first. A stream
   * body is consumed, and destroyed when put() fails; a failure of the body
   * itself is UNAVAILABLE ("reading the body failed").
   */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<void>;
  /**
   * The object's bytes as a stream. Throws StoreError NOT_FOUND when absent;
   * a failure while streaming is a StoreError 'error' on the stream.
   */
  get(key: string): Promise<Readable>;
  /** The object's bytes. Throws StoreError NOT_FOUND when absent. */
  getBuffer(key: string): Promise<Buffer>;
  /**
   * Size, time and metadata; undefined when absent. Also undefined when the
   * bucket or directory itself is missing (S3 answers a HEAD of a missing
   * bucket with a bare 404 that cannot be told apart): check() tells.
   */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Every object whose key starts with `prefix` (a string prefix, not only a
   * "directory"; "" lists everything), in ascending key order (byte order, as
   * S3 lists). `metadata` is always {}: use head() for it.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes the objects; absent keys are not an error. One invalid key fails the call before anything is deleted. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Proves the store is usable now: the bucket exists and the credentials
   * may write, read and delete (a small probe object under `probeKey`).
   * Throws a StoreError whose message names the bucket/endpoint or the
   * directory and what is wrong. The agent calls it at start and logs the
   * result; it never stops the node from serving.
   */
  check(probeKey: string): Promise<void>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}

export type StoreErrorReason =
  /** The key does not exist. */
  | 'NOT_FOUND'
  /** The bucket (or directory) does not exist. */
  | 'NO_SUCH_BUCKET'
  /** Credentials missing, wrong, or not allowed to do this. */
  | 'ACCESS_DENIED'
  /** An invalid key was passed (a programmer or input error). */
  | 'INVALID_KEY'
  /** Anything else: network, server error, disk full. Retrying may help. */
  | 'UNAVAILABLE';

/** A store operation failed. The message names the store, the key when there is one, and the cause. */
export class StoreError extends PgherdError {
  readonly reason: StoreErrorReason;
  readonly key: string | undefined;

  constructor(reason: StoreErrorReason, message: string, options?: { key?: string; cause?: unknown }) {
    super(`PGHERD_STORE_${reason}`, message, options);
    this.reason = reason;
    this.key = options?.key;
  }
}

/** A whole key segment: no leading "." (which also rules out "." and ".."). */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** The unfinished last segment of a list() prefix: empty, or the start of a segment (so no leading "." either). */
const PARTIAL_SEGMENT = /^([A-Za-z0-9_-][A-Za-z0-9._-]*)?$/;
const KEY_RULE = 'expected "/"-separated segments of letters, digits, ".", "_" and "-", none empty and none starting with "."';

/** Whether `name` may be one "/"-separated segment of a key. */
export function isKeySegment(name: string): boolean {
  return SEGMENT.test(name);
}

/** Whether `key` is a safe relative key (see the file comment). */
export function isValidKey(key: string): boolean {
  return key !== '' && key.split('/').every(isKeySegment);
}

/** Throws StoreError INVALID_KEY unless `key` is a safe relative key (see the file comment). */
export function validateKey(key: string, what = 'key'): void {
  if (!isValidKey(key)) throw new StoreError('INVALID_KEY', `${what} ${JSON.stringify(key)}: ${KEY_RULE}`, { key });
}

/**
 * Throws StoreError INVALID_KEY unless `prefix` can start a valid key: ""
 * (everything), a key, or a key cut anywhere ("c/wal/", "c/wal/0000").
 */
export function validatePrefix(prefix: string): void {
  const segments = prefix.split('/');
  const last = segments.pop()!;
  if (!segments.every(isKeySegment) || !PARTIAL_SEGMENT.test(last)) {
    throw new StoreError('INVALID_KEY', `list prefix ${JSON.stringify(prefix)}: must start a valid key (${KEY_RULE})`, { key: prefix });
  }
}

/** S3's limit on user metadata: names plus values, in bytes. */
export const METADATA_BYTES_MAX = 2048;
const METADATA_NAME = /^[a-z0-9-]+$/;
const METADATA_VALUE = /^[\x21-\x7e]{1,1024}$/;

/**
 * Asserts that put() metadata follows the PutOptions rules. Metadata comes
 * from pgherd's own code, never from input, so a violation is a bug.
 */
export function validateMetadata(metadata: Readonly<Record<string, string>>): void {
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata)) {
    assert(METADATA_NAME.test(name), () => `object metadata name ${JSON.stringify(name)}: expected [a-z0-9-]+`);
    assert(typeof value === 'string' && METADATA_VALUE.test(value), () => `object metadata ${name}=${JSON.stringify(value)}: expected 1..1024 printable ASCII characters without spaces`);
    bytes += name.length + value.length;
  }
  assert(bytes <= METADATA_BYTES_MAX, () => `object metadata is ${bytes} bytes; S3 allows ${METADATA_BYTES_MAX}`);
}

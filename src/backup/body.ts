import { createHash, type Hash } from 'node:crypto';
import { PassThrough, pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { assert } from '../lib/assert.js';
import { StoreError } from './store.js';

/*
 * Stream plumbing shared by the object stores, so that both treat bodies
 * alike: the same length check on put(), the same error type on get(); and
 * by the code that streams objects through them (WAL, base backups): the
 * digest of what flowed.
 */

/**
 * `body` passed through unchanged, failing (before its end reaches the
 * consumer) when it carries more or fewer than `contentLength` bytes. A store
 * that sees the failure stores nothing.
 */
export function withLengthCheck(body: Readable, contentLength: number): Readable {
  assert(Number.isSafeInteger(contentLength) && contentLength >= 0, () => `contentLength must be a byte count, got ${contentLength}`);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > contentLength) callback(lengthMismatch(contentLength, `more than ${contentLength}`));
      else callback(null, chunk);
    },
    flush(callback) {
      callback(bytes === contentLength ? null : lengthMismatch(contentLength, String(bytes)));
    },
  });
  // pipeline() keeps the error on `counter` (and destroys `body`) even when it
  // happens before the store starts reading, e.g. a short body that ends at once.
  pipeline(body, counter, () => undefined);
  return counter;
}

/** Throws when a Buffer body does not have the announced length (the same failure as withLengthCheck). */
export function checkBufferLength(body: Buffer, contentLength: number): void {
  if (body.length !== contentLength) throw lengthMismatch(contentLength, String(body.length));
}

function lengthMismatch(contentLength: number, actual: string): Error {
  return new Error(`the body was ${actual} bytes, but contentLength said ${contentLength} (did the source change while it was read?)`);
}

/**
 * `source` as a stream whose 'error' is `toError(original)`: readers of
 * get() see the store's error type (StoreError) whatever failed underneath.
 * Destroying the returned stream destroys `source` (closing its file or
 * socket).
 */
export function mapStreamErrors(source: Readable, toError: (error: unknown) => Error): Readable {
  const out = new PassThrough();
  source.on('error', (error) => out.destroy(toError(error)));
  out.on('close', () => source.destroy());
  return source.pipe(out);
}

/** Destroys a put() body the store gave up on, so the caller's file or socket is released. */
export function discardBody(body: Buffer | Readable): void {
  if (!Buffer.isBuffer(body)) body.destroy();
}

/**
 * Remembers the first error `body` emits. When a put() fails, the body's own
 * failure (a source file that became unreadable) is the cause to report, not
 * what failed after it (e.g. aborting the multipart upload it broke).
 */
export function watchBody(body: Buffer | Readable): () => unknown {
  if (Buffer.isBuffer(body)) return () => undefined;
  let failure: unknown;
  body.once('error', (error) => (failure ??= error));
  return () => failure;
}

/** The StoreError of a put() whose body failed (UNAVAILABLE: another attempt may read it fine); `later` is what failed after it, if anything. */
export function bodyFailed(description: string, key: string, bodyError: unknown, later: unknown): StoreError {
  const then = later === bodyError || later === undefined ? '' : ` (then: ${messageOf(later)})`;
  return new StoreError('UNAVAILABLE', `${description}: put ${key}: reading the body failed: ${messageOf(bodyError)}${then}; nothing stored`, { key, cause: bodyError });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A pass-through stage that hashes (SHA-256) and counts what flows through it. */
export class DigestTap extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private digestHex: string | undefined;
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    callback();
  }

  /** The SHA-256 (hex) of everything that passed; only after the stream ended. */
  sha256(): string {
    assert(this.digestHex !== undefined, 'DigestTap.sha256() before the stream ended');
    return this.digestHex;
  }
}

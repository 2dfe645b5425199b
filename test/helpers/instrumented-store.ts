import type { Readable } from 'node:stream';
import { StoreError, type ObjectInfo, type ObjectStore, type PutOptions } from '../../src/backup/store.js';

/**
 * Wraps a real ObjectStore: counts calls per method and key, and can make
 * put() or get() fail (an outage) until told otherwise. Everything else is
 * the wrapped store's own behaviour.
 */
export class InstrumentedStore implements ObjectStore {
  readonly calls = { put: [] as string[], get: [] as string[], getBuffer: [] as string[], head: [] as string[] };
  /** When set and it returns a message for the key, put() throws a StoreError UNAVAILABLE with it. */
  failPut: ((key: string) => string | undefined) | undefined;
  /** When set, get() and getBuffer() throw a StoreError UNAVAILABLE with this message. */
  failGets: string | undefined;
  /** When set, put() waits for it before storing (to hold uploads in flight). */
  putGate: Promise<void> | undefined;

  constructor(readonly inner: ObjectStore) {}

  get description(): string {
    return this.inner.description;
  }

  async put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<void> {
    this.calls.put.push(key);
    if (this.putGate !== undefined) await this.putGate;
    const failure = this.failPut?.(key);
    if (failure !== undefined) throw new StoreError('UNAVAILABLE', `${this.description}: put ${key}: ${failure}`, { key });
    await this.inner.put(key, body, options);
  }

  async get(key: string): Promise<Readable> {
    this.calls.get.push(key);
    if (this.failGets !== undefined) throw new StoreError('UNAVAILABLE', `${this.description}: get ${key}: ${this.failGets}`, { key });
    return this.inner.get(key);
  }

  async getBuffer(key: string): Promise<Buffer> {
    this.calls.getBuffer.push(key);
    if (this.failGets !== undefined) throw new StoreError('UNAVAILABLE', `${this.description}: get ${key}: ${this.failGets}`, { key });
    return this.inner.getBuffer(key);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.head.push(key);
    return this.inner.head(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  check(probeKey: string): Promise<void> {
    return this.inner.check(probeKey);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** How many times `method` was called for `key`. */
  count(method: keyof InstrumentedStore['calls'], key: string): number {
    return this.calls[method].filter((k) => k === key).length;
  }
}

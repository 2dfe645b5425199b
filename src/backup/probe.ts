import { StoreError, type ObjectStore } from './store.js';

/**
 * The write, read-back and delete round trip of check(), shared by the
 * implementations so that "usable" means the same for both: the store
 * accepts an object now, returns the same bytes, and forgets it again.
 */
export async function probeRoundTrip(store: ObjectStore, probeKey: string): Promise<void> {
  const written = Buffer.from(`pgherd object store check ${new Date().toISOString()}\n`);
  await store.put(probeKey, written);
  const read = await store.getBuffer(probeKey);
  if (!read.equals(written)) {
    throw new StoreError('UNAVAILABLE', `${store.description}: check: ${probeKey} read back ${read.length} bytes that differ from the ${written.length} written`, { key: probeKey });
  }
  await store.delete([probeKey]);
}

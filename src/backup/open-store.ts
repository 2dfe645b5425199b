import { unreachable } from '../lib/assert.js';
import type { ObjectStore } from './store.js';
import { LocalStore } from './store-local.js';
import { S3Store, type S3StoreSettings } from './store-s3.js';

/** Which object store backups go to (DESIGN §7), as the config schema produces it. */
export type StoreSettings = { kind: 'local'; path: string } | ({ kind: 's3' } & S3StoreSettings);

/** The store the settings describe. Opening does no I/O: call check() to learn whether it is usable. */
export function openStore(settings: StoreSettings): ObjectStore {
  switch (settings.kind) {
    case 'local':
      return new LocalStore(settings.path);
    case 's3':
      return new S3Store(settings);
    default:
      return unreachable(settings, 'object store kind');
  }
}

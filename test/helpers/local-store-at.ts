/**
 * The real LocalStore, plus where an object's bytes live so a test can
 * damage one on purpose (LocalStore keeps each object at <root>/<key>).
 */
import { join } from 'node:path';
import { validateKey } from '../../src/backup/store.js';
import { LocalStore } from '../../src/backup/store-local.js';

export class LocalStoreAt extends LocalStore {
  constructor(private readonly dir: string) {
    super(dir);
  }

  objectPath(key: string): string {
    validateKey(key);
    return join(this.dir, ...key.split('/'));
  }
}

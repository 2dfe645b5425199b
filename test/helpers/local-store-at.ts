/**
 * The real LocalStore, plus where an object's bytes live so a test can
 * damage one on purpose (LocalStore keeps each object at <root>/<key>), and
 * every file below its root, so a test can check that a failed upload left
 * nothing behind (not even a hidden temporary, which list() never shows).
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
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

  /** Every file below the root (objects, metadata sidecars, temporaries), as sorted paths relative to it. */
  async files(): Promise<string[]> {
    const entries = await readdir(this.dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => !entry.isDirectory())
      .map((entry) => relative(this.dir, join(entry.parentPath, entry.name)))
      .sort();
  }
}

import { isAbsolute } from 'node:path';
import { ConfigError } from '../lib/errors.js';
import { isKeySegment } from './store.js';

/** Option checks shared by the WAL archiver and restorer: each throws ConfigError naming `owner.option`. */

/** One key segment of the store (store.ts isKeySegment), so "<cluster>/wal/..." stays inside the cluster's prefix. */
export function checkClusterName(owner: string, cluster: string): void {
  if (!isKeySegment(cluster)) {
    throw new ConfigError(`${owner}.cluster`, `expected letters, digits, ".", "_" or "-", not starting with "." (one store key segment), got ${JSON.stringify(cluster)}`);
  }
}

export function checkAbsolutePath(owner: string, option: string, path: string): void {
  if (!isAbsolute(path)) throw new ConfigError(`${owner}.${option}`, `expected an absolute path, got ${JSON.stringify(path)}`);
}

export function checkIntegerRange(owner: string, option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${owner}.${option}`, `expected an integer from ${min} to ${max}, got ${value}`);
}

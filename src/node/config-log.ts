import type { ClusterStore } from '../cluster/store.js';
import { diffDynamicConfig } from '../config/dynamic-diff.js';
import type { Logger } from '../lib/logger.js';

/**
 * One `config.changed` line on every member as it applies a change of the
 * dynamic configuration: the new version and each value old → new (who
 * asked is in the answering agent's admin.patch_config line; the Raft log
 * does not carry it). Returns the unsubscribe function.
 */
export function logConfigChanges(store: ClusterStore, log: Logger): () => void {
  let last = store.local().config;
  return store.on('applied', (event) => {
    const now = store.local().config;
    if (event.command?.type === 'patchConfig' && event.result.ok && now !== last) {
      log.info({ version: now.version, previousVersion: last.version, changes: diffDynamicConfig(last.values, now.values), index: event.index }, 'config.changed');
    }
    last = now;
  });
}

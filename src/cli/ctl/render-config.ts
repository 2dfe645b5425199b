import { stringify as stringifyYaml } from 'yaml';
import type { ConfigChangeView, ConfigView, DsnResult, HistoryResult, PatchConfigResult } from '../../admin/types.js';
import { table } from './render.js';

/** Human output of show-config, edit-config, history and dsn, pure. */

/** show-config: a comment line naming the cluster and version, then the values as YAML. */
export function renderConfig(clusterName: string, config: ConfigView): string {
  return `# cluster ${clusterName}: dynamic configuration, version ${config.version}\n${stringifyYaml(config.values)}`;
}

/** One line per change: `  ttl_ms: 4000 → 6000` (values as JSON; `(unset)` when absent). */
export function renderChanges(changes: readonly ConfigChangeView[]): string {
  const value = (v: unknown): string => (v === null ? '(unset)' : JSON.stringify(v));
  return changes.map((change) => `  ${change.key}: ${value(change.from)} → ${value(change.to)}\n`).join('');
}

/** What a dry run would change, before the confirmation question. */
export function renderPreview(clusterName: string, result: PatchConfigResult): string {
  return `Changes to the configuration of cluster ${clusterName} (version ${result.previousVersion}):\n${renderChanges(result.changes)}${renderAliases(result)}`;
}

export function renderPatchResult(clusterName: string, result: PatchConfigResult): string {
  if (result.changes.length === 0) return `Nothing to change: the configuration of cluster ${clusterName} stays at version ${result.version}\n`;
  const head = result.dryRun
    ? `Would change the configuration of cluster ${clusterName} (version ${result.previousVersion}; nothing changed):\n`
    : `Changed the configuration of cluster ${clusterName}: version ${result.previousVersion} → ${result.version}\n`;
  const parameters = result.changes.some((change) => change.key.startsWith('postgresql_parameters.'));
  const when = parameters ? "PostgreSQL parameters reach each member when its PostgreSQL next starts\n" : '';
  return `${head}${renderChanges(result.changes)}${renderAliases(result)}${when}`;
}

function renderAliases(result: PatchConfigResult): string {
  return result.aliases.length === 0 ? '' : `(Patroni names taken for ours: ${result.aliases.join(', ')})\n`;
}

/** history: one row per timeline switch, like `patronictl history`. */
export function renderHistory(clusterName: string, history: HistoryResult): string {
  if (history.entries.length === 0) return `Cluster ${clusterName}: no timeline switch yet (no failover or switchover since the cluster was initialized)\n`;
  const rows = history.entries.map((entry) => [String(entry.timeline), entry.switchLsn, entry.kind, entry.from ?? '', entry.to, entry.at, entry.reason]);
  return `Cluster ${clusterName}: ${history.entries.length} timeline switch${history.entries.length === 1 ? '' : 'es'}\n${table(['TL', 'LSN', 'Kind', 'From', 'To', 'At', 'Reason'], rows, new Set([0]))}\n`;
}

export function renderDsn(result: DsnResult): string {
  return `${result.dsn}\n`;
}

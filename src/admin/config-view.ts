import type { VersionedConfig } from '../cluster/state.js';
import type { DynamicConfigChange } from '../config/dynamic-diff.js';
import type { ConfigPatchPlan } from './config-patch.js';
import type { WireConfigChange, WireGetConfigResponse, WirePatchConfigResponse } from './wire.js';

/** The GetConfig and PatchConfig answers, pure: values as JSON text, changes value by value. */

export function getConfigResponse(config: VersionedConfig): WireGetConfigResponse {
  return { version: config.version, values_json: JSON.stringify(config.values) };
}

export function patchConfigResponse(plan: ConfigPatchPlan, versions: { readonly previous: number; readonly now: number }, dryRun: boolean): WirePatchConfigResponse {
  return {
    version: versions.now,
    previous_version: versions.previous,
    values_json: JSON.stringify(plan.values),
    changes: plan.changes.map(changeWire),
    dry_run: dryRun,
    aliases: [...plan.aliases],
  };
}

function changeWire(change: DynamicConfigChange): WireConfigChange {
  return { key: change.key, old_json: change.from === null ? '' : JSON.stringify(change.from), new_json: change.to === null ? '' : JSON.stringify(change.to) };
}

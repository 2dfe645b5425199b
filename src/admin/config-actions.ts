import { status as Status } from '@grpc/grpc-js';
import type { ApplyRejection } from '../cluster/results.js';
import type { VersionedConfig } from '../cluster/state.js';
import { ConfigError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ActionContext } from './actions.js';
import type { AdminBackend } from './backend.js';
import { planConfigPatch, type ConfigPatchPlan, type ConfigPatchRequest } from './config-patch.js';
import { getConfigResponse, patchConfigResponse } from './config-view.js';
import { AdminRefusal } from './errors.js';
import { proposeCommand, readForAction, refusalOf } from './raft-calls.js';
import type { WireGetConfigResponse, WirePatchConfigResponse } from './wire.js';

/**
 * A patch without expected_version applies to whatever version is current:
 * when another change commits between the check and the proposal it is
 * checked again on the new version, this many times in all. Two operators
 * editing at once settle in one retry; more means something keeps changing
 * the configuration, and the caller hears VERSION_CONFLICT.
 */
export const CONFIG_PATCH_ATTEMPTS_MAX = 3;

/** GetConfig and PatchConfig over an AdminBackend; the request was parsed by config-patch.ts. */
export class ConfigActions {
  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
  ) {}

  async getConfig(): Promise<WireGetConfigResponse> {
    return getConfigResponse((await readForAction(this.backend)).config);
  }

  /**
   * Check the patch on the current configuration (INVALID_ARGUMENT naming
   * the key), then commit it with that version as its compare-and-set
   * precondition. Nothing to change, or dry_run: answered without a proposal.
   */
  async patchConfig(request: ConfigPatchRequest, ctx: ActionContext): Promise<WirePatchConfigResponse> {
    Object.assign(ctx.fields, { patch: request.patch, expectedVersion: request.expectedVersion ?? undefined, dryRun: request.dryRun || undefined });
    for (let attempt = 1; ; attempt += 1) {
      const base = (await readForAction(this.backend)).config;
      if (request.expectedVersion !== null && request.expectedVersion !== base.version) throw versionConflict(request.expectedVersion, base.version);
      const plan = planOrRefuse(base, request.patch);
      Object.assign(ctx.fields, { previousVersion: base.version, changes: plan.changes, aliases: plan.aliases.length > 0 ? plan.aliases : undefined });
      if (request.dryRun || plan.changes.length === 0) return patchConfigResponse(plan, { previous: base.version, now: base.version }, request.dryRun);
      const command = { type: 'patchConfig', atMs: this.backend.wallNow(), expectedVersion: base.version, patch: plan.patch } as const;
      const result = await proposeCommand(this.backend, command, 'the configuration change');
      this.log.debug({ command: command.type, ok: result.ok, attempt }, 'admin.proposed');
      if (result.ok) {
        const version = result.version ?? base.version + 1;
        ctx.fields['version'] = version;
        return patchConfigResponse(plan, { previous: base.version, now: version }, false);
      }
      const retry = result.code === 'VERSION_MISMATCH' && request.expectedVersion === null && attempt < CONFIG_PATCH_ATTEMPTS_MAX;
      if (!retry) throw patchRefusal(result, request.expectedVersion ?? base.version);
    }
  }
}

function planOrRefuse(base: VersionedConfig, patch: Readonly<Record<string, unknown>>): ConfigPatchPlan {
  try {
    return planConfigPatch(base.values, patch);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new AdminRefusal(Status.INVALID_ARGUMENT, 'INVALID_CONFIG', `${error.message}; nothing changed`);
  }
}

function versionConflict(expected: number, current: number): AdminRefusal {
  return new AdminRefusal(
    Status.ABORTED,
    'VERSION_CONFLICT',
    `the configuration is at version ${current}, not ${expected}: someone changed it meanwhile; nothing changed: read it again (pgherdctl show-config) and retry`,
  );
}

function patchRefusal(result: ApplyRejection, expected: number): AdminRefusal {
  if (result.code === 'VERSION_MISMATCH') {
    return new AdminRefusal(Status.ABORTED, 'VERSION_CONFLICT', `the configuration changed while this change was being committed (${result.reason}); nothing changed: read it again and retry (expected version ${expected})`);
  }
  if (result.code === 'INVALID_CONFIG') return new AdminRefusal(Status.INVALID_ARGUMENT, 'INVALID_CONFIG', `${result.reason}; nothing changed`);
  return refusalOf(result, 'the configuration change');
}

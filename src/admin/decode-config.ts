import { status as Status } from '@grpc/grpc-js';
import { AdminCallError } from './errors.js';
import type { ConfigView, DsnResult, HistoryResult, PatchConfigResult, WatchEventView } from './types.js';
import type { WireDsnResponse, WireGetConfigResponse, WireHistoryResponse, WirePatchConfigResponse, WireWatchEvent } from './wire.js';

/**
 * Answers of GetConfig, PatchConfig, History, Dsn and Watch → the client's view
 * (types.ts), pure. JSON text that does not decode is a bug of the agent at
 * `endpoint`: INTERNAL, naming the field.
 */

export function decodeConfig(w: WireGetConfigResponse, endpoint: string): ConfigView {
  return { version: w.version, values: jsonObject('values_json', w.values_json, endpoint) };
}

export function decodePatchConfig(w: WirePatchConfigResponse, endpoint: string): PatchConfigResult {
  return {
    version: w.version,
    previousVersion: w.previous_version,
    values: jsonObject('values_json', w.values_json, endpoint),
    changes: w.changes.map((c) => ({ key: c.key, from: jsonValue('changes.old_json', c.old_json, endpoint), to: jsonValue('changes.new_json', c.new_json, endpoint) })),
    dryRun: w.dry_run,
    aliases: w.aliases,
  };
}

export function decodeHistory(w: WireHistoryResponse): HistoryResult {
  return { entries: w.entries.map((e) => ({ timeline: e.timeline, switchLsn: e.switch_lsn, at: e.at, kind: e.kind, from: e.from === '' ? null : e.from, to: e.to, reason: e.reason })) };
}

export function decodeDsn(role: DsnResult['role'], w: WireDsnResponse): DsnResult {
  return { role, dsn: w.dsn, hosts: w.hosts, targetSessionAttrs: w.target_session_attrs };
}

export function decodeWatchEvent(w: WireWatchEvent, endpoint: string): WatchEventView {
  return { seq: w.seq, at: w.at, type: w.type, member: w.member === '' ? null : w.member, text: w.text, details: jsonObject('details_json', w.details_json, endpoint), index: w.index };
}

/** JSON text → value; '' = absent (null). */
function jsonValue(field: string, text: string, endpoint: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminCallError(Status.INTERNAL, 'INTERNAL', `the agent's answer does not decode: ${field} is not JSON: ${JSON.stringify(text.slice(0, 40))}`, endpoint);
  }
}

function jsonObject(field: string, text: string, endpoint: string): Readonly<Record<string, unknown>> {
  const value = jsonValue(field, text, endpoint);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AdminCallError(Status.INTERNAL, 'INTERNAL', `the agent's answer does not decode: ${field} is not a JSON object`, endpoint);
  }
  return value as Record<string, unknown>;
}

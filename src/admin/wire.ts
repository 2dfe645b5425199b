import type { WireBackupRun } from './backup-wire.js';
/**
 * The plain-object shapes of proto/admin.proto as @grpc/proto-loader presents
 * them with ADMIN_PROTO_LOADER_OPTIONS (keepCase, longs: Number, enums:
 * String, defaults, no oneofs): every scalar set (defaults), `optional`
 * scalars present only when sent, unset messages null. Encoding fills what
 * it needs. The client maps these to the camelCase view of types.ts.
 */

export interface WireClusterStatusRequest {
  local: boolean;
}

export interface WireLeader {
  member: string;
  epoch: number;
  timeline: number;
  since: string;
  last_renewal_at: string;
}

export interface WirePauseState {
  paused: boolean;
  by: string;
  changed_at: string;
}

export interface WirePendingSwitchover {
  from: string;
  to: string;
  scheduled_at: string;
  requested_at: string;
}

export interface WireRaftStatus {
  leader_id: string;
  term: number;
  commit_index: number;
  applied_index: number;
  role: string;
  voters: string[];
  learners: string[];
}

export interface WireMemberTags {
  nofailover: boolean;
  noloadbalance: boolean;
  clonefrom: boolean;
  nosync: boolean;
  failover_priority: number;
}

export interface WireMemberRegistration {
  raft_address: string;
  postgres_host: string;
  postgres_port: number;
  http_address: string;
  tags: WireMemberTags | null;
  registered_at: string;
}

export interface WireMemberReport {
  role: string;
  state: string;
  timeline: number;
  receive_lsn: string;
  replay_lsn: string;
  flush_lsn: string;
  lag_bytes?: number;
  reported_at: string;
  /** Unset (null) when the member does not archive. */
  archive?: WireArchiveReport | null;
}

export interface WireArchiveReport {
  ready_files: number;
  last_archived: string;
  last_archived_at: string;
  failure: string;
}

export interface WireBootstrapPlan {
  method: string;
  source: string;
  reason: string;
  wal_bytes_since_backup?: number;
  backup_bytes?: number;
  decided_at: string;
}

export interface WireMember {
  name: string;
  registration: WireMemberRegistration | null;
  status: WireMemberReport | null;
  primary: boolean;
  sync: boolean;
  raft_role: string;
  /** Unset (null) when the member never had one. */
  action?: WireMemberAction | null;
  /** Unset (null) when no decision is recorded. */
  bootstrap?: WireBootstrapPlan | null;
}

export interface WireHaStatus {
  role: string;
  state: string;
  last_action: string;
  last_reason: string;
  lease_remaining_ms?: number;
  refused: string;
}

export interface WireClusterStatusResponse {
  cluster_name: string;
  answered_by: string;
  linearizable: boolean;
  stale_reason: string;
  leader: WireLeader | null;
  epoch: number;
  pause: WirePauseState | null;
  switchover: WirePendingSwitchover | null;
  sync_members: string[];
  config_version: number;
  history_length: number;
  system_identifier: string;
  raft: WireRaftStatus | null;
  members: WireMember[];
  answering_ha: WireHaStatus | null;
  backup_current: WireBackupRun | null;
  backup_last: WireBackupRun | null;
}

export interface WireSwitchoverRequest {
  candidate: string;
  scheduled_at: string;
  timeout_ms: number;
  requested_by: string;
}

export interface WireFailoverRequest {
  candidate: string;
  timeout_ms: number;
  requested_by: string;
}

export type WireSwitchoverOutcome = 'SWITCHOVER_OUTCOME_UNSPECIFIED' | 'SWITCHOVER_OUTCOME_SCHEDULED' | 'SWITCHOVER_OUTCOME_COMPLETED';

export interface WireSwitchoverResponse {
  outcome: WireSwitchoverOutcome;
  from: string;
  to: string;
  epoch: number;
  timeline: number;
  scheduled_at: string;
  elapsed_ms: number;
  message: string;
}

export interface WireCancelSwitchoverRequest {
  requested_by: string;
}

export interface WireCancelSwitchoverResponse {
  cancelled: WirePendingSwitchover | null;
}

export interface WirePauseRequest {
  by: string;
}

export interface WirePauseResponse {
  pause: WirePauseState | null;
}

export type WireGetConfigRequest = Record<string, never>;

export interface WireGetConfigResponse {
  version: number;
  values_json: string;
}

export interface WirePatchConfigRequest {
  patch_json: string;
  expected_version?: number;
  dry_run: boolean;
  requested_by: string;
}

export interface WireConfigChange {
  key: string;
  old_json: string;
  new_json: string;
}

export interface WirePatchConfigResponse {
  version: number;
  previous_version: number;
  values_json: string;
  changes: WireConfigChange[];
  dry_run: boolean;
  aliases: string[];
}

export type WireHistoryRequest = Record<string, never>;

export interface WireHistoryEntry {
  timeline: number;
  switch_lsn: string;
  at: string;
  kind: string;
  from: string;
  to: string;
  reason: string;
}

export interface WireHistoryResponse {
  entries: WireHistoryEntry[];
}

export type WireDsnRole = 'DSN_ROLE_UNSPECIFIED' | 'DSN_ROLE_PRIMARY' | 'DSN_ROLE_REPLICA' | 'DSN_ROLE_ANY';

export interface WireDsnRequest {
  role: WireDsnRole;
  dbname: string;
  user: string;
}

export interface WireDsnResponse {
  dsn: string;
  hosts: string[];
  target_session_attrs: string;
}

export interface WireWatchRequest {
  types: string[];
  snapshot: boolean;
}

export interface WireWatchEvent {
  seq: number;
  at: string;
  type: string;
  member: string;
  text: string;
  details_json: string;
  index: number;
}

export interface WireAddMemberRequest {
  name: string;
  raft_address: string;
  timeout_ms: number;
  by: string;
}

export interface WireRemoveMemberRequest {
  name: string;
  timeout_ms: number;
  by: string;
}

export interface WireMemberChangeResponse {
  name: string;
  raft_role: string;
  changed: boolean;
  registered: boolean;
  elapsed_ms: number;
  message: string;
}

export interface WireMemberAction {
  member: string;
  id: string;
  kind: string;
  status: string;
  pending_only: boolean;
  scheduled_at: string;
  requested_at: string;
  by: string;
  started_at: string;
  finished_at: string;
  detail: string;
}

export interface WireRestartRequest {
  members: string[];
  role: string;
  pending: boolean;
  scheduled_at: string;
  timeout_ms: number;
  requested_by: string;
}

export interface WireReloadRequest {
  members: string[];
  role: string;
  timeout_ms: number;
  requested_by: string;
}

export interface WireReinitRequest {
  members: string[];
  timeout_ms: number;
  requested_by: string;
}

export interface WireCancelMemberActionsRequest {
  members: string[];
  requested_by: string;
}

export interface WireMemberActionsResponse {
  actions: WireMemberAction[];
  message: string;
}

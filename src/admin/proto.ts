import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options as ProtoLoaderOptions } from '@grpc/proto-loader';
import { assert } from '../lib/assert.js';
import type {
  WireAddMemberRequest,
  WireMemberChangeResponse,
  WireRemoveMemberRequest,
  WireCancelMemberActionsRequest,
  WireCancelSwitchoverRequest,
  WireCancelSwitchoverResponse,
  WireClusterStatusRequest,
  WireClusterStatusResponse,
  WireDsnRequest,
  WireDsnResponse,
  WireFailoverRequest,
  WireGetConfigRequest,
  WireGetConfigResponse,
  WireHistoryRequest,
  WireHistoryResponse,
  WireMemberActionsResponse,
  WirePatchConfigRequest,
  WirePatchConfigResponse,
  WirePauseRequest,
  WirePauseResponse,
  WireReinitRequest,
  WireReloadRequest,
  WireRestartRequest,
  WireSwitchoverRequest,
  WireSwitchoverResponse,
  WireWatchEvent,
  WireWatchRequest,
} from './wire.js';
import type { WireBackupRunResponse, WireCreateBackupRequest, WireListBackupsRequest, WireListBackupsResponse } from './backup-wire.js';

/**
 * How admin.proto maps to JavaScript (see wire.ts): as raft.proto
 * (src/raft/transport/proto.ts) but without oneofs: admin.proto has none,
 * and with them every proto3 `optional` field would grow a virtual
 * `_name` sibling in every decoded message.
 */
export const ADMIN_PROTO_LOADER_OPTIONS: ProtoLoaderOptions = Object.freeze({
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: false,
});

const PROTO_URL = new URL('../../proto/admin.proto', import.meta.url);
const SERVICE_NAME = 'pgherd.admin.v1.Admin';

export interface AdminDefinition {
  /** For Server.addService (and the client's method paths). */
  readonly service: ServiceDefinition;
  readonly clusterStatus: MethodDefinition<WireClusterStatusRequest, WireClusterStatusResponse>;
  readonly switchover: MethodDefinition<WireSwitchoverRequest, WireSwitchoverResponse>;
  readonly failover: MethodDefinition<WireFailoverRequest, WireSwitchoverResponse>;
  readonly cancelSwitchover: MethodDefinition<WireCancelSwitchoverRequest, WireCancelSwitchoverResponse>;
  readonly pause: MethodDefinition<WirePauseRequest, WirePauseResponse>;
  readonly resume: MethodDefinition<WirePauseRequest, WirePauseResponse>;
  readonly getConfig: MethodDefinition<WireGetConfigRequest, WireGetConfigResponse>;
  readonly patchConfig: MethodDefinition<WirePatchConfigRequest, WirePatchConfigResponse>;
  readonly history: MethodDefinition<WireHistoryRequest, WireHistoryResponse>;
  readonly dsn: MethodDefinition<WireDsnRequest, WireDsnResponse>;
  readonly addMember: MethodDefinition<WireAddMemberRequest, WireMemberChangeResponse>;
  readonly removeMember: MethodDefinition<WireRemoveMemberRequest, WireMemberChangeResponse>;
  readonly restart: MethodDefinition<WireRestartRequest, WireMemberActionsResponse>;
  readonly reload: MethodDefinition<WireReloadRequest, WireMemberActionsResponse>;
  readonly reinit: MethodDefinition<WireReinitRequest, WireMemberActionsResponse>;
  readonly cancelMemberActions: MethodDefinition<WireCancelMemberActionsRequest, WireMemberActionsResponse>;
  readonly createBackup: MethodDefinition<WireCreateBackupRequest, WireBackupRunResponse>;
  readonly listBackups: MethodDefinition<WireListBackupsRequest, WireListBackupsResponse>;
  /** Server streaming. */
  readonly watch: MethodDefinition<WireWatchRequest, WireWatchEvent>;
}

/** The proto method names this version implements, by the definition's key: unary, then server streaming. */
const METHODS = {
  clusterStatus: 'ClusterStatus',
  switchover: 'Switchover',
  failover: 'Failover',
  cancelSwitchover: 'CancelSwitchover',
  pause: 'Pause',
  resume: 'Resume',
  getConfig: 'GetConfig',
  patchConfig: 'PatchConfig',
  history: 'History',
  dsn: 'Dsn',
  addMember: 'AddMember',
  removeMember: 'RemoveMember',
  restart: 'Restart',
  reload: 'Reload',
  reinit: 'Reinit',
  cancelMemberActions: 'CancelMemberActions',
  createBackup: 'CreateBackup',
  listBackups: 'ListBackups',
} as const;
const SERVER_STREAMING_METHODS = {
  watch: 'Watch',
} as const;

let loaded: AdminDefinition | undefined;

/** The Admin service, loaded from proto/admin.proto once per process. */
export function adminDefinition(): AdminDefinition {
  loaded ??= load();
  return loaded;
}

function load(): AdminDefinition {
  const packageDefinition = loadSync(fileURLToPath(PROTO_URL), ADMIN_PROTO_LOADER_OPTIONS);
  const service = packageDefinition[SERVICE_NAME] as ServiceDefinition | undefined;
  assert(service !== undefined, `${SERVICE_NAME} missing from admin.proto`);
  const methods: Record<string, MethodDefinition<unknown, unknown>> = {};
  const take = (methodsByKey: Readonly<Record<string, string>>, responseStream: boolean): void => {
    for (const [key, name] of Object.entries(methodsByKey)) {
      const method = service[name] as MethodDefinition<unknown, unknown> | undefined;
      assert(method !== undefined, () => `${SERVICE_NAME}.${name} missing from admin.proto`);
      assert(!method.requestStream && method.responseStream === responseStream, () => `${SERVICE_NAME}.${name} must be ${responseStream ? 'server streaming' : 'unary'}`);
      methods[key] = method;
    }
  };
  take(METHODS, false);
  take(SERVER_STREAMING_METHODS, true);
  return Object.freeze({ service, ...methods } as unknown as AdminDefinition);
}

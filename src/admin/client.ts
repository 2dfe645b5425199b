import { CallCredentials, ChannelCredentials, Client, Metadata, status as Status, type ChannelOptions, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { HOST_PORT_FORM, parseHostPort } from '../config/address.js';
import { ConfigError } from '../lib/errors.js';
import { TOKEN_CHARS_MAX } from '../tls/admin-tokens.js';
import { mutualTlsCredentials, serverVerifyingChannelCredentials } from '../tls/credentials.js';
import { decodeConfig, decodeDsn, decodeHistory, decodePatchConfig, decodeWatchEvent } from './decode-config.js';
import { decodeClusterStatus, decodeMemberChange, decodePause, decodePendingSwitchover, decodeSwitchoverResult } from './decode.js';
import { AdminCallError, AdminUnreachableError, REASON_METADATA_KEY, type EndpointFailure } from './errors.js';
import { decodeMemberAction } from './member-action-view.js';
import { adminDefinition } from './proto.js';
import { BACKUP_WAIT_MS_DEFAULT, decodeBackupList, decodeBackupRun, type BackupListResult, type BackupRunResult } from './backup-wire.js';
import type { CancelSwitchoverResult, ClusterStatus, ConfigView, DsnResult, HistoryResult, MemberActionsResult, MemberChangeResult, PatchConfigResult, PauseView, SwitchoverResult, WatchEventView } from './types.js';
import type { WireDsnRole, WireMemberActionsResponse, WireWatchEvent } from './wire.js';

export interface AdminConnectOptions {
  /** host:port of one agent's peer gRPC port; or `endpoints`, tried in order until one answers. */
  readonly endpoint?: string;
  readonly endpoints?: readonly string[];
  /** Mutual TLS: the cluster CA and a certificate (with its key) it signed. All three, unless insecure or a token is given. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /**
   * A bearer token of the agents' admin.tokens, sent as `authorization: Bearer <token>`
   * on every call. Needs caFile (the server is verified); certFile and keyFile may then be left out.
   */
  readonly token?: string;
  /** Plain text, for a cluster configured with tls.insecure (tests only). */
  readonly insecure?: boolean;
  /** How long each endpoint gets to answer while looking for one (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Refuse an endpoint that belongs to another cluster. */
  readonly clusterName?: string;
}

export interface SwitchoverOptions {
  /** The member to promote; absent: the best candidate. */
  readonly candidate?: string;
  /** RFC 3339 text or a Date; absent: now. */
  readonly scheduledAt?: string | Date;
  /** How long the agent waits for the new primary (default 30 s). */
  readonly timeoutMs?: number;
  /** Who asks, for the agent's log (default: pgherdctl@<this client's address>). */
  readonly by?: string;
}

export interface FailoverOptions {
  readonly candidate: string;
  readonly timeoutMs?: number;
  readonly by?: string;
}

export interface PatchConfigOptions {
  /** A JSON merge patch of the dynamic configuration: keys to set, null to reset one to its default. */
  readonly patch: Readonly<Record<string, unknown>>;
  /** Apply only to this version (from getConfig); absent: to the current one. */
  readonly expectedVersion?: number;
  /** Check and answer what would change, changing nothing. */
  readonly dryRun?: boolean;
  readonly by?: string;
}

export interface CreateBackupOptions {
  /** Recorded in the manifest (printable ASCII, at most 200). */
  readonly label?: string;
  /** The member to take it on; absent: the one backup_take_on names. */
  readonly member?: string;
  /** How long to wait for it to end; default 6 hours. */
  readonly timeoutMs?: number;
  /** Answer once it is recorded. */
  readonly noWait?: boolean;
  readonly by?: string;
}

export interface DsnOptions {
  /** primary (default), replica or any. */
  readonly role?: DsnResult['role'];
  /** Default postgres. */
  readonly dbname?: string;
  /** Absent: left out of the string (libpq's default). */
  readonly user?: string;
}

export interface WatchOptions {
  /** Only events of these types (src/admin/watch-events.ts, WATCH_EVENT_TYPES); absent or empty: every type. */
  readonly types?: readonly string[];
  /** Start with a 'snapshot' event: the cluster as of now. */
  readonly snapshot?: boolean;
}

export interface MemberActionOptions {
  /** The members; absent or empty: every member (of the role). Reinit needs at least one. */
  readonly members?: readonly string[];
  /** Keep only the primary, only replicas, or any (default). Not for reinit. */
  readonly role?: 'primary' | 'replica' | 'any';
  /** How long the agent waits for every member to finish (default 60 s). */
  readonly timeoutMs?: number;
  readonly by?: string;
}

export interface RestartOptions extends MemberActionOptions {
  /** Only where a restart is pending. */
  readonly pending?: boolean;
  /** RFC 3339 text or a Date; absent: now. */
  readonly scheduledAt?: string | Date;
}

/** The agent's wait for member actions when the caller gives none (member-action-requests.ts). */
const MEMBER_ACTION_WAIT_MS_DEFAULT = 60_000;

const DSN_ROLES: Readonly<Record<DsnResult['role'], WireDsnRole>> = { primary: 'DSN_ROLE_PRIMARY', replica: 'DSN_ROLE_REPLICA', any: 'DSN_ROLE_ANY' };

export const CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
/** The agent's switchover wait when the caller gives none (requests.ts). */
const SWITCHOVER_WAIT_MS_DEFAULT = 30_000;
/**
 * The call's own deadline beyond the agent's wait: the agent checks the
 * candidate (a Raft read, positions, a proposal: a few seconds at most)
 * before it waits, and must be the one to answer DEADLINE_EXCEEDED, with
 * its message, not this client.
 */
const SWITCHOVER_DEADLINE_SLACK_MS = 10_000;
/** ClusterStatus (a Raft read of at most 2 s), Pause, Resume, CancelSwitchover, PatchConfig (reads and proposals), GetConfig, History, Dsn. */
const CALL_DEADLINE_MS = 15_000;
/** How long members add / remove wait for the Raft leader to carry the change out (the agent's default too). */
const MEMBER_WAIT_MS_DEFAULT = 30_000;

const CHANNEL_OPTIONS: ChannelOptions = {
  // Requests are not idempotent (a switchover must not be recorded twice): no transparent retries.
  'grpc.enable_retries': 0,
  'grpc.enable_http_proxy': 0,
  // Each endpoint tried gets its own connection: one endpoint's failure never leaks into the next.
  'grpc.use_local_subchannel_pool': 1,
  // A watch stream sees nothing of an agent whose host vanished: pings notice it within ~15 s (UNAVAILABLE).
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

/**
 * The admin service's client (pgherdctl, and tests against real agents).
 * connect() tries the endpoints in order and keeps the first that answers
 * a (local, fast) ClusterStatus; every call then goes to that agent. A call
 * the agent refuses rejects with AdminCallError (gRPC status, the
 * `pgherd-reason` code, the agent's message); connect() with
 * AdminUnreachableError listing each endpoint's failure.
 */
export class AdminClient {
  private constructor(
    private readonly client: Client,
    /** The endpoint that answered. */
    readonly endpoint: string,
    /** Its cluster (from the first answer). */
    readonly clusterName: string,
  ) {}

  static async connect(options: AdminConnectOptions): Promise<AdminClient> {
    const endpoints = endpointsOf(options);
    const credentials = credentialsOf(options);
    const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    const failures: EndpointFailure[] = [];
    for (const endpoint of endpoints) {
      const client = new Client(endpoint, credentials, CHANNEL_OPTIONS);
      try {
        const status = await unary(client, endpoint, adminDefinition().clusterStatus, { local: true }, timeoutMs);
        if (options.clusterName !== undefined && status.cluster_name !== options.clusterName) {
          throw new Error(`belongs to cluster ${status.cluster_name}, not ${options.clusterName}`);
        }
        return new AdminClient(client, endpoint, status.cluster_name);
      } catch (error) {
        client.close();
        // Credentials refused: a definitive answer (every member checks the same way), not an endpoint to skip.
        if (error instanceof AdminCallError && error.grpcCode === Status.UNAUTHENTICATED) throw error;
        failures.push({ endpoint, error: error instanceof AdminCallError ? `${error.status}: ${error.details}` : (error as Error).message });
      }
    }
    throw new AdminUnreachableError(failures);
  }

  /** The cluster; `local`: this agent's applied state without a Raft read (fast, possibly stale). */
  async clusterStatus(options: { local?: boolean } = {}): Promise<ClusterStatus> {
    return decodeClusterStatus(await this.call(adminDefinition().clusterStatus, { local: options.local ?? false }, CALL_DEADLINE_MS));
  }

  /** A planned switchover; resolves once the new primary holds the leader key (or at once when scheduled). */
  async switchover(options: SwitchoverOptions = {}): Promise<SwitchoverResult> {
    const scheduledAt = options.scheduledAt instanceof Date ? options.scheduledAt.toISOString() : (options.scheduledAt ?? '');
    const timeoutMs = options.timeoutMs ?? SWITCHOVER_WAIT_MS_DEFAULT;
    const request = { candidate: options.candidate ?? '', scheduled_at: scheduledAt, timeout_ms: timeoutMs, requested_by: options.by ?? '' };
    return decodeSwitchoverResult(await this.call(adminDefinition().switchover, request, timeoutMs + SWITCHOVER_DEADLINE_SLACK_MS));
  }

  /** The operator's failover to `candidate`; resolves once it holds the leader key. */
  async failover(options: FailoverOptions): Promise<SwitchoverResult> {
    const timeoutMs = options.timeoutMs ?? SWITCHOVER_WAIT_MS_DEFAULT;
    const request = { candidate: options.candidate, timeout_ms: timeoutMs, requested_by: options.by ?? '' };
    return decodeSwitchoverResult(await this.call(adminDefinition().failover, request, timeoutMs + SWITCHOVER_DEADLINE_SLACK_MS));
  }

  async cancelSwitchover(options: { by?: string } = {}): Promise<CancelSwitchoverResult> {
    const response = await this.call(adminDefinition().cancelSwitchover, { requested_by: options.by ?? '' }, CALL_DEADLINE_MS);
    if (response.cancelled === null) throw new AdminCallError(Status.INTERNAL, 'INTERNAL', 'the agent answered without the cancelled request', this.endpoint);
    return { cancelled: decodePendingSwitchover(response.cancelled) };
  }

  async pause(options: { by?: string } = {}): Promise<PauseView> {
    return decodePause((await this.call(adminDefinition().pause, { by: options.by ?? '' }, CALL_DEADLINE_MS)).pause);
  }

  async resume(options: { by?: string } = {}): Promise<PauseView> {
    return decodePause((await this.call(adminDefinition().resume, { by: options.by ?? '' }, CALL_DEADLINE_MS)).pause);
  }

  /** The dynamic configuration and its version (after a linearizable read). */
  async getConfig(): Promise<ConfigView> {
    return decodeConfig(await this.call(adminDefinition().getConfig, {}, CALL_DEADLINE_MS), this.endpoint);
  }

  /** Change the dynamic configuration; refused (INVALID_ARGUMENT, ABORTED) changes nothing. */
  async patchConfig(options: PatchConfigOptions): Promise<PatchConfigResult> {
    const request = {
      patch_json: JSON.stringify(options.patch),
      ...(options.expectedVersion === undefined ? {} : { expected_version: options.expectedVersion }),
      dry_run: options.dryRun ?? false,
      requested_by: options.by ?? '',
    };
    return decodePatchConfig(await this.call(adminDefinition().patchConfig, request, CALL_DEADLINE_MS), this.endpoint);
  }

  /** Every timeline switch, oldest first. */
  async history(): Promise<HistoryResult> {
    return decodeHistory(await this.call(adminDefinition().history, {}, CALL_DEADLINE_MS));
  }

  /** Add `name` at `raftAddress` to the Raft membership; resolves once it is a learner (or voter). */
  async addMember(options: { name: string; raftAddress: string; timeoutMs?: number; by?: string }): Promise<MemberChangeResult> {
    const timeoutMs = options.timeoutMs ?? MEMBER_WAIT_MS_DEFAULT;
    const request = { name: options.name, raft_address: options.raftAddress, timeout_ms: timeoutMs, by: options.by ?? '' };
    return decodeMemberChange(await this.call(adminDefinition().addMember, request, timeoutMs + CALL_DEADLINE_MS));
  }

  /** Remove `name` from the Raft membership (and then its registration); resolves once it is out of the configuration. */
  async removeMember(options: { name: string; timeoutMs?: number; by?: string }): Promise<MemberChangeResult> {
    const timeoutMs = options.timeoutMs ?? MEMBER_WAIT_MS_DEFAULT;
    const request = { name: options.name, timeout_ms: timeoutMs, by: options.by ?? '' };
    return decodeMemberChange(await this.call(adminDefinition().removeMember, request, timeoutMs + CALL_DEADLINE_MS));
  }

  /** A libpq connection string over every member, for the role. */
  async dsn(options: DsnOptions = {}): Promise<DsnResult> {
    const role = options.role ?? 'primary';
    const response = await this.call(adminDefinition().dsn, { role: DSN_ROLES[role], dbname: options.dbname ?? '', user: options.user ?? '' }, CALL_DEADLINE_MS);
    return decodeDsn(role, response);
  }

  /** Restart PostgreSQL on members; resolves once each ended (or the wait is over: then some are still pending or running). */
  async restart(options: RestartOptions = {}): Promise<MemberActionsResult> {
    const scheduledAt = options.scheduledAt instanceof Date ? options.scheduledAt.toISOString() : (options.scheduledAt ?? '');
    const timeoutMs = options.timeoutMs ?? MEMBER_ACTION_WAIT_MS_DEFAULT;
    const request = { members: [...(options.members ?? [])], role: options.role ?? '', pending: options.pending ?? false, scheduled_at: scheduledAt, timeout_ms: timeoutMs, requested_by: options.by ?? '' };
    return decodeMemberActions(await this.call(adminDefinition().restart, request, timeoutMs + SWITCHOVER_DEADLINE_SLACK_MS));
  }

  /** Reload PostgreSQL's configuration on members. */
  async reload(options: MemberActionOptions = {}): Promise<MemberActionsResult> {
    const timeoutMs = options.timeoutMs ?? MEMBER_ACTION_WAIT_MS_DEFAULT;
    const request = { members: [...(options.members ?? [])], role: options.role ?? '', timeout_ms: timeoutMs, requested_by: options.by ?? '' };
    return decodeMemberActions(await this.call(adminDefinition().reload, request, timeoutMs + SWITCHOVER_DEADLINE_SLACK_MS));
  }

  /** Re-clone replicas from the primary. */
  async reinit(options: Omit<MemberActionOptions, 'role'> & { readonly members: readonly string[] }): Promise<MemberActionsResult> {
    const timeoutMs = options.timeoutMs ?? MEMBER_ACTION_WAIT_MS_DEFAULT;
    const request = { members: [...options.members], timeout_ms: timeoutMs, requested_by: options.by ?? '' };
    return decodeMemberActions(await this.call(adminDefinition().reinit, request, timeoutMs + SWITCHOVER_DEADLINE_SLACK_MS));
  }

  /**
   * Take a base backup now (as the schedule would); resolves once it ended,
   * or when the wait is over (then it is still running), or at once with noWait.
   */
  async createBackup(options: CreateBackupOptions = {}): Promise<BackupRunResult> {
    const timeoutMs = options.timeoutMs ?? BACKUP_WAIT_MS_DEFAULT;
    const request = { label: options.label ?? '', member: options.member ?? '', timeout_ms: timeoutMs, no_wait: options.noWait ?? false, requested_by: options.by ?? '' };
    const response = await this.call(adminDefinition().createBackup, request, (options.noWait === true ? 0 : timeoutMs) + CALL_DEADLINE_MS);
    return { run: decodeBackupRun(response.run), message: response.message };
  }

  /** The backups in the backup store of the answering agent, the run in progress and the last one, the schedule. */
  async listBackups(): Promise<BackupListResult> {
    return decodeBackupList(await this.call(adminDefinition().listBackups, {}, CALL_DEADLINE_MS));
  }

  /** Withdraw pending restarts, reloads or reinits of `members` (absent: every pending one). */
  async cancelMemberActions(options: { members?: readonly string[]; by?: string } = {}): Promise<MemberActionsResult> {
    return decodeMemberActions(await this.call(adminDefinition().cancelMemberActions, { members: [...(options.members ?? [])], requested_by: options.by ?? '' }, CALL_DEADLINE_MS));
  }

  /**
   * Follow the cluster's changes: `onEvent` for each event, in order, until
   * `signal` aborts (then resolves). Otherwise the stream only ends with a
   * status: rejects with AdminCallError, UNAVAILABLE when the agent stops
   * (AGENT_STOPPING) or goes away, RESOURCE_EXHAUSTED when it serves too
   * many streams or this client fell too far behind (WATCH_OVERFLOW). An
   * onEvent that throws cancels the stream and rejects with its error.
   */
  watch(options: WatchOptions, onEvent: (event: WatchEventView) => void, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        resolve();
        return;
      }
      const method = adminDefinition().watch;
      const request = { types: [...(options.types ?? [])], snapshot: options.snapshot ?? false };
      const call = this.client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), {});
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', cancel);
        if (error === null) resolve();
        else reject(error);
      };
      const cancel = (): void => {
        settle(null);
        call.cancel();
      };
      signal?.addEventListener('abort', cancel, { once: true });
      call.on('data', (wire: WireWatchEvent) => {
        if (settled) return;
        try {
          onEvent(decodeWatchEvent(wire, this.endpoint));
        } catch (error) {
          settle(error as Error);
          call.cancel();
        }
      });
      call.on('error', (error: ServiceError) => settle(callError(error, this.endpoint)));
      call.on('status', (status: { code: Status }) => {
        if (status.code === Status.OK) settle(null);
      });
    });
  }

  close(): void {
    this.client.close();
  }

  private call<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, deadlineMs: number): Promise<Response> {
    return unary(this.client, this.endpoint, method, request, deadlineMs);
  }
}

function decodeMemberActions(w: WireMemberActionsResponse): MemberActionsResult {
  return { actions: w.actions.map(decodeMemberAction), message: w.message };
}

function unary<Request, Response>(client: Client, endpoint: string, method: MethodDefinition<Request, Response>, request: Request, deadlineMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (error) reject(callError(error, endpoint));
      else resolve(response!);
    });
  });
}

function callError(error: ServiceError, endpoint: string): AdminCallError {
  const reason = error.metadata?.get(REASON_METADATA_KEY)[0];
  return new AdminCallError(error.code, typeof reason === 'string' ? reason : '', error.details || error.message, endpoint);
}

function endpointsOf(options: AdminConnectOptions): string[] {
  const endpoints = [...(options.endpoint === undefined ? [] : [options.endpoint]), ...(options.endpoints ?? [])];
  if (endpoints.length === 0) throw new ConfigError('endpoint', `at least one endpoint is required: ${HOST_PORT_FORM}`);
  for (const endpoint of endpoints) {
    if (parseHostPort(endpoint) === undefined) throw new ConfigError('endpoint', `expected ${HOST_PORT_FORM}, got ${JSON.stringify(endpoint)}`);
  }
  return [...new Set(endpoints)];
}

function credentialsOf(options: AdminConnectOptions): ChannelCredentials {
  const { caFile, certFile, keyFile, token } = options;
  if (options.insecure === true) {
    if (caFile !== undefined || certFile !== undefined || keyFile !== undefined) throw new ConfigError('insecure', 'plain text takes no certificate files');
    if (token !== undefined) throw new ConfigError('token', 'a bearer token needs TLS (caFile): it is never sent in plain text');
    return ChannelCredentials.createInsecure();
  }
  if (token !== undefined) return withBearer(tokenChannel(options), token);
  if (caFile === undefined || certFile === undefined || keyFile === undefined) {
    const missing = [caFile === undefined && 'caFile', certFile === undefined && 'certFile', keyFile === undefined && 'keyFile'].filter(Boolean).join(', ');
    throw new ConfigError(missing.split(', ')[0]!, `mutual TLS needs caFile, certFile and keyFile (missing: ${missing}); or insecure for a tls.insecure cluster`);
  }
  try {
    return mutualTlsCredentials({ caFile, certFile, keyFile }).channel;
  } catch (error) {
    // The files are checked under the agent's configuration keys; name the client's options instead.
    if (error instanceof ConfigError) throw new ConfigError(FILE_OPTION[error.key] ?? error.key, error.message.slice(error.key.length + 2), { cause: error });
    throw error;
  }
}

const FILE_OPTION: Readonly<Record<string, string>> = { 'tls.ca_file': 'caFile', 'tls.cert_file': 'certFile', 'tls.key_file': 'keyFile' };

/** With a token: TLS verifying the server against caFile, with the client certificate too when both its files are given. */
function tokenChannel(options: AdminConnectOptions): ChannelCredentials {
  const { caFile, certFile, keyFile } = options;
  if (caFile === undefined) throw new ConfigError('caFile', 'a bearer token needs the cluster CA (caFile) to verify the agent it is sent to');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError(certFile === undefined ? 'certFile' : 'keyFile', 'certFile and keyFile go together');
  try {
    return certFile !== undefined && keyFile !== undefined ? mutualTlsCredentials({ caFile, certFile, keyFile }).channel : serverVerifyingChannelCredentials(caFile);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(FILE_OPTION[error.key] ?? error.key, error.message.slice(error.key.length + 2), { cause: error });
    throw error;
  }
}

/** `authorization: Bearer <token>` on every call of the channel (grpc-js sends call credentials over TLS only). */
function withBearer(channel: ChannelCredentials, token: string): ChannelCredentials {
  if (!/^[\x21-\x7e]+$/.test(token) || token.length > TOKEN_CHARS_MAX) {
    throw new ConfigError('token', `expected printable text without spaces of at most ${TOKEN_CHARS_MAX} characters`);
  }
  const bearer = CallCredentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return channel.compose(bearer);
}

import { Metadata, status as Status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ClusterDecodeError } from '../cluster/errors.js';
import type { RejectionCode } from '../cluster/results.js';
import type { Logger } from '../lib/logger.js';
import type { AdditionalService } from '../raft/transport/options.js';
import { callerOf as gateCallerOf, type Caller as GateCaller } from '../tls/call-gate.js';
import { AdminActions, type ActionContext } from './actions.js';
import type { AdminBackend } from './backend.js';
import { ConfigActions } from './config-actions.js';
import { parseConfigPatchRequest } from './config-patch.js';
import { dsnResponse, parseDsnRequest } from './dsn.js';
import { AdminRefusal, REASON_METADATA_KEY, type AdminReason } from './errors.js';
import { historyResponse } from './history-view.js';
import { MemberActionCalls } from './member-action-calls.js';
import { parseCancelMembers, parseReinitRequest, parseReloadRequest, parseRestartRequest } from './member-action-requests.js';
import { adminDefinition } from './proto.js';
import { readForAction } from './raft-calls.js';
import { MemberActions, parseAddMemberRequest, parseRemoveMemberRequest } from './member-actions.js';
import { parseBy, parseFailoverRequest, parseSwitchoverRequest } from './requests.js';
import { WATCH_LIMITS_DEFAULT, WatchStreams, type WatchLimits } from './watch-streams.js';
import type {
  WireAddMemberRequest,
  WireRemoveMemberRequest,
  WireCancelMemberActionsRequest,
  WireCancelSwitchoverRequest,
  WireClusterStatusRequest,
  WireDsnRequest,
  WireFailoverRequest,
  WireGetConfigRequest,
  WireHistoryRequest,
  WirePatchConfigRequest,
  WirePauseRequest,
  WireReinitRequest,
  WireReloadRequest,
  WireRestartRequest,
  WireSwitchoverRequest,
  WireWatchEvent,
  WireWatchRequest,
} from './wire.js';
import { BackupCalls, parseCreateBackupRequest } from './backup-calls.js';
import type { WireCreateBackupRequest, WireListBackupsRequest } from './backup-wire.js';

/** A call answers this long before its deadline, so the client reads the service's reason rather than its own DEADLINE_EXCEEDED. */
export const DEADLINE_MARGIN_MS = 250;

/** Who is calling, for `by` and the log: the client's address and what the call gate admitted it by (undefined on a plain-text server). */
interface Caller {
  readonly peer: string;
  readonly identity: GateCaller | undefined;
}

/** Calls that only read: their log line is at debug. */
const READ_ACTIONS: ReadonlySet<string> = new Set(['cluster_status', 'get_config', 'history', 'dsn', 'list_backups']);

/** What a handler gets besides the request. */
interface Call {
  readonly backend: AdminBackend;
  readonly actions: AdminActions;
  readonly config: ConfigActions;
  readonly ctx: ActionContext;
  /** The requester to record and log: the request's own (non-empty) or pgherdctl@<client address>. */
  readonly by: (requested: string) => string;
}

type Handler<Request, Response> = (request: Request, call: Call) => Promise<Response>;

export interface AdminServiceOptions {
  /** Bounds of the Watch streams (default WATCH_LIMITS_DEFAULT; tests lower them). */
  readonly watch?: Partial<WatchLimits>;
}

/**
 * The Admin service of proto/admin.proto, served on the peer gRPC server
 * (GrpcTransport's additional services), so it shares the peer port and its
 * TLS: the call gate (src/tls/call-gate.ts) admits holders of a cluster-CA
 * certificate or of an admin.tokens bearer token, and names the caller. This file
 * is the gRPC edge: it parses requests, turns refusals and Raft errors into
 * statuses (with the reason in the trailing metadata `pgherd-reason`) and
 * logs one line per action (`admin.<action>`: what, who, outcome). The
 * actions themselves are in actions.ts; the Watch stream in watch-streams.ts.
 */
export class AdminService {
  private readonly log: Logger;
  /** Aborts the waits of open calls when the agent stops. */
  private readonly open = new Set<AbortController>();
  private stopping = false;
  /** The open Watch streams. */
  readonly watches: WatchStreams;

  /**
   * `backend` is asked at every call: the agent registers the service with
   * its transport before the cluster store and the HA loop exist, and the
   * service answers UNAVAILABLE (AGENT_STARTING) until it returns one.
   */
  constructor(
    private readonly backend: () => AdminBackend | undefined,
    logger: Logger,
    options: AdminServiceOptions = {},
  ) {
    this.log = logger.child({ component: 'admin' });
    this.watches = new WatchStreams(backend, this.log, { ...WATCH_LIMITS_DEFAULT, ...options.watch });
  }

  /** For TransportOptions.services: the service definition, its handlers and stop(). */
  registration(): AdditionalService {
    return { definition: adminDefinition().service, implementation: this.implementation(), stop: () => this.stop() };
  }

  implementation(): UntypedServiceImplementation {
    return {
      ClusterStatus: this.unary<WireClusterStatusRequest, unknown>('cluster_status', (request, { actions }) => actions.clusterStatus(request.local)),
      Switchover: this.unary<WireSwitchoverRequest, unknown>('switchover', (request, { actions, ctx, backend, by }) => {
        const parsed = parseSwitchoverRequest(request, backend.wallNow());
        return actions.handover({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      Failover: this.unary<WireFailoverRequest, unknown>('failover', (request, { actions, ctx, by }) => {
        const parsed = parseFailoverRequest(request);
        return actions.handover({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      CancelSwitchover: this.unary<WireCancelSwitchoverRequest, unknown>('cancel_switchover', (request, { actions, ctx, by }) => {
        by(parseBy('requested_by', request.requested_by));
        return actions.cancelSwitchover(ctx);
      }),
      Pause: this.unary<WirePauseRequest, unknown>('pause', (request, { actions, by }) => actions.setPause(true, by(parseBy('by', request.by)))),
      Resume: this.unary<WirePauseRequest, unknown>('resume', (request, { actions, by }) => actions.setPause(false, by(parseBy('by', request.by)))),
      GetConfig: this.unary<WireGetConfigRequest, unknown>('get_config', (_request, { config }) => config.getConfig()),
      PatchConfig: this.unary<WirePatchConfigRequest, unknown>('patch_config', (request, { config, ctx, by }) => {
        const parsed = parseConfigPatchRequest(request);
        by(parsed.by);
        return config.patchConfig(parsed, ctx);
      }),
      History: this.unary<WireHistoryRequest, unknown>('history', async (_request, { backend }) => historyResponse((await readForAction(backend)).history)),
      Dsn: this.unary<WireDsnRequest, unknown>('dsn', async (request, { backend, ctx }) => {
        const parsed = parseDsnRequest(request);
        ctx.fields['role'] = parsed.role;
        return dsnResponse(await readForAction(backend), parsed);
      }),
      Watch: (call: ServerWritableStream<WireWatchRequest, WireWatchEvent>) => this.watches.handle(call),
      AddMember: this.unary<WireAddMemberRequest, unknown>('add_member', (request, { backend, ctx, by }) => {
        const parsed = parseAddMemberRequest(request);
        return new MemberActions(backend, this.log).add({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      RemoveMember: this.unary<WireRemoveMemberRequest, unknown>('remove_member', (request, { backend, ctx, by }) => {
        const parsed = parseRemoveMemberRequest(request);
        return new MemberActions(backend, this.log).remove({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      Restart: this.unary<WireRestartRequest, unknown>('restart', (request, { backend, ctx, by }) => {
        const parsed = parseRestartRequest(request, backend.wallNow());
        return new MemberActionCalls(backend, this.log).request({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      Reload: this.unary<WireReloadRequest, unknown>('reload', (request, { backend, ctx, by }) => {
        const parsed = parseReloadRequest(request);
        return new MemberActionCalls(backend, this.log).request({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      Reinit: this.unary<WireReinitRequest, unknown>('reinit', (request, { backend, ctx, by }) => {
        const parsed = parseReinitRequest(request);
        return new MemberActionCalls(backend, this.log).request({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      CancelMemberActions: this.unary<WireCancelMemberActionsRequest, unknown>('cancel_member_actions', (request, { backend, ctx, by }) => {
        const members = parseCancelMembers(request);
        return new MemberActionCalls(backend, this.log).cancel(members, by(parseBy('requested_by', request.requested_by)), ctx);
      }),
      CreateBackup: this.unary<WireCreateBackupRequest, unknown>('create_backup', (request, { backend, ctx, by }) => {
        const parsed = parseCreateBackupRequest(request);
        return new BackupCalls(backend, this.log).create({ ...parsed, by: by(parsed.by) }, ctx);
      }),
      ListBackups: this.unary<WireListBackupsRequest, unknown>('list_backups', (_request, { backend }) => new BackupCalls(backend, this.log).list()),
    };
  }

  /** Refuse new calls, end the waits of open ones and every Watch stream (UNAVAILABLE: the agent is stopping). Idempotent. */
  stop(): void {
    this.stopping = true;
    this.watches.stop();
    for (const controller of this.open) {
      controller.abort(new AdminRefusal(Status.UNAVAILABLE, 'AGENT_STOPPING', 'the agent answering this call is stopping; a recorded request stays pending: check pgherdctl list'));
    }
  }

  /**
   * One RPC: run `handler` with a context bounded by the call's deadline,
   * answer its response or the status of what it threw, and log one line.
   * Reads (READ_ACTIONS) are not actions: their line is at debug.
   */
  private unary<Request, Response>(action: string, handler: Handler<Request, Response>) {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
      const startedMs = performance.now();
      const caller = callerOf(call);
      const controller = new AbortController();
      const ctx: ActionContext = { deadlineMs: startedMs + remainingMs(call.getDeadline()) - DEADLINE_MARGIN_MS, signal: controller.signal, fields: {} };
      call.on('cancelled', () => controller.abort(new AdminRefusal(Status.CANCELLED, 'CALL_CANCELLED', 'the client cancelled the call')));
      this.open.add(controller);
      const run = async (): Promise<Response> => {
        if (this.stopping) throw new AdminRefusal(Status.UNAVAILABLE, 'AGENT_STOPPING', 'the agent answering this call is stopping: ask another member');
        const backend = this.backend();
        if (backend === undefined) throw new AdminRefusal(Status.UNAVAILABLE, 'AGENT_STARTING', 'the agent answering this call is still starting: retry, or ask another member');
        const by = (requested: string): string => {
          const who = recordedBy(requested, caller);
          ctx.fields['by'] = who;
          return who;
        };
        return handler(call.request, { backend, actions: new AdminActions(backend, this.log), config: new ConfigActions(backend, this.log), ctx, by });
      };
      const level = READ_ACTIONS.has(action) ? 'debug' : 'info';
      const done = (fields: Record<string, unknown>): void => {
        this.open.delete(controller);
        const line = { peer: caller.peer, [caller.identity?.kind ?? 'certificate']: caller.identity?.name, ...ctx.fields, ...fields, durationMs: Math.round(performance.now() - startedMs) };
        if (fields['outcome'] === 'failed') this.log.error(line, `admin.${action}`);
        else this.log[level](line, `admin.${action}`);
      };
      run().then(
        (response) => {
          done({ outcome: 'ok' });
          callback(null, response);
        },
        (error: unknown) => {
          const status = statusOf(error);
          done(status.failed ? { outcome: 'failed', err: error } : { outcome: 'refused', status: Status[status.code], reason: status.reason, message: status.details });
          const metadata = new Metadata();
          metadata.set(REASON_METADATA_KEY, status.reason);
          callback({ code: status.code, details: status.details, metadata });
        },
      );
    };
  }
}

interface StatusOf {
  readonly code: Status;
  readonly reason: AdminReason | RejectionCode;
  readonly details: string;
  /** Not a refusal: a bug (INTERNAL). */
  readonly failed: boolean;
}

function statusOf(error: unknown): StatusOf {
  if (error instanceof AdminRefusal) return { code: error.status, reason: error.reason, details: error.message, failed: false };
  // A command the service built that the cluster schema refuses: a field it took from the request.
  if (error instanceof ClusterDecodeError) return { code: Status.INVALID_ARGUMENT, reason: 'INVALID_FIELD', details: error.message, failed: false };
  const message = error instanceof Error ? error.message : String(error);
  return { code: Status.INTERNAL, reason: 'INTERNAL', details: `internal error: ${message}`, failed: true };
}

function callerOf(call: ServerUnaryCall<unknown, unknown>): Caller {
  return { peer: call.getPeer(), identity: gateCallerOf(call.metadata) };
}

/**
 * The `by` recorded: who the request says asked (default pgherdctl@<client
 * address>), followed by what the call was authenticated with — `(token
 * <name>)` or `(certificate <CN>)` — which the client cannot choose.
 */
function recordedBy(requested: string, caller: Caller): string {
  const who = requested === '' ? `pgherdctl@${caller.peer}` : requested;
  return caller.identity === undefined ? who : `${who} (${caller.identity.kind} ${caller.identity.name})`;
}

/** Milliseconds until a gRPC deadline (Infinity when none). */
function remainingMs(deadline: Date | number): number {
  const atMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return atMs - Date.now();
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { decodeHistory } from '../admin/decode-config.js';
import { historyResponse } from '../admin/history-view.js';
import type { ClusterState } from '../cluster/state.js';
import { parseHostPort } from '../config/address.js';
import { BindError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { HaStatus } from '../ha/loop.js';
import type { RaftView } from './metrics.js';

/**
 * Health checks with Patroni's paths and status semantics, so existing
 * HAProxy / load balancer checks work unchanged: 200 when this node is
 * what the path asks for, 503 otherwise; the body is this node's status as
 * JSON either way. `/cluster` shows the whole cluster state (passwords
 * redacted); `/history` and `/config` what pgherdctl history and
 * show-config print with --json; `/metrics` Prometheus text (metrics.ts).
 */

export interface HttpSources {
  readonly self: string;
  readonly status: () => HaStatus;
  readonly state: () => ClusterState;
  /** Monotonic ms since the HA loop last completed a run (liveness). */
  readonly sinceLastLoopMs: () => number;
  /** Raft as this node sees it (its leader: '' when none). */
  readonly raft: () => RaftView;
  /** `/metrics` (an AgentMetrics). */
  readonly metrics: MetricsEndpoint;
}

export interface MetricsEndpoint {
  readonly contentType: string;
  render(): Promise<string>;
}

const JSON_CONTENT_TYPE = 'application/json';

export const LIVENESS_LIMIT_FACTOR = 3;

export interface NodeView {
  readonly name: string;
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  readonly lsn: string | null;
  readonly isPrimary: boolean;
  readonly leaseRemainingMs: number | null;
  readonly lastAction: string;
  readonly lastReason: string;
  readonly refused: string | null;
  readonly lagBytes: number | null;
  readonly sync: boolean;
  readonly tags: unknown;
  readonly paused: boolean;
}

export function nodeView(sources: HttpSources): NodeView {
  const state = sources.state();
  const status = sources.status();
  const member = state.members[sources.self];
  return {
    name: sources.self,
    role: status.role,
    state: status.state,
    timeline: status.timeline,
    lsn: status.lsn,
    isPrimary: isWritablePrimary(sources),
    leaseRemainingMs: status.leaseRemainingMs,
    lastAction: status.lastAction,
    lastReason: status.lastReason,
    refused: status.refused,
    lagBytes: member?.status?.lagBytes ?? null,
    sync: state.sync.members.includes(sources.self),
    tags: member?.registration.tags ?? null,
    paused: state.pause.paused,
  };
}

/** This node is the primary with a valid lease: what /primary answers 200 for. */
export function isWritablePrimary(sources: Pick<HttpSources, 'self' | 'status' | 'state'>): boolean {
  const status = sources.status();
  return status.role === 'primary' && sources.state().leader?.member === sources.self && (status.leaseRemainingMs ?? 0) > 0;
}

/** PostgreSQL runs as a replica (streaming or not: /readiness and /replica?lag= say more). */
function isReplica(sources: HttpSources): boolean {
  return sources.status().role === 'replica';
}

/** The cluster state for display: everything but the generated passwords. */
export function redactedState(state: ClusterState): unknown {
  const initialize = state.initialize === null ? null : { ...state.initialize, credentials: state.initialize.credentials === null ? null : '(redacted)' };
  return { ...state, initialize };
}

export function route(sources: HttpSources, path: string, query: URLSearchParams): { status: number; body: unknown } {
  const view = nodeView(sources);
  const ok = (condition: boolean): { status: number; body: unknown } => ({ status: condition ? 200 : 503, body: view });
  const tags = sources.state().members[sources.self]?.registration.tags;
  switch (path) {
    case '/':
    case '/primary':
    case '/master':
    case '/leader':
    case '/read-write':
      return ok(view.isPrimary);
    case '/replica': {
      const lag = query.get('lag');
      const maxLag = lag === null ? null : Number(lag);
      if (maxLag !== null && !(Number.isFinite(maxLag) && maxLag >= 0)) return { status: 400, body: { error: 'lag: expected a number of bytes >= 0' } };
      const withinLag = maxLag === null || (view.lagBytes !== null && view.lagBytes <= maxLag);
      return ok(isReplica(sources) && !tags?.noloadbalance && withinLag);
    }
    case '/read-only':
      return ok(view.isPrimary || isReplica(sources));
    case '/sync':
    case '/synchronous':
      return ok(isReplica(sources) && view.sync);
    case '/async':
    case '/asynchronous':
      return ok(isReplica(sources) && !view.sync);
    case '/health':
      return ok(view.role === 'primary' || view.role === 'replica');
    case '/liveness': {
      const limit = sources.state().config.values.loop_wait_ms * LIVENESS_LIMIT_FACTOR + sources.state().config.values.ttl_ms;
      return ok(sources.sinceLastLoopMs() <= limit);
    }
    case '/readiness':
      return ok(view.isPrimary || (isReplica(sources) && view.state === 'streaming'));
    case '/cluster':
      return { status: 200, body: { self: sources.self, raftLeader: sources.raft().leaderId || null, node: view, state: redactedState(sources.state()) } };
    case '/history':
      // As pgherdctl history --json prints it (the admin History answer).
      return { status: 200, body: decodeHistory(historyResponse(sources.state().history)) };
    case '/config': {
      // As pgherdctl show-config --json prints it.
      const config = sources.state().config;
      return { status: 200, body: { version: config.version, values: config.values } };
    }
    default:
      return { status: 404, body: { error: `no such endpoint: ${path}` } };
  }
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

const jsonAnswer = (status: number, body: unknown): Answer => ({
  status,
  contentType: JSON_CONTENT_TYPE,
  text: JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
});

/** The answer to one request: /metrics rendered (asynchronously) by the metrics source, every other path by route(). */
export async function answer(sources: HttpSources, method: string | undefined, rawUrl: string | undefined, log: Logger): Promise<Answer> {
  if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return jsonAnswer(405, { error: `method ${method} not allowed` });
  const url = new URL(rawUrl ?? '/', 'http://localhost');
  if (url.pathname !== '/metrics') {
    const routed = route(sources, url.pathname, url.searchParams);
    return jsonAnswer(routed.status, routed.body);
  }
  try {
    return { status: 200, contentType: sources.metrics.contentType, text: await sources.metrics.render() };
  } catch (error) {
    log.error({ err: error }, 'http.metrics_failed');
    return jsonAnswer(500, { error: `metrics: ${(error as Error).message}` });
  }
}

export async function startHttp(listen: string, sources: HttpSources, log: Logger): Promise<{ server: Server; address: string }> {
  const parsed = parseHostPort(listen);
  if (!parsed) throw new BindError(listen);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void answer(sources, req.method, req.url, log)
      .catch((error: unknown) => {
        log.error({ err: error, path: req.url }, 'http.request_failed');
        return jsonAnswer(500, { error: 'internal error' });
      })
      .then((reply) => {
        res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.text) });
        res.end(req.method === 'HEAD' ? undefined : reply.text);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new BindError(listen, { cause: error })));
    server.listen(parsed.port, parsed.host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : parsed.port;
  log.info({ listen: `${parsed.host}:${port}` }, 'http.listening');
  return { server, address: `${parsed.host}:${port}` };
}

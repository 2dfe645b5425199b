import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClusterState } from '../cluster/state.js';
import { parseHostPort } from '../config/address.js';
import { BindError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { HaStatus } from '../ha/loop.js';

/**
 * Health checks with Patroni's paths and status semantics, so existing
 * HAProxy / load balancer checks work unchanged: 200 when this node is
 * what the path asks for, 503 otherwise; the body is this node's status as
 * JSON either way. `/cluster` shows the whole cluster state (passwords
 * redacted).
 */

export interface HttpSources {
  readonly self: string;
  readonly status: () => HaStatus;
  readonly state: () => ClusterState;
  /** Monotonic ms since the HA loop last completed a run (liveness). */
  readonly sinceLastLoopMs: () => number;
  /** The Raft leader as this node knows it ('' when none). */
  readonly raftLeader: () => string;
}

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

function isWritablePrimary(sources: HttpSources): boolean {
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
      return { status: 200, body: { self: sources.self, raftLeader: sources.raftLeader() || null, node: view, state: redactedState(sources.state()) } };
    default:
      return { status: 404, body: { error: `no such endpoint: ${path}` } };
  }
}

export async function startHttp(listen: string, sources: HttpSources, log: Logger): Promise<{ server: Server; address: string }> {
  const parsed = parseHostPort(listen);
  if (!parsed) throw new BindError(listen);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let answer: { status: number; body: unknown };
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') answer = { status: 405, body: { error: `method ${req.method} not allowed` } };
    else answer = route(sources, url.pathname, url.searchParams);
    const text = JSON.stringify(answer.body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
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

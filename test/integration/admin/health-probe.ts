import type { AgentCluster } from '../../../scripts/lib/agent-cluster.js';

/**
 * Probing the agents' HTTP health endpoints (src/api/http.ts) the way a load
 * balancer does, and the status codes Patroni's semantics give each kind of
 * node. Used by health.test.ts.
 */

/** What a node is for the health checks. */
export type HealthRole = 'primary' | 'sync' | 'async';

const ALL_200: Readonly<Record<HealthRole, number>> = { primary: 200, sync: 200, async: 200 };
const PRIMARY_ONLY: Readonly<Record<HealthRole, number>> = { primary: 200, sync: 503, async: 503 };

/** Every endpoint and the status it must answer (GET, HEAD and OPTIONS alike) on a healthy node of each role. */
export const EXPECTED_STATUS: Readonly<Record<string, Readonly<Record<HealthRole, number>>>> = {
  '/': PRIMARY_ONLY,
  '/primary': PRIMARY_ONLY,
  '/read-write': PRIMARY_ONLY,
  '/replica': { primary: 503, sync: 200, async: 200 },
  '/read-only': ALL_200,
  '/sync': { primary: 503, sync: 200, async: 503 },
  '/async': { primary: 503, sync: 503, async: 200 },
  '/health': ALL_200,
  '/liveness': ALL_200,
  '/readiness': ALL_200,
  '/cluster': ALL_200,
  '/history': ALL_200,
  '/config': ALL_200,
  '/metrics': ALL_200,
};

export interface Probe {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

export async function probe(cluster: AgentCluster, name: string, method: string, path: string): Promise<Probe> {
  const node = cluster.node(name);
  const response = await fetch(`http://${node.host}:${node.httpPort}${path}`, { method, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
}

/** GET as JSON (the status too). */
export async function getJson(cluster: AgentCluster, name: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await probe(cluster, name, 'GET', path);
  return { status: answer.status, body: JSON.parse(answer.text) as Record<string, unknown> };
}

/**
 * Every endpoint of EXPECTED_STATUS on every node, by GET, HEAD and OPTIONS:
 * one line per answer that differs from the table (or a HEAD with a body),
 * so a failure lists all of them at once. Empty when everything matches.
 */
export async function statusMismatches(cluster: AgentCluster, roles: Readonly<Record<string, HealthRole>>): Promise<string[]> {
  const mismatches: string[] = [];
  for (const [name, role] of Object.entries(roles)) {
    for (const [path, byRole] of Object.entries(EXPECTED_STATUS)) {
      for (const method of ['GET', 'HEAD', 'OPTIONS']) {
        const answer = await probe(cluster, name, method, path);
        if (answer.status !== byRole[role]) mismatches.push(`${method} ${path} on ${name} (${role}): ${answer.status}, expected ${byRole[role]}`);
        if (method === 'HEAD' && answer.text !== '') mismatches.push(`HEAD ${path} on ${name}: a body of ${answer.text.length} characters`);
      }
    }
  }
  return mismatches;
}

/** The node's own view as every health endpoint returns it (the body of GET /health). */
export async function nodeBody(cluster: AgentCluster, name: string): Promise<Record<string, unknown>> {
  return (await getJson(cluster, name, '/health')).body;
}

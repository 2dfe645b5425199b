import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import pg from 'pg';
import { AgentCluster, healthyOf, type AgentClusterOptions, type NodeStatus } from '../../../scripts/lib/agent-cluster.js';
import { acquireHeavySlot } from '../../helpers/heavy-slot.js';
import { untilValue } from '../../helpers/wait.js';

/**
 * Three real agents on loopback; every process they started is killed and the directory removed in teardown.
 * Waits for the heavy-test slot first (one cluster at a time across test files); `timeoutMs` is the test's
 * own budget, counted from when it has the slot.
 */
export async function startAgentCluster(t: ExecutionContext, options: Partial<AgentClusterOptions> = {}, timeoutMs = 5 * 60_000): Promise<AgentCluster> {
  await acquireHeavySlot(t, timeoutMs);
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-agent-it-'));
  const cluster = await AgentCluster.create({ ...options, baseDir });
  t.teardown(async () => {
    if (!t.passed) await logAgentTrouble(t, cluster);
    await cluster.killAll();
    if (process.env.KEEP_TEST_DIRS) t.log(`kept ${baseDir}`);
    else await rm(baseDir, { recursive: true, force: true });
  });
  await cluster.startAll();
  return cluster;
}

export interface Healthy {
  readonly primary: string;
  readonly replicas: string[];
  readonly statuses: NodeStatus[];
}

/** Wait until exactly one writable primary and every other `expected` node streams. */
export async function untilHealthy(cluster: AgentCluster, timeoutMs: number, expected = cluster.nodes.map((n) => n.name)): Promise<Healthy> {
  return untilValue('one primary and streaming replicas', timeoutMs, async () => {
    const statuses = (await cluster.statuses()).filter((s) => expected.includes(s.name));
    const healthy = statuses.length === expected.length ? healthyOf(statuses) : undefined;
    return healthy && { ...healthy, statuses };
  }, 250);
}

/**
 * Synchronous mode promotes only a recorded synchronous standby, and the
 * primary records one a moment after the replicas stream: wait until a
 * replica's /sync answers 200 before a fault that needs a failover.
 */
export async function untilSyncStandby(cluster: AgentCluster, timeoutMs = 30_000): Promise<string> {
  return untilValue('a recorded synchronous standby', timeoutMs, async () => {
    for (const node of cluster.nodes) {
      const response = await fetch(`http://${node.host}:${node.httpPort}/sync`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      if (response?.status === 200) return node.name;
    }
    return undefined;
  }, 200);
}

export async function superuserPassword(cluster: AgentCluster, name: string): Promise<string> {
  return cluster.superuserPassword(name);
}

/** A superuser connection to one node over TCP. */
export async function connect(cluster: AgentCluster, name: string, password: string): Promise<pg.Client> {
  const client = new pg.Client({ host: cluster.node(name).host, port: cluster.node(name).pgPort, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2000, query_timeout: 5000 });
  await client.connect();
  client.on('error', () => undefined);
  return client;
}

/** Run `sql` on `name`; the error when it fails (not running, read-only...). */
export async function tryQuery(cluster: AgentCluster, name: string, password: string, sql: string): Promise<{ rows: Record<string, unknown>[] } | Error> {
  let client: pg.Client | undefined;
  try {
    client = await connect(cluster, name, password);
    return await client.query(sql);
  } catch (error) {
    return error as Error;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** On failure: the agents' last warnings and errors, the HA decisions and how each formed or joined the cluster, so a CI log says what happened. */
async function logAgentTrouble(t: ExecutionContext, cluster: AgentCluster): Promise<void> {
  for (const node of cluster.nodes) {
    const text = await readFile(node.logFile, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((l) => /"level":"(warn|error)"|"msg":"(ha|discovery)\./.test(l));
    for (const line of lines.slice(-12)) t.log(`${node.name}: ${line.slice(0, 400)}`);
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

export interface DevNodeConfig {
  nodeId: string;
  clusterName: string;
  dataDir: string;
  address: string;
  peers: Record<string, string>;
  bootstrap: boolean;
  tickMs: number;
  electionTicks?: number;
  snapshotEveryEntries: number;
  compactionKeepEntries: number;
  logLevel: string;
}

export type DevRequest = { id: number } & (
  | { op: 'status' }
  | { op: 'propose'; data: string }
  | { op: 'read' }
  | { op: 'transfer'; to: string }
  | { op: 'membership'; change: 'addLearner' | 'addVoter' | 'removeNode'; member: string; address?: string }
  | { op: 'sequential'; count: number }
  | { op: 'concurrent'; proposers: number; durationMs: number }
  | { op: 'stop' }
);

export type DevResponse = { id: number } & ({ ok: true; result: unknown } | { ok: false; error: string; code: string });

export interface DevStatus {
  id: string;
  term: number;
  role: string;
  leader: string;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  firstIndex: number;
  count: number;
  confState: { voters: string[]; learners: string[] };
  counters: { readies: number; entriesPersisted: number; syncedWrites: number; persistMs: number; entriesApplied: number; messagesSent: number };
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

const CHILD = fileURLToPath(new URL('./raft-node-process.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class DevRequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface RunningNode {
  readonly config: DevNodeConfig;
  child: ChildProcess | undefined;
  nextId: number;
  readonly waiting: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

export interface DevClusterOptions {
  size: number;
  baseDir: string;
  clusterName?: string;
  tickMs?: number;
  electionTicks?: number;
  snapshotEveryEntries?: number;
  compactionKeepEntries?: number;
  logLevel?: string;
  /** Where children's stdout/stderr go: 'inherit' or 'ignore' (default). */
  stdio?: 'inherit' | 'ignore';
}

/**
 * Several Raft nodes as separate processes on 127.0.0.1, each with its own
 * LevelDB directory, talking real gRPC. Every child is tracked by PID and
 * killed in stopAll().
 */
export class DevCluster {
  readonly nodes = new Map<string, RunningNode>();

  private constructor(private readonly options: DevClusterOptions) {}

  static async start(options: DevClusterOptions): Promise<DevCluster> {
    const cluster = new DevCluster(options);
    const ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
    const peers: Record<string, string> = {};
    for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
    for (const id of ids) cluster.nodes.set(id, cluster.makeNode(id, peers[id]!, peers, true));
    await Promise.all(ids.map((id) => cluster.spawn(id)));
    return cluster;
  }

  /** A new node that will join as a learner once the leader adds it. */
  async addNode(id: string): Promise<string> {
    const address = `127.0.0.1:${await freePort()}`;
    const peers: Record<string, string> = { [id]: address };
    for (const node of this.nodes.values()) peers[node.config.nodeId] = node.config.address;
    this.nodes.set(id, this.makeNode(id, address, peers, false));
    await this.spawn(id);
    return address;
  }

  private makeNode(id: string, address: string, peers: Record<string, string>, bootstrap: boolean): RunningNode {
    const config: DevNodeConfig = {
      nodeId: id,
      clusterName: this.options.clusterName ?? 'dev',
      dataDir: join(this.options.baseDir, id),
      address,
      peers,
      bootstrap,
      tickMs: this.options.tickMs ?? 100,
      ...(this.options.electionTicks ? { electionTicks: this.options.electionTicks } : {}),
      snapshotEveryEntries: this.options.snapshotEveryEntries ?? 10_000,
      compactionKeepEntries: this.options.compactionKeepEntries ?? 1_000,
      logLevel: this.options.logLevel ?? 'warn',
    };
    return { config, child: undefined, nextId: 1, waiting: new Map() };
  }

  async spawn(id: string): Promise<void> {
    const node = this.mustGet(id);
    await mkdir(node.config.dataDir, { recursive: true });
    const stdio = this.options.stdio ?? 'ignore';
    // DEV_RAFT_CPU_PROF=DIR writes a V8 CPU profile per node (on a clean 'stop', not on SIGKILL).
    const child = fork(CHILD, [], {
      cwd: PROJECT_ROOT,
      execArgv: ['--import=tsx', ...(process.env.DEV_RAFT_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DEV_RAFT_CPU_PROF}`] : [])],
      env: { ...process.env, DEV_RAFT_NODE: JSON.stringify(node.config) },
      stdio: [stdio, stdio, stdio, 'ipc'],
    });
    node.child = child;
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`node ${id} exited with ${code} before it was ready`));
      child.once('exit', onExit);
      child.on('message', (message: DevResponse) => {
        if (message.id === 0) {
          child.off('exit', onExit);
          resolve();
          return;
        }
        const waiter = node.waiting.get(message.id);
        if (!waiter) return;
        node.waiting.delete(message.id);
        if (message.ok) waiter.resolve(message.result);
        else waiter.reject(new DevRequestError(message.code, message.error));
      });
    });
    child.once('exit', () => {
      for (const waiter of node.waiting.values()) waiter.reject(new Error(`node ${id} exited`));
      node.waiting.clear();
      if (node.child === child) node.child = undefined;
    });
  }

  request<T>(id: string, request: Distribute<DevRequest>): Promise<T> {
    const node = this.mustGet(id);
    const child = node.child;
    if (!child) return Promise.reject(new Error(`node ${id} is not running`));
    const requestId = node.nextId++;
    return new Promise<T>((resolve, reject) => {
      node.waiting.set(requestId, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...request, id: requestId });
    });
  }

  running(): string[] {
    return [...this.nodes.values()].filter((n) => n.child).map((n) => n.config.nodeId);
  }

  async statuses(): Promise<DevStatus[]> {
    const results = await Promise.allSettled(this.running().map((id) => this.request<DevStatus>(id, { op: 'status' })));
    return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** The leader that a majority of running nodes agree on, once there is one (excluding `except`). */
  async waitForLeader(timeoutMs: number, except?: string): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const statuses = await this.statuses();
      const leader = statuses.find((s) => s.role === 'leader' && s.id !== except);
      if (leader && statuses.filter((s) => s.leader === leader.id).length > this.nodes.size / 2) return leader.id;
      await sleep(10);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /** SIGKILL one node and wait until it is gone. */
  async kill(id: string): Promise<void> {
    const child = this.mustGet(id).child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.kill(id)));
  }

  private mustGet(id: string): RunningNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`unknown node ${id}`);
    return node;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

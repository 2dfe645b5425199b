/**
 * A local cluster of real pgherd agents (`pgherd run` processes) on
 * 127.0.0.1, each with its own data directory and free ports. Used by the
 * demo, the agent integration tests and bench:failover, so "kill the
 * primary" is a real SIGKILL of a real agent and its PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { AdminClient } from '../../src/admin/client.js';
import { configTarget } from '../../src/cli/ctl/target.js';
import { freePort } from './free-port.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The built agent (npm run build): it starts in well under a second, as a restart beside a running primary must. */
const CLI = join(REPO, 'dist/src/cli/pgherd.js');

/** Refuse to run a dist/ older than the sources: the agents would not be the code under test. */
async function assertBuildFresh(): Promise<void> {
  const stamp = await stat(join(REPO, 'dist/BUILD_STAMP')).catch(() => undefined);
  if (stamp === undefined) throw new Error('dist/ is missing: run `npm run build` (npm test and npm run demo do it first)');
  const newest = async (dir: string): Promise<number> => {
    let max = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      max = Math.max(max, entry.isDirectory() ? await newest(path) : (await stat(path)).mtimeMs);
    }
    return max;
  };
  if ((await newest(join(REPO, 'src'))) > stamp.mtimeMs) throw new Error('dist/ is older than src/: run `npm run build`');
}

export interface AgentNodeSpec {
  readonly name: string;
  /** The address every service of the node listens on and is reached at. */
  readonly host: string;
  readonly dir: string;
  readonly raftPort: number;
  readonly httpPort: number;
  readonly pgPort: number;
  readonly configFile: string;
  readonly logFile: string;
}

export interface NodeStatus {
  readonly name: string;
  readonly reachable: boolean;
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  readonly lsn: string | null;
  readonly isPrimary: boolean;
  readonly lagBytes: number | null;
  readonly leaseRemainingMs: number | null;
  readonly lastAction: string;
  readonly lastReason: string;
  readonly refused: string | null;
  readonly raftLeader: string | null;
}

export interface AgentClusterOptions {
  readonly baseDir: string;
  readonly size?: number;
  /** Merged into bootstrap.dynamic of every node. */
  readonly dynamic?: Record<string, unknown>;
  /** Merged into the raft section of every node (e.g. replace_unreachable_after_ms). */
  readonly raft?: Record<string, unknown>;
  readonly logLevel?: string;
  /** Extra top-level config merged into every node (e.g. tags per node via perNode). */
  readonly perNode?: (name: string) => Record<string, unknown>;
  /** Where the nodes run; default all on 127.0.0.1 in this network namespace. */
  readonly placement?: AgentPlacement;
}

/** Nodes on hosts of their own (the chaos suite's network namespaces). */
export interface AgentPlacement {
  readonly host: (name: string) => string;
  /** Where clients (the test, the workload) connect from: admitted by pg_hba. */
  readonly clientCidrs: readonly string[];
  /** The command line that runs `argv` on the node's host (e.g. `ip netns exec NS ...argv`). */
  readonly launch: (name: string, argv: readonly string[]) => readonly string[];
  /**
   * The launched process is not the agent itself but a client that runs it
   * elsewhere and exits when it exits (`docker run`): the agent is then found
   * by its command line among this machine's processes, to be signalled.
   */
  readonly launchWrapsAgent?: boolean;
}

export class AgentCluster {
  readonly nodes: AgentNodeSpec[];
  private readonly children = new Map<string, ChildProcess>();
  private readonly exits = new Map<string, Promise<void>>();

  private constructor(
    readonly baseDir: string,
    nodes: AgentNodeSpec[],
    private readonly options: AgentClusterOptions,
  ) {
    this.nodes = nodes;
  }

  private get placement(): AgentPlacement | undefined {
    return this.options.placement;
  }

  /** Write every node's configuration (nothing started). */
  static async create(options: AgentClusterOptions): Promise<AgentCluster> {
    await assertBuildFresh();
    const size = options.size ?? 3;
    await mkdir(options.baseDir, { recursive: true });
    // PostgreSQL (as its own OS user) must be able to reach its data directory inside.
    await chmod(options.baseDir, 0o755);
    const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const nodes = await Promise.all(names.map((name) => nodeSpec(options, name, options.placement?.host(name) ?? '127.0.0.1')));
    for (const node of nodes) await writeNodeConfig(options, node, nodes, size);
    return new AgentCluster(options.baseDir, nodes, options);
  }

  /**
   * Write the configuration of a new node `name` (on `host`, default the
   * placement's) that joins the running cluster: its peer list is every
   * node this harness knows, and it is not among the initial voters, so it
   * asks them to let it join. Start it with start(name).
   */
  async addNode(name: string, host = this.placement?.host(name) ?? '127.0.0.1'): Promise<AgentNodeSpec> {
    if (this.nodes.some((n) => n.name === name)) throw new Error(`${name} already exists`);
    const node = await nodeSpec(this.options, name, host);
    this.nodes.push(node);
    await writeNodeConfig(this.options, node, this.nodes, this.options.size ?? 3);
    return node;
  }

  /** An admin client as pgherdctl -c <name's config> connects: that agent first, then its peers. */
  async admin(name = this.nodes[0]!.name): Promise<AdminClient> {
    return AdminClient.connect(configTarget(this.node(name).configFile, {}).connect);
  }

  /** Drop a node that is dead for good (replaced) from this harness: it is no longer started, sampled or checked. */
  forget(name: string): void {
    if (this.running(name)) throw new Error(`${name} is still running`);
    const index = this.nodes.findIndex((n) => n.name === name);
    if (index < 0) throw new Error(`no node ${name}`);
    this.nodes.splice(index, 1);
    this.children.delete(name);
  }

  node(name: string): AgentNodeSpec {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  /** The launched process: the agent itself, unless the placement wraps it. */
  pid(name: string): number | undefined {
    return this.children.get(name)?.pid;
  }

  /** The agent's own process, to signal. */
  async agentPid(name: string): Promise<number | undefined> {
    if (!this.running(name)) return undefined;
    if (this.placement?.launchWrapsAgent !== true) return this.pid(name);
    const configFile = this.node(name).configFile;
    const wrapper = this.pid(name);
    // The wrapper's own command line may carry the agent's words.
    return (await processesWhere((pid, argv) => pid !== wrapper && argv.includes(CLI) && argv.includes('run') && argv.includes(configFile)))[0];
  }

  running(name: string): boolean {
    const child = this.children.get(name);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async startAll(): Promise<void> {
    for (const node of this.nodes) this.start(node.name);
  }

  /** Start (or restart) one agent; its output is appended to <baseDir>/<name>.log. */
  start(name: string): void {
    if (this.running(name)) throw new Error(`${name} is already running`);
    const node = this.node(name);
    const log = createWriteStream(node.logFile, { flags: 'a' });
    const argv = [process.execPath, CLI, 'run', '--config', node.configFile];
    const [command, ...args] = this.placement?.launch(name, argv) ?? argv;
    const child = spawn(command!, args, {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C at the terminal reaches the harness, which stops the agents in order.
      detached: true,
      // The agents read PGHERD_* as configuration: only the file written here configures them.
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PGHERD_'))),
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.children.set(name, child);
    this.exits.set(
      name,
      new Promise((resolve) => child.once('exit', () => {
        log.end();
        resolve();
      })),
    );
  }

  /** SIGTERM and wait for the agent to exit (it stops its PostgreSQL first). */
  async stop(name: string, timeoutMs = 60_000): Promise<void> {
    const pid = await this.agentPid(name);
    if (pid === undefined) return;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
    await this.exits.get(name);
    clearTimeout(timer);
  }

  /** SIGKILL the agent only (its PostgreSQL and fence keep running). */
  async killAgent(name: string): Promise<void> {
    const pid = await this.agentPid(name);
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exits.get(name);
  }

  /** The postmaster pid from the node's postmaster.pid, if any. */
  async postmasterPid(name: string): Promise<number | undefined> {
    try {
      const text = await readFile(join(this.node(name).dir, 'pgdata', 'postmaster.pid'), 'utf8');
      const pid = Number(text.split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL PostgreSQL alone (postmaster and every backend): a crash under a live agent. */
  async killPostgres(name: string): Promise<void> {
    const postmaster = await this.postmasterPid(name);
    if (postmaster === undefined) return;
    const children = await childrenOf(postmaster);
    for (const pid of [postmaster, ...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /**
   * Signal every process of a node, as a frozen or dead host would be: the
   * agent, its fence, the postmaster and each of its children. Backends
   * run in sessions of their own (PostgreSQL calls setsid), so signalling
   * the postmaster's process group would leave open connections writing.
   */
  async signalHost(name: string, signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): Promise<void> {
    const send = (pid: number): void => {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    };
    // A STOP or KILL hits the agent and the fence first: between two signals a live agent would see its
    // postmaster gone and start a new one, outside the set being signalled (a "dead" host serving on).
    // Then the postmaster (it forks no new backend after), then its children. A CONT wakes PostgreSQL
    // first, so the agent wakes to the server it left.
    const supervisors = [await this.agentPid(name), await this.fencePid(name)].filter((p): p is number => p !== undefined);
    if (signal !== 'SIGCONT') supervisors.forEach(send);
    const postmaster = await this.postmasterPid(name);
    if (postmaster !== undefined) {
      send(postmaster);
      for (const child of await childrenOf(postmaster)) send(child);
    }
    if (signal === 'SIGCONT') supervisors.forEach(send);
    if (signal === 'SIGKILL') await this.exits.get(name);
  }

  /** Every process whose command line names the node's directory: what a dead host must not have left running. */
  async processesOf(name: string): Promise<number[]> {
    const dir = this.node(name).dir;
    return processesWhere((_pid, argv) => argv.some((arg) => arg === dir || arg.includes(`${dir}/`)));
  }

  /** The node's fence process: the one whose command line names this node's fence socket. */
  async fencePid(name: string): Promise<number | undefined> {
    const marker = `--socket=${join(this.node(name).dir, 'fence')}/`;
    return (await processesWhere((_pid, argv) => argv.some((arg) => arg.includes('fence-process')) && argv.some((arg) => arg.startsWith(marker))))[0];
  }

  async status(name: string, timeoutMs = 1_000): Promise<NodeStatus> {
    const node = this.node(name);
    try {
      const response = await fetch(`http://${node.host}:${node.httpPort}/cluster`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await response.json()) as { node: Omit<NodeStatus, 'name' | 'reachable'>; raftLeader?: string | null };
      return { ...body.node, name, reachable: true, raftLeader: body.raftLeader ?? null };
    } catch {
      return { name, reachable: false, role: 'unknown', state: 'unreachable', timeline: null, lsn: null, isPrimary: false, lagBytes: null, leaseRemainingMs: null, lastAction: '', lastReason: '', refused: null, raftLeader: null };
    }
  }

  async statuses(): Promise<NodeStatus[]> {
    return Promise.all(this.nodes.map((n) => this.status(n.name)));
  }

  /** libpq connection string over every node, for the writable one. */
  connectionString(): string {
    const hosts = this.nodes.map((n) => `${n.host}:${n.pgPort}`).join(',');
    return `postgresql://postgres@${hosts}/postgres?target_session_attrs=read-write&connect_timeout=2`;
  }

  /** The superuser password file an agent writes once the cluster is initialized. */
  passfile(name = 'n1'): string {
    return join(this.node(name).dir, 'pgpass');
  }

  /** The superuser's password, from the operator password file an agent writes (`*:*:*:postgres:<password>`). */
  async superuserPassword(name: string): Promise<string> {
    const line = (await readFile(this.passfile(name), 'utf8')).trim();
    return line.split(':').slice(4).join(':');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stop(n.name)));
  }

  /** Last resort in teardown: SIGKILL every agent, fence and postmaster this cluster started. */
  async killAll(): Promise<void> {
    for (const node of this.nodes) {
      await this.signalHost(node.name, 'SIGCONT');
      await this.signalHost(node.name, 'SIGKILL');
    }
  }
}

/** Exactly one writable primary and every other node of `statuses` a streaming replica: who is which; undefined otherwise. */
export function healthyOf(statuses: readonly NodeStatus[]): { primary: string; replicas: string[] } | undefined {
  const primaries = statuses.filter((s) => s.isPrimary);
  const replicas = statuses.filter((s) => !s.isPrimary && s.role === 'replica' && s.state === 'streaming');
  if (primaries.length !== 1 || replicas.length !== statuses.length - 1) return undefined;
  return { primary: primaries[0]!.name, replicas: replicas.map((r) => r.name) };
}

/** Direct children of `pid` (from /proc/<pid>/stat's ppid field). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const candidate of await processIds()) {
    const stat = await readFile(`/proc/${candidate}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) children.push(candidate);
  }
  return children;
}

/** The processes of this machine whose command line (argv) satisfies `match`. */
async function processesWhere(match: (pid: number, argv: readonly string[]) => boolean): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await processIds()) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (match(pid, argv)) found.push(pid);
  }
  return found;
}

/** Every process id in /proc. */
async function processIds(): Promise<number[]> {
  return (await readdir('/proc')).filter((entry) => /^[0-9]+$/.test(entry)).map(Number);
}

async function nodeSpec(options: AgentClusterOptions, name: string, host: string): Promise<AgentNodeSpec> {
  const dir = join(options.baseDir, name);
  const [raftPort, httpPort, pgPort] = [await freePort(), await freePort(), await freePort()];
  return { name, host, dir, raftPort, httpPort, pgPort, configFile: join(options.baseDir, `${name}.yaml`), logFile: join(options.baseDir, `${name}.log`) };
}

/** One node's agent configuration; `bootstrapExpect` initial voters: the first of `peers` by name. */
async function writeNodeConfig(options: AgentClusterOptions, node: AgentNodeSpec, peers: readonly AgentNodeSpec[], bootstrapExpect: number): Promise<void> {
  const config = {
    name: node.name,
    cluster_name: 'demo',
    data_dir: node.dir,
    raft: { bind: `${node.host}:${node.raftPort}`, peers: peers.map((n) => `${n.name}@${n.host}:${n.raftPort}`), bootstrap_expect: bootstrapExpect, ...options.raft },
    postgresql: { listen: node.host, port: node.pgPort, client_cidrs: [...(options.placement?.clientCidrs ?? ['127.0.0.1/32'])], parameters: { max_connections: 50, shared_buffers: '128MB' } },
    http: { listen: `${node.host}:${node.httpPort}` },
    bootstrap: { dynamic: { ...options.dynamic } },
    tls: { local_ca_dir: join(options.baseDir, 'ca') },
    log: { level: options.logLevel ?? 'info' },
    ...options.perNode?.(node.name),
  };
  await writeFile(node.configFile, YAML.stringify(config));
}

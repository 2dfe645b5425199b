import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AgentPlacement } from '../../scripts/lib/agent-cluster.js';
import { ensureImage, LABEL_PREFIX } from '../docker/image.js';
import { CHAOS_CHAIN, IptablesFaultHosts, IptablesFaults, type HostExec } from './iptables.js';
import { freeOctet, usedOctets } from './subnet.js';
import type { ChaosHost, ChaosHosts } from './types.js';

const run = promisify(execFile);

/**
 * Separate hosts as Docker containers, one per node, on a user-defined
 * network of their own with a fixed address each. Needs root, the docker
 * client and a daemon on this machine (DOCKER_HOST is honoured; on a
 * machine without one, chaos/docker/dockerd.sh starts a private one).
 *
 * No registry is used: the image is a few kilobytes imported from a local
 * root filesystem (../docker/image.ts) and every container mounts this
 * machine's /usr read-only, so node, PostgreSQL and iptables are the
 * host's. The repository and the cluster's directory are mounted at the
 * same paths, so the agent runs with the same command line, configuration
 * and data directories as anywhere else.
 *
 * The containers share this machine's PID namespace (--pid=host): the
 * agent, its fence, the postmaster and the backends have their real PIDs
 * here, so the harness finds them (/proc, postmaster.pid) and freezes or
 * kills them with signals, as on the other backends. A container lives as
 * long as its agent: `docker run --rm`, attached, so the launched client
 * exits when the agent does. Each start is a new container (a fresh name;
 * same address), since the previous one may still be going away.
 *
 * Network faults are the shared iptables rules (./iptables.ts), run with
 * `docker exec` in the node's current container (NET_ADMIN is granted).
 * Each container installs the (empty) chain before it execs its program;
 * a node that is down has no rules, and one started again starts with none
 * (the rules its peers hold against it stay until the heal).
 *
 * Everything made carries labels with a prefix unique to the run and the
 * creator's PID: `destroy` removes this run's containers and network (the
 * image stays, for the next run), `sweepStaleDocker` what dead runs left.
 */

export type DockerHost = ChaosHost;

export interface DockerHostsOptions {
  /** Node names, e.g. n1..n3. */
  readonly nodes: readonly string[];
  /** The directory the nodes' files live under (configs, data directories): mounted at the same path. */
  readonly baseDir: string;
  /** Third octet of 10.232.X.0/24; default: the first one no interface or Docker network of this machine uses. */
  readonly subnetOctet?: number;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const RUN_LABEL = `${LABEL_PREFIX}.run`;
const PID_LABEL = `${LABEL_PREFIX}.pid`;
const START_LABEL = `${LABEL_PREFIX}.pidstart`;
/** Environment variables Docker sets itself in a container. */
const OWN_ENV = new Set(['HOSTNAME', 'HOME']);
/** How long a fault waits for a just-launched node's container to be running. */
const STARTING_MS = 15_000;

export class DockerHosts extends IptablesFaultHosts implements ChaosHosts {
  readonly kind = 'docker';
  private destroyed = false;
  protected readonly faults: IptablesFaults;
  /** Each node's latest container (the one launched last). */
  private readonly current = new Map<string, string>();
  private readonly seenRunning = new Set<string>();
  private starts = 0;

  private constructor(
    /** Unique to the run: the network's and every container's name start with it. */
    readonly prefix: string,
    /** The run's labels (prefix, creator PID and start time), on the network and every container. */
    private readonly labels: readonly string[],
    readonly network: string,
    readonly image: string,
    readonly cidr: string,
    readonly gateway: string,
    readonly hosts: readonly DockerHost[],
    /** The host's iptables command under /usr (not through /etc/alternatives, which the containers lack). */
    private readonly iptables: string,
    /** Directories every container mounts at the same path: [path, read-only]. */
    private readonly mounts: readonly (readonly [string, boolean])[],
    /** The shell commands that install the fault chain, run in each container before its program. */
    private readonly chainScript: string,
  ) {
    super();
    const exec: HostExec = (host, command, args) => this.faultExec(host, command, args);
    // The workload connects from this machine: from the network's gateway address.
    this.faults = new IptablesFaults(exec, hosts, gateway);
  }

  get placement(): AgentPlacement {
    return {
      host: (name) => this.host(name).address,
      clientCidrs: [this.cidr],
      launch: (name, argv) => this.launch(name, argv),
      launchWrapsAgent: true,
    };
  }

  /** Whether this machine can run the docker backend: root, the docker client, a daemon answering, iptables. */
  static async available(): Promise<{ ok: true } | { ok: false; why: string }> {
    if (process.getuid?.() !== 0) return { ok: false, why: 'the docker backend needs root (agents run as root in containers sharing this machine\'s PIDs)' };
    try {
      await run('docker', ['--version']);
    } catch {
      return { ok: false, why: 'the docker client is missing (Debian: apt-get install -y docker.io)' };
    }
    try {
      await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
    } catch (error) {
      const where = process.env.DOCKER_HOST ? `at DOCKER_HOST=${process.env.DOCKER_HOST}` : 'at the default socket (DOCKER_HOST is not set)';
      const stderr = ((error as { stderr?: string }).stderr ?? '').trim().split('\n')[0] ?? '';
      return { ok: false, why: `no Docker daemon answers ${where}${stderr ? ` (${stderr})` : ''}: start one with \`eval "$(chaos/docker/dockerd.sh start)"\`` };
    }
    try {
      await hostIptables();
    } catch (error) {
      return { ok: false, why: (error as Error).message };
    }
    return { ok: true };
  }

  /** Build or find the image, and make the network (containers are started by the harness through `placement.launch`). */
  static async create(options: DockerHostsOptions): Promise<DockerHosts> {
    const { tag } = await ensureImage();
    const iptables = await hostIptables();
    const mounts = await sharedMounts(resolve(options.baseDir));
    const prefix = `pgherd-chaos-${process.pid}-${randomBytes(3).toString('hex')}`;
    const network = `${prefix}-net`;
    const labels = ['--label', `${RUN_LABEL}=${prefix}`, '--label', `${PID_LABEL}=${process.pid}`, '--label', `${START_LABEL}=${await processStart(process.pid)}`];
    // A subnet nothing else uses; Docker refuses an overlap with its other networks: then the next one.
    const used = await usedDockerOctets();
    let octet = options.subnetOctet;
    for (let attempt = 0; ; attempt++) {
      octet ??= freeOctet(used, '10.232', 'run sweepStaleDocker() or remove old chaos networks');
      const subnet = `10.232.${octet}`;
      try {
        // --internal: the containers reach each other and this machine, nothing beyond.
        await docker('network', 'create', '--driver', 'bridge', '--internal', '--subnet', `${subnet}.0/24`, '--gateway', `${subnet}.1`, ...labels, network);
        const hosts = options.nodes.map((name, i) => ({ name, address: `${subnet}.${i + 2}` }));
        return new DockerHosts(prefix, labels, network, tag, `${subnet}.0/24`, `${subnet}.1`, hosts, iptables, mounts, await chainScript(iptables, hosts));
      } catch (error) {
        if (options.subnetOctet !== undefined || attempt >= 5 || !/overlap|in use/i.test((error as Error).message)) throw error;
        used.add(octet);
        octet = undefined;
      }
    }
  }

  host(name: string): DockerHost {
    const host = this.hosts.find((h) => h.name === name);
    if (host === undefined) throw new Error(`no host ${name} (hosts: ${this.hosts.map((h) => h.name).join(', ')})`);
    return host;
  }

  renameHost(): void {
    // A replacement would need the dead container's address while Docker may still hold it.
    throw new Error('replacing a node is not supported on the docker backend (netns only)');
  }

  /** The node's current container (the one its latest start made), if it was ever started. */
  container(name: string): string | undefined {
    this.host(name);
    return this.current.get(name);
  }

  /**
   * The command line that runs `argv` in a new container for `name`: the
   * `docker run` client stays attached (the agent's output is its output)
   * and exits with the agent; the container is then removed.
   */
  launch(name: string, argv: readonly string[]): string[] {
    if (this.destroyed) throw new Error('the docker hosts are destroyed');
    const host = this.host(name);
    const container = `${this.prefix}-${name}-${++this.starts}`;
    this.current.set(name, container);
    const mounts = [...this.mounts];
    // The cluster's files (the agent's --config) may live elsewhere than baseDir (e.g. a harness's own temp dir).
    const config = argv.includes('--config') ? argv[argv.indexOf('--config') + 1] : undefined;
    if (config !== undefined && isAbsolute(config) && !mounts.some(([dir]) => inside(dir, config))) mounts.push([dirname(config), false]);
    // A file the environment names (NODE_EXTRA_CA_CERTS) is there too.
    const extraCerts = process.env.NODE_EXTRA_CA_CERTS;
    if (extraCerts !== undefined && isAbsolute(extraCerts) && existsSync(extraCerts) && !mounts.some(([dir]) => inside(dir, extraCerts))) mounts.push([extraCerts, true]);
    const program = argv[0];
    if (program !== undefined && isAbsolute(program) && !inside('/usr', program) && !mounts.some(([dir]) => inside(dir, program))) mounts.push([dirname(program), true]);
    return [
      'docker', 'run', '--rm',
      '--name', container,
      ...this.labels,
      '--label', `${LABEL_PREFIX}.node=${name}`,
      '--hostname', name,
      '--network', this.network,
      '--ip', host.address,
      // The agent, fence, postmaster and backends keep this machine's PIDs: the harness signals them.
      '--pid=host',
      // iptables for the network faults.
      '--cap-add', 'NET_ADMIN',
      // The agent (root) runs PostgreSQL as the postgres user: Docker's default capabilities switch user (SETUID,
      // SETGID), chown the data directory and signal the server (KILL), but reading /proc/<postmaster>/cwd, by
      // which the agent tells its live postmaster from a recycled PID, needs SYS_PTRACE for another user's process.
      '--cap-add', 'SYS_PTRACE',
      // PostgreSQL's dynamic shared memory is in /dev/shm (Docker's default is 64 MB).
      '--shm-size', '256m',
      '-v', '/usr:/usr:ro',
      ...mounts.flatMap(([dir, readOnly]) => ['-v', `${dir}:${dir}${readOnly ? ':ro' : ''}`]),
      '-w', REPO,
      // The environment the client is started with passes through (`-e NAME` takes the client's value, if any).
      ...Object.keys(process.env).filter((key) => !OWN_ENV.has(key) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)).flatMap((key) => ['-e', key]),
      this.image,
      // A fresh container gets the (empty) fault chain, then becomes the program: exec keeps the PID and the
      // program's command line, by which the harness finds the agent. The program's words are inside the
      // script, not words of this command line: the `docker run` client must not pass for the agent.
      '/bin/sh', '-c', `${this.chainScript} && exec ${argv.map(shellQuote).join(' ')}`,
    ];
  }

  /** Run a command in `name`'s current container to completion; undefined when the node is down. */
  async exec(name: string, command: string, args: readonly string[]): Promise<string | undefined> {
    const container = await this.runningContainer(name);
    if (container === undefined) return undefined;
    try {
      return (await docker('exec', container, command, ...args)).stdout;
    } catch (error) {
      if (!(await this.isRunning(container))) return undefined;
      throw error;
    }
  }

  /** Remove this run's containers (killing what runs in them) and its network; the image stays. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await removeLabelled(`${RUN_LABEL}=${this.prefix}`);
  }

  /** A fault's command on a host: in the node's current container; nothing on a node that is down. */
  private async faultExec(name: string, command: string, args: readonly string[]): Promise<void> {
    const container = await this.runningContainer(name);
    if (container === undefined) return;
    const program = command === 'iptables' ? this.iptables : command;
    try {
      await docker('exec', container, program, ...args);
    } catch (error) {
      // The node went down meanwhile: nothing to do there.
      if (!(await this.isRunning(container))) return;
      throw error;
    }
  }

  /** The node's current container once it runs; undefined if it was never started or is gone. */
  private async runningContainer(name: string): Promise<string | undefined> {
    const container = this.container(name);
    if (container === undefined || this.destroyed) return undefined;
    if (this.seenRunning.has(container)) return container;
    // Just launched: wait for it to come up (a start right before a fault), but not for one that is gone.
    const deadline = performance.now() + STARTING_MS;
    for (;;) {
      const state = await containerState(container);
      // Running, and its shell has made the chain (it does so before it execs the program).
      if (state === 'running' && (await docker('exec', container, this.iptables, '-S', CHAOS_CHAIN).then(() => true, () => false))) {
        this.seenRunning.add(container);
        return container;
      }
      if (state === 'exited' || state === 'dead' || performance.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async isRunning(container: string): Promise<boolean> {
    return (await containerState(container)) === 'running';
  }
}

/** The commands IptablesFaults.install runs on a fresh host, as one shell command line. */
async function chainScript(iptables: string, hosts: readonly ChaosHost[]): Promise<string> {
  const commands: string[] = [];
  const record: HostExec = async (_host, command, args) => {
    commands.push([command === 'iptables' ? iptables : command, ...args].map(shellQuote).join(' '));
  };
  await new IptablesFaults(record, hosts, '').install(hosts[0]?.name ?? '');
  return commands.join(' && ');
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Remove what runs that died without tearing down left: containers and
 * networks labelled with a creator process that is gone (its PID free, or
 * taken by a process started at another time). Returns their names.
 */
export async function sweepStaleDocker(): Promise<string[]> {
  const format = `{{.Label "${RUN_LABEL}"}}|{{.Label "${PID_LABEL}"}}|{{.Label "${START_LABEL}"}}`;
  const { stdout: containers } = await docker('ps', '-a', '--filter', `label=${RUN_LABEL}`, '--format', format);
  const { stdout: networks } = await docker('network', 'ls', '--filter', `label=${RUN_LABEL}`, '--format', format);
  const runs = new Map<string, { pid: string; start: string }>();
  for (const line of `${containers}\n${networks}`.split('\n').filter(Boolean)) {
    const [prefix = '', pid = '', start = ''] = line.split('|');
    if (prefix !== '') runs.set(prefix, { pid, start });
  }
  const removed: string[] = [];
  for (const [prefix, creator] of runs) {
    if (!/^\d+$/.test(creator.pid)) continue;
    const start = await processStart(Number(creator.pid)).catch(() => undefined);
    if (start !== undefined && (creator.start === '' || start === creator.start)) continue;
    removed.push(...(await removeLabelled(`${RUN_LABEL}=${prefix}`)));
  }
  return removed;
}

/** Remove every container and network with this label; returns their names. */
async function removeLabelled(label: string): Promise<string[]> {
  const removed: string[] = [];
  const { stdout: containers } = await docker('ps', '-a', '--filter', `label=${label}`, '--format', '{{.Names}}').catch(() => ({ stdout: '' }));
  const names = containers.split('\n').filter(Boolean);
  if (names.length > 0) {
    await docker('rm', '-f', ...names).catch(() => undefined);
    removed.push(...names);
  }
  const { stdout: networks } = await docker('network', 'ls', '--filter', `label=${label}`, '--format', '{{.Name}}').catch(() => ({ stdout: '' }));
  for (const network of networks.split('\n').filter(Boolean)) {
    // A container being removed may hold its endpoint a moment longer.
    for (let attempt = 0; ; attempt++) {
      try {
        await docker('network', 'rm', network);
        removed.push(network);
        break;
      } catch (error) {
        if (/no such network|not found/i.test((error as Error).message)) break;
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  return removed;
}

async function containerState(container: string): Promise<string | undefined> {
  try {
    return (await run('docker', ['inspect', '--format', '{{.State.Status}}', container])).stdout.trim();
  } catch {
    return undefined;
  }
}

async function docker(...args: string[]): Promise<{ stdout: string }> {
  try {
    const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
    return { stdout };
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`docker ${args.join(' ')}: ${stderr || (error as Error).message}`);
  }
}

/**
 * The iptables command as a path that resolves inside /usr alone: Debian
 * reaches iptables-nft or iptables-legacy through /etc/alternatives, which
 * the containers (this machine's /usr, an image's own /etc) do not have.
 */
async function hostIptables(): Promise<string> {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(['/usr/sbin', '/sbin']);
  let found: string | undefined;
  for (const dir of dirs) {
    const candidate = join(dir, 'iptables');
    if (await lstat(candidate).then(() => true, () => false)) {
      found = candidate;
      break;
    }
  }
  if (found === undefined) throw new Error('iptables is missing (Debian: apt-get install -y iptables)');
  // Follow the links; keep the first path from which the rest of the chain stays under /usr.
  const chain = [found];
  for (let path = found; (await lstat(path)).isSymbolicLink(); ) {
    path = resolve(dirname(path), await readlink(path));
    chain.push(path);
    if (chain.length > 16) throw new Error(`${found}: too many symbolic links`);
  }
  let answer = chain[chain.length - 1]!;
  for (let i = chain.length - 1; i >= 0 && inside('/usr', chain[i]!); i--) answer = chain[i]!;
  if (!inside('/usr', answer)) throw new Error(`${found} resolves to ${answer}, outside /usr, which the containers cannot run`);
  return answer;
}

/** Directories every container mounts at the same path: the repository (and its node_modules, when a link elsewhere), the run's directory. */
async function sharedMounts(baseDir: string): Promise<[string, boolean][]> {
  const mounts: [string, boolean][] = [[REPO, false]];
  const modules = await realpath(join(REPO, 'node_modules')).catch(() => undefined);
  if (modules !== undefined && !inside(REPO, modules)) mounts.push([modules, true]);
  if (!inside(REPO, baseDir)) mounts.push([baseDir, false]);
  return mounts;
}

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** 10.232.X.0/24 subnets already in use: addresses of this machine's interfaces and Docker's networks. */
async function usedDockerOctets(): Promise<Set<number>> {
  const { stdout: ids } = await docker('network', 'ls', '-q');
  const list = ids.split('\n').filter(Boolean);
  const subnets = list.length === 0 ? '' : (await docker('network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}', ...list)).stdout;
  return usedOctets('10.232', subnets);
}

/** A process's start time (field 22 of /proc/PID/stat): with the PID, it names the process even after the PID is reused. */
async function processStart(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';
import type { AgentPlacement } from '../../scripts/lib/agent-cluster.js';
import { IptablesFaultHosts, IptablesFaults } from './iptables.js';
import { freeOctet, usedOctets } from './subnet.js';
import type { ChaosHost, ChaosHosts, CutMode } from './types.js';

const run = promisify(execFile);

/**
 * Separate hosts on one Linux machine: one network namespace per node, each
 * with its own address on a bridge that this module creates (and a bridge
 * address in the root namespace, where the workload runs). Everything it
 * creates carries one short prefix unique to the run, so teardown — also
 * after a crash of the run, through `sweepStale` — removes exactly what
 * this run made. Needs root and iproute2 + iptables.
 *
 * Partitions are iptables rules inside the namespaces (./iptables.ts).
 */

export interface NetnsHost extends ChaosHost {
  readonly namespace: string;
}

export interface NetnsNetworkOptions {
  /** Node names, e.g. n1..n3. */
  readonly nodes: readonly string[];
  /** Third octet of 10.231.X.0/24; default: the first one no interface of this machine uses. */
  readonly subnetOctet?: number;
}

/** Interface names are at most 15 characters: prefix (8) + suffix. */
const PREFIX_MARK = 'phc';

export type { CutMode };

export class NetnsNetwork extends IptablesFaultHosts implements ChaosHosts {
  readonly kind = 'netns';
  private destroyed = false;
  protected readonly faults: IptablesFaults;

  private constructor(
    readonly prefix: string,
    readonly bridge: string,
    readonly bridgeAddress: string,
    readonly hosts: readonly NetnsHost[],
  ) {
    super();
    this.faults = new IptablesFaults((host, command, args) => this.exec(host, command, args), hosts, bridgeAddress);
  }

  /** The subnet of the bridge: the nodes and the root namespace's address. */
  get cidr(): string {
    return `${this.bridgeAddress.replace(/\.\d+$/, '.0')}/24`;
  }

  get placement(): AgentPlacement {
    return { host: (name) => this.host(name).address, clientCidrs: [this.cidr], launch: (name, argv) => this.launch(name, argv) };
  }

  /** The command line that runs `argv` inside `name`'s namespace (`ip netns exec` execs it: the PID is the program's). */
  launch(name: string, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.host(name).namespace, ...argv];
  }

  /** Whether this machine can run the netns backend: root, `ip` and `iptables` present. */
  static async available(): Promise<{ ok: true } | { ok: false; why: string }> {
    if (process.getuid?.() !== 0) return { ok: false, why: 'network namespaces need root' };
    for (const [tool, flag] of [['ip', '-V'], ['iptables', '--version']] as const) {
      try {
        await run(tool, [flag]);
      } catch {
        return { ok: false, why: `${tool} is missing (Debian: apt-get install -y iproute2 iptables)` };
      }
    }
    return { ok: true };
  }

  /** Create the bridge, one namespace and veth pair per node, addresses, loopback, and the chaos chain in each namespace. */
  static async create(options: NetnsNetworkOptions): Promise<NetnsNetwork> {
    const id = process.pid.toString(36).slice(-5).padStart(5, '0');
    const prefix = `${PREFIX_MARK}${id}`;
    const octet = options.subnetOctet ?? freeOctet(await usedOctets('10.231'), '10.231', 'run sweepStale() or remove old chaos bridges');
    const subnet = `10.231.${octet}`;
    const bridge = `${prefix}br`;
    const hosts = options.nodes.map((name, i) => ({ name, namespace: `${prefix}-${name}`, address: `${subnet}.${i + 1}` }));
    const network = new NetnsNetwork(prefix, bridge, `${subnet}.254`, hosts);
    try {
      await ip('link', 'add', bridge, 'type', 'bridge');
      await ip('addr', 'add', `${network.bridgeAddress}/24`, 'dev', bridge);
      await ip('link', 'set', bridge, 'up');
      // Traffic between the namespaces crosses the bridge: if something (dockerd) set the root
      // namespace's FORWARD policy to DROP with bridge netfilter on, it would vanish silently.
      await run('iptables', forwardRule('-I', bridge));
      for (const [i, host] of hosts.entries()) {
        const outside = `${prefix}v${i}`;
        await ip('netns', 'add', host.namespace);
        await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
        await ip('link', 'set', outside, 'master', bridge, 'up');
        await network.exec(host.name, 'ip', ['addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        await network.exec(host.name, 'ip', ['link', 'set', 'eth0', 'up']);
        await network.exec(host.name, 'ip', ['link', 'set', 'lo', 'up']);
        await network.faults.install(host.name);
      }
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  host(name: string): NetnsHost {
    const host = this.hosts.find((h) => h.name === name);
    if (host === undefined) throw new Error(`no host ${name} (hosts: ${this.hosts.map((h) => h.name).join(', ')})`);
    return host;
  }

  renameHost(oldName: string, newName: string): void {
    const hosts = this.hosts as NetnsHost[];
    const index = hosts.indexOf(this.host(oldName));
    if (hosts.some((h) => h.name === newName)) throw new Error(`host ${newName} exists already`);
    hosts[index] = { ...hosts[index]!, name: newName };
  }

  /** Run a command inside `name`'s namespace to completion; rejects with its stderr on failure. */
  async exec(name: string, command: string, args: readonly string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', this.host(name).namespace, command, ...args]);
    return stdout;
  }

  /** Start a long-running process inside `name`'s namespace (the caller owns it and stops it by PID). */
  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const [ipCommand, ...rest] = this.launch(name, [command, ...args]);
    return spawn(ipCommand!, rest, options);
  }

  /** Delete the namespaces (their veth ends go with them) and the bridge. Idempotent; never throws for what is already gone. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    // A namespace lives on, with its veth (and so its name), while any process is inside it: a
    // postmaster or fence still exiting made the next run's `ip link add` fail with "File exists".
    for (const host of this.hosts) await killInside(host.namespace);
    for (const host of this.hosts) await ip('netns', 'del', host.namespace).catch(() => undefined);
    await ip('link', 'del', this.bridge).catch(() => undefined);
    await run('iptables', forwardRule('-D', this.bridge)).catch(() => undefined);
  }
}

/** SIGKILL every process inside our namespace `namespace` and wait (bounded) until none is left. */
async function killInside(namespace: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { stdout } = await run('ip', ['netns', 'pids', namespace]).catch(() => ({ stdout: '' }));
    const pids = stdout.split('\n').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
    if (pids.length === 0 || Date.now() > deadline) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Remove what runs that died without tearing down left behind: namespaces
 * and bridges named with the chaos prefix whose creator process is gone.
 * Returns what it removed.
 */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  const { stdout: links } = await run('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  const stale = (prefix: string): boolean => {
    const pid = Number.parseInt(prefix.slice(PREFIX_MARK.length), 36);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  for (const line of namespaces.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = new RegExp(`^(${PREFIX_MARK}[0-9a-z]{5})-`).exec(name);
    if (match && stale(match[1]!)) {
      await ip('netns', 'del', name).catch(() => undefined);
      removed.push(name);
    }
  }
  for (const line of links.split('\n')) {
    const name = /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? '';
    const match = new RegExp(`^(${PREFIX_MARK}[0-9a-z]{5})br$`).exec(name);
    if (match && stale(match[1]!)) {
      await ip('link', 'del', name).catch(() => undefined);
      await run('iptables', forwardRule('-D', name)).catch(() => undefined);
      removed.push(name);
    }
  }
  return removed;
}

/** The root namespace's rule letting traffic between the hosts cross their bridge. */
function forwardRule(action: '-I' | '-D', bridge: string): string[] {
  return [action, 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (error as Error).message}`);
  }
}

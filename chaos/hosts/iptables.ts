import type { CutMode } from './types.js';

/**
 * Network faults as iptables rules on each host, in a chain of pgherd's
 * own (PGHERD-CHAOS) jumped to from INPUT and OUTPUT, so healing is
 * flushing that chain. A cut is a REJECT with a TCP reset by default, so a
 * cut connection fails at once; DROP is there for silent loss. The rules
 * are the same on every backend: only how a command reaches the host
 * differs (`ip netns exec`, `docker exec`).
 */

/** Runs `command args` on the named host; rejects on failure. */
export type HostExec = (host: string, command: string, args: readonly string[]) => Promise<unknown>;

export const CHAOS_CHAIN = 'PGHERD-CHAOS';

export class IptablesFaults {
  constructor(
    private readonly exec: HostExec,
    /** Every host's name and address. */
    private readonly hosts: readonly { name: string; address: string }[],
    /** The address the clients (the workload) come from. */
    private readonly clientAddress: string,
  ) {}

  /** Create the chain on a fresh host and hook it into INPUT and OUTPUT. */
  async install(host: string): Promise<void> {
    await this.exec(host, 'iptables', ['-N', CHAOS_CHAIN]);
    await this.exec(host, 'iptables', ['-A', 'INPUT', '-j', CHAOS_CHAIN]);
    await this.exec(host, 'iptables', ['-A', 'OUTPUT', '-j', CHAOS_CHAIN]);
    await this.passResets(host);
  }

  async cut(a: string, others: readonly string[], mode: CutMode = 'reject'): Promise<void> {
    for (const b of others) {
      await this.block(a, this.address(b), mode);
      await this.block(b, this.address(a), mode);
    }
  }

  async isolate(name: string, mode: CutMode = 'reject'): Promise<void> {
    await this.cut(name, this.hosts.filter((h) => h.name !== name).map((h) => h.name), mode);
    await this.block(name, this.clientAddress, mode);
  }

  async lossy(name: string, probability: number): Promise<void> {
    if (!(probability > 0 && probability < 1)) throw new Error(`packet loss probability must be in (0, 1), got ${probability}`);
    await this.exec(name, 'iptables', ['-A', CHAOS_CHAIN, '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP']);
  }

  async heal(): Promise<void> {
    for (const host of this.hosts) {
      await this.exec(host.name, 'iptables', ['-F', CHAOS_CHAIN]);
      await this.passResets(host.name);
    }
  }

  private address(name: string): string {
    const host = this.hosts.find((h) => h.name === name);
    if (host === undefined) throw new Error(`no host ${name} (hosts: ${this.hosts.map((h) => h.name).join(', ')})`);
    return host.address;
  }

  /**
   * First rule of the chain: TCP resets always pass, so the reset a REJECT
   * answers with reaches the connecting side instead of being dropped by
   * the rule for the opposite direction (a reset only ends a connection
   * the partition has cut anyway).
   */
  private async passResets(host: string): Promise<void> {
    await this.exec(host, 'iptables', ['-A', CHAOS_CHAIN, '-p', 'tcp', '--tcp-flags', 'RST', 'RST', '-j', 'RETURN']);
  }

  private async block(host: string, peer: string, mode: CutMode): Promise<void> {
    // tcp-reset only applies to TCP; everything else is dropped.
    if (mode === 'reject') {
      const reject = ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
      await this.exec(host, 'iptables', ['-A', CHAOS_CHAIN, '-s', peer, ...reject]);
      await this.exec(host, 'iptables', ['-A', CHAOS_CHAIN, '-d', peer, ...reject]);
    }
    await this.exec(host, 'iptables', ['-A', CHAOS_CHAIN, '-s', peer, '-j', 'DROP']);
    await this.exec(host, 'iptables', ['-A', CHAOS_CHAIN, '-d', peer, '-j', 'DROP']);
  }
}

/** The network faults of ChaosHosts, for a backend whose faults are these rules. */
export abstract class IptablesFaultHosts {
  protected abstract readonly faults: IptablesFaults;

  cut(a: string, others: readonly string[], mode: CutMode = 'reject'): Promise<void> {
    return this.faults.cut(a, others, mode);
  }

  /** Isolate `name` from every other node and from the clients (the workload). */
  isolate(name: string, mode: CutMode = 'reject'): Promise<void> {
    return this.faults.isolate(name, mode);
  }

  lossy(name: string, probability: number): Promise<void> {
    return this.faults.lossy(name, probability);
  }

  heal(): Promise<void> {
    return this.faults.heal();
  }
}

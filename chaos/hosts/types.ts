import type { AgentPlacement } from '../../scripts/lib/agent-cluster.js';

/** How a cut connection fails: at once with a TCP reset (as a host whose port is closed) or silently (as a dead link). */
export type CutMode = 'reject' | 'drop';

export interface ChaosHost {
  readonly name: string;
  /** The address the node's agent and PostgreSQL listen on and are reached at. */
  readonly address: string;
}

/**
 * Separate hosts for the chaos suite, whatever makes them (network
 * namespaces, Docker containers): where each node runs, how to start a
 * program on it, and the network faults between them. Process faults
 * (kill, freeze) are signals to the node's processes, which every backend
 * shows in this machine's PID namespace, so the agent harness sends them.
 */
export interface ChaosHosts {
  readonly kind: 'netns' | 'docker';
  readonly hosts: readonly ChaosHost[];
  /** The subnet of the hosts, where the workload's clients connect from too. */
  readonly cidr: string;
  /** Where the agent harness runs each node. */
  readonly placement: AgentPlacement;
  host(name: string): ChaosHost;
  /** Cut all traffic between `a` and each of `others`, both directions. */
  cut(a: string, others: readonly string[], mode?: CutMode): Promise<void>;
  /** Cut `name` off from every other node and from the clients. */
  isolate(name: string, mode?: CutMode): Promise<void>;
  /** Lose this fraction of the packets to and from `name` (0 < p < 1). */
  lossy(name: string, probability: number): Promise<void>;
  /** Remove every network fault. */
  heal(): Promise<void>;
  /**
   * The host of `oldName` (whose node is dead for good) is now `newName`'s:
   * a replacement node runs there. Throws on a backend that cannot.
   */
  renameHost(oldName: string, newName: string): void;
  /** Remove everything the backend made; idempotent, never throws for what is already gone. */
  destroy(): Promise<void>;
}

/**
 * The nemesis: injects one scheduled fault into a running cluster and
 * heals it. Process faults are signals to the node's real processes
 * (agent, fence, postmaster, backends), network faults are the hosts'
 * iptables rules; a switchover is asked of the real admin API while the
 * workload writes.
 */
import type { AgentCluster } from '../scripts/lib/agent-cluster.js';
import type { FaultKind } from './history.js';
import type { ChaosHosts } from './hosts/types.js';
import { partitionOf, resolveTarget, type Step } from './schedule.js';

export interface InjectedFault {
  readonly kind: FaultKind;
  readonly targets: readonly string[];
  readonly detail: string;
  /** Undo the fault (restart, resume, heal the network); nothing for a fault that heals itself. */
  heal(): Promise<void>;
}

export interface NemesisContext {
  readonly cluster: AgentCluster;
  readonly hosts: ChaosHosts;
  /** The current primary, as the agents report it (null: none right now). */
  readonly primary: string | null;
  /** replace-node: the name the replacement gets (it must sort after the initial members: it joins, it does not bootstrap). */
  readonly replacementName: () => string;
  /** replace-node: `oldName` is gone for good, `newName` runs on its host. */
  readonly replaced: (oldName: string, newName: string) => void;
}

/** How long the nemesis keeps asking to remove a dead member (an election or a sync change may refuse it for a moment). */
const REMOVE_MS = 60_000;

export async function inject(step: Step, ctx: NemesisContext): Promise<InjectedFault> {
  const { cluster, hosts } = ctx;
  const names = cluster.nodes.map((n) => n.name);
  const target = resolveTarget(step.target, step.pick, names, ctx.primary);
  const role = target === ctx.primary ? 'primary' : 'replica';
  const nothing = async (): Promise<void> => undefined;
  switch (step.kind) {
    case 'kill-agent':
      await cluster.killAgent(target);
      return { kind: step.kind, targets: [target], detail: `kill -9 agent of ${target} (${role})`, heal: async () => cluster.start(target) };
    case 'kill-postgres':
      await cluster.killPostgres(target);
      return { kind: step.kind, targets: [target], detail: `kill -9 PostgreSQL of ${target} (${role})`, heal: nothing };
    case 'kill-host':
      await cluster.signalHost(target, 'SIGKILL');
      return { kind: step.kind, targets: [target], detail: `kill -9 every process of ${target} (${role})`, heal: async () => cluster.start(target) };
    case 'freeze-host':
      await cluster.signalHost(target, 'SIGSTOP');
      return { kind: step.kind, targets: [target], detail: `SIGSTOP every process of ${target} (${role})`, heal: () => cluster.signalHost(target, 'SIGCONT') };
    case 'isolate-primary':
    case 'isolate-replica':
      await hosts.isolate(target);
      return { kind: step.kind, targets: [target], detail: `${target} (${role}) cut off from peers and clients`, heal: () => hosts.heal() };
    case 'partition-halves':
    case 'partition-bridge':
    case 'partition-ring': {
      const shape = step.kind === 'partition-halves' ? 'halves' : step.kind === 'partition-bridge' ? 'bridge' : 'ring';
      const partition = partitionOf(shape, target, step.pick, names);
      for (const [a, b] of partition.cuts) await hosts.cut(a, [b]);
      return { kind: step.kind, targets: partition.targets, detail: partition.detail, heal: () => hosts.heal() };
    }
    case 'packet-loss': {
      const p = step.lossProbability ?? 0.3;
      await hosts.lossy(target, p);
      return { kind: step.kind, targets: [target], detail: `${Math.round(p * 100)}% packet loss on ${target} (${role})`, heal: () => hosts.heal() };
    }
    case 'replace-node':
      return replaceNode(target, role, ctx);
    case 'switchover': {
      const from = ctx.primary ?? target;
      const replicas = names.filter((n) => n !== from).sort();
      const candidate = step.toBest === true ? undefined : replicas[Math.floor(step.pick * replicas.length)];
      const admin = await cluster.admin(replicas[0] ?? from);
      try {
        const result = await admin.switchover({ ...(candidate ? { candidate } : {}), timeoutMs: 30_000, by: 'chaos nemesis' });
        return { kind: step.kind, targets: [from], detail: `switchover ${from} -> ${candidate ?? 'best'}: ${result.outcome}${result.to ? ` (${result.to})` : ''}`, heal: nothing };
      } catch (error) {
        // A refusal (no candidate caught up, say) is an answer, not a harness failure.
        return { kind: step.kind, targets: [from], detail: `switchover ${from} -> ${candidate ?? 'best'} refused: ${(error as Error).message.slice(0, 160)}`, heal: nothing };
      } finally {
        admin.close();
      }
    }
  }
}

/**
 * A host dies for good and is replaced, as an auto-scaling group would: kill
 * every process of `target`, remove it from the cluster through the admin
 * API, then start a new node (a new name, an empty data directory) on the
 * same host. It asks to join by itself, becomes a learner, then a voter,
 * and gets its data from the primary; the run waits until it streams.
 */
async function replaceNode(target: string, role: string, ctx: NemesisContext): Promise<InjectedFault> {
  const { cluster, hosts } = ctx;
  await cluster.signalHost(target, 'SIGKILL');
  const survivor = cluster.nodes.map((n) => n.name).find((n) => n !== target)!;
  const admin = await cluster.admin(survivor);
  let removal = '';
  try {
    const deadline = performance.now() + REMOVE_MS;
    for (;;) {
      try {
        const result = await admin.removeMember({ name: target, timeoutMs: 20_000, by: 'chaos nemesis' });
        removal = result.message;
        break;
      } catch (error) {
        if (performance.now() > deadline) throw new Error(`could not remove ${target} within ${REMOVE_MS / 1000} s: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  } finally {
    admin.close();
  }
  const host = cluster.node(target).host;
  const replacement = ctx.replacementName();
  cluster.forget(target);
  hosts.renameHost(target, replacement);
  await cluster.addNode(replacement, host);
  cluster.start(replacement);
  ctx.replaced(target, replacement);
  return { kind: 'replace-node', targets: [target], detail: `${target} (${role}) killed and removed (${removal}); ${replacement} joins on its host`, heal: async () => undefined };
}

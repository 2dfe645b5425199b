import type { ClusterStatus, LeaderView, MemberView } from '../../admin/types.js';
import type { MemberTags } from '../../cluster/state.js';
import { lagText, roleText, table, tagsText } from './render.js';

/**
 * `topology`: the members as a tree, pure. The cluster state records no
 * member's upstream (each replica streams from the primary: pgherd does
 * not set up cascading replication), so every member reporting itself a
 * replica hangs under the primary holding the leader key; the others
 * (starting, stopped, crashed, not reporting, or a primary without the key)
 * stand beside it, at the top, where an operator sees them at once.
 * Without a primary every member is at the top.
 */
export interface TopologyNode {
  readonly name: string;
  /** PostgreSQL host:port. */
  readonly host: string;
  /** It holds the leader key. */
  readonly primary: boolean;
  /** A recorded synchronous standby. */
  readonly sync: boolean;
  /** Its last reported role and state; null before its first report. */
  readonly role: string | null;
  readonly state: string | null;
  readonly timeline: number | null;
  readonly lagBytes: number | null;
  readonly tags: MemberTags;
  /** The members streaming from it. */
  readonly replicas: readonly TopologyNode[];
}

/** What `topology --json` prints. Field names are API: add, never rename. */
export interface Topology {
  readonly clusterName: string;
  readonly answeredBy: string;
  readonly linearizable: boolean;
  readonly staleReason: string | null;
  readonly leader: LeaderView | null;
  /** The roots: the primary first, then the members under no one. */
  readonly members: readonly TopologyNode[];
}

export function topologyOf(status: ClusterStatus): Topology {
  const primary = status.members.find((member) => member.primary);
  const streaming = (member: MemberView): boolean => primary !== undefined && !member.primary && member.status?.role === 'replica';
  const replicas = status.members.filter(streaming).map((member) => node(member, []));
  const others = status.members.filter((member) => member !== primary && !streaming(member)).map((member) => node(member, []));
  return {
    clusterName: status.clusterName,
    answeredBy: status.answeredBy,
    linearizable: status.linearizable,
    staleReason: status.staleReason,
    leader: status.leader,
    members: primary === undefined ? others : [node(primary, replicas), ...others],
  };
}

function node(member: MemberView, replicas: readonly TopologyNode[]): TopologyNode {
  return {
    name: member.name,
    host: `${member.registration.postgresHost}:${member.registration.postgresPort}`,
    primary: member.primary,
    sync: member.sync,
    role: member.status?.role ?? null,
    state: member.status?.state ?? null,
    timeline: member.status?.timeline ?? null,
    lagBytes: member.status?.lagBytes ?? null,
    tags: member.registration.tags,
    replicas,
  };
}

/** Like `patronictl topology`: the list table with each member indented under its upstream (`+ `). */
export function renderTopology(topology: Topology): string {
  const leader = topology.leader;
  const lines = [`Cluster: ${topology.clusterName} — ${leader === null ? 'no primary' : `primary ${leader.member} (epoch ${leader.epoch}, timeline ${leader.timeline})`} — answered by ${topology.answeredBy}`];
  if (!topology.linearizable && topology.staleReason !== null) lines.push(`Warning: this member's view, possibly stale (${topology.staleReason})`);
  const rows: string[][] = [];
  const walk = (nodes: readonly TopologyNode[], depth: number): void => {
    for (const n of nodes) {
      const name = depth === 0 ? n.name : `${'  '.repeat(depth - 1)}+ ${n.name}`;
      rows.push([name, n.host, roleText(n), n.state ?? 'no report', String(n.timeline ?? ''), lagText(n), tagsText(n.tags)]);
      walk(n.replicas, depth + 1);
    }
  };
  walk(topology.members, 0);
  lines.push(table(['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB', 'Tags'], rows, new Set([4, 5])));
  return `${lines.join('\n')}\n`;
}

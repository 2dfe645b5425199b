/**
 * A chaos run's schedule, drawn from its seed alone (pure): which faults,
 * in which order, held how long. Targets are roles ("the primary", "a
 * replica"), resolved when the fault is injected, with a number drawn here
 * picking among the candidates — so a seed replays the same schedule, and
 * the same choices wherever the cluster's roles are the same.
 */
import { SeededRng } from '../src/lib/random.js';
import type { FaultKind } from './history.js';

export type Profile = 'smoke' | 'full';
export const PROFILES: readonly Profile[] = ['smoke', 'full'];

/** Which node a fault hits: the primary, one replica, or any node. */
export type Selector = 'primary' | 'replica' | 'any';

export interface Step {
  readonly kind: FaultKind;
  readonly target: Selector;
  /** How long the fault is held before it is healed (0 for a fault with nothing to heal). */
  readonly holdMs: number;
  /** After the cluster is healthy again, how long to wait before the next step. */
  readonly settleMs: number;
  /** In [0, 1): picks among the nodes the selector allows (and the switchover candidate). */
  readonly pick: number;
  /** packet-loss: the fraction of packets lost. */
  readonly lossProbability?: number;
  /** switchover: to the best replica (true) or to the one `pick` chooses. */
  readonly toBest?: boolean;
}

export interface PlanOptions {
  readonly profile: Profile;
  readonly nodes: number;
  /** The backend can put a new node on a dead node's host (netns): replace-node is in the full profile. */
  readonly replaceNode?: boolean;
}

/**
 * The fault kinds a cluster of `nodes` can be given (the ring needs five:
 * with three every majority is everyone; replacing a node needs a backend
 * that can give the new node the dead one's host).
 */
export function faultKinds(nodes: number, replaceNode = false): FaultKind[] {
  const kinds: FaultKind[] = ['kill-agent', 'kill-postgres', 'kill-host', 'freeze-host', 'isolate-primary', 'isolate-replica', 'partition-halves', 'partition-bridge', 'packet-loss', 'switchover'];
  if (nodes >= 5) kinds.push('partition-ring');
  if (replaceNode) kinds.push('replace-node');
  return kinds;
}

/**
 * smoke (CI): three faults that each force a failover — the primary's host
 * killed, frozen and partitioned away — in an order drawn from the seed.
 * full: six faults drawn from every kind, each primary-hitting kind as
 * likely as the rest, holds of 3 to 12 s (past the ttl: a held fault
 * forces the failover it threatens). Replacing a node (a replica's host
 * dies for good; an operator removes it; a new node joins on that host)
 * has no hold: the next step waits until the new node streams.
 */
export function planRun(seed: number, options: PlanOptions): Step[] {
  const rng = new SeededRng(seed);
  const between = (min: number, max: number): number => min + rng.int(max - min + 1);
  if (options.profile === 'smoke') {
    const kinds: FaultKind[] = ['kill-host', 'freeze-host', 'isolate-primary'];
    shuffle(kinds, rng);
    return kinds.map((kind) => ({ kind, target: 'primary', holdMs: between(5_000, 8_000), settleMs: between(500, 2_000), pick: rng.next() }));
  }
  const kinds = faultKinds(options.nodes, options.replaceNode === true);
  const steps: Step[] = [];
  for (let i = 0; i < 6; i++) {
    const kind = kinds[rng.int(kinds.length)]!;
    const target: Selector =
      kind === 'isolate-primary' ? 'primary' : kind === 'isolate-replica' || kind === 'replace-node' ? 'replica' : (['primary', 'replica', 'any'] as const)[rng.int(3)]!;
    const base = { kind, target, settleMs: between(500, 3_000), pick: rng.next() };
    switch (kind) {
      case 'kill-postgres':
      case 'replace-node':
        steps.push({ ...base, holdMs: 0 });
        break;
      case 'switchover':
        steps.push({ ...base, target: 'primary', holdMs: 0, toBest: rng.next() < 0.5 });
        break;
      case 'packet-loss':
        steps.push({ ...base, holdMs: between(3_000, 12_000), lossProbability: [0.1, 0.3, 0.5][rng.int(3)]! });
        break;
      default:
        steps.push({ ...base, holdMs: between(3_000, 12_000) });
    }
  }
  return steps;
}

function shuffle<T>(items: T[], rng: SeededRng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/** The node `selector` and `pick` choose among `names` given the current primary (null: none known; then any node). */
export function resolveTarget(selector: Selector, pick: number, names: readonly string[], primary: string | null): string {
  const sorted = [...names].sort();
  const pool = selector === 'primary' && primary !== null ? [primary] : selector === 'replica' && primary !== null ? sorted.filter((n) => n !== primary) : sorted;
  return pool[Math.floor(pick * pool.length)]!;
}

/** A partition as the pairs of nodes cut from each other. */
export interface Partition {
  readonly cuts: readonly (readonly [string, string])[];
  /** For a human: the sides, e.g. "n1 | n2 n3". */
  readonly detail: string;
  /** The nodes cut off from a majority (the minority side; for a ring: every node, each sees only its neighbours). */
  readonly targets: readonly string[];
}

/**
 * The partition shapes (Jepsen's): `halves` — a minority containing
 * `target` cut from the rest; `bridge` — two halves that only `bridge`
 * (a node other than `target`) reaches both of; `ring` (5 nodes) — every
 * node reaches only its two neighbours, so each sees a majority (itself
 * and them) and no two see the same one.
 */
export function partitionOf(shape: 'halves' | 'bridge' | 'ring', target: string, pick: number, names: readonly string[]): Partition {
  const sorted = [...names].sort();
  const others = sorted.filter((n) => n !== target);
  const cross = (a: readonly string[], b: readonly string[]): [string, string][] => a.flatMap((x) => b.map((y): [string, string] => [x, y]));
  if (shape === 'halves') {
    const minoritySize = Math.floor((sorted.length - 1) / 2);
    const start = Math.floor(pick * others.length);
    const minority = [target, ...rotate(others, start).slice(0, minoritySize - 1)].sort();
    const majority = sorted.filter((n) => !minority.includes(n));
    return { cuts: cross(minority, majority), detail: `${minority.join(' ')} | ${majority.join(' ')}`, targets: minority };
  }
  if (shape === 'bridge') {
    const bridge = others[Math.floor(pick * others.length)]!;
    const rest = rotate(sorted.filter((n) => n !== bridge), sorted.indexOf(target));
    const half = Math.ceil(rest.length / 2);
    const left = [target, ...rest.filter((n) => n !== target).slice(0, half - 1)].sort();
    const right = rest.filter((n) => !left.includes(n)).sort();
    return { cuts: cross(left, right), detail: `${left.join(' ')} | ${right.join(' ')} bridged by ${bridge}`, targets: left };
  }
  const ring = rotate(sorted, Math.floor(pick * sorted.length));
  const cuts: [string, string][] = [];
  for (let i = 0; i < ring.length; i++) {
    for (let j = i + 1; j < ring.length; j++) {
      const distance = Math.min(j - i, ring.length - (j - i));
      if (distance > 1) cuts.push([ring[i]!, ring[j]!]);
    }
  }
  return { cuts, detail: `ring ${ring.join('-')}-${ring[0]}`, targets: ring };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = ((by % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

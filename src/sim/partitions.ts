import type { SeededRng } from '../lib/random.js';
import type { NodeId } from '../raft/core/types.js';

/**
 * Network partitions in Jepsen's vocabulary. A Grudge maps a receiver to
 * the senders it cannot hear from (Jepsen's "grudge"): one-way cuts are
 * representable, and every shape below is built from it.
 */
export type Grudge = ReadonlyMap<NodeId, ReadonlySet<NodeId>>;

export type PartitionShape = 'isolate' | 'halves' | 'bridge' | 'majoritiesRing';

export const PARTITION_SHAPES: readonly PartitionShape[] = ['isolate', 'halves', 'bridge', 'majoritiesRing'];

export function shuffled<T>(rng: SeededRng, values: readonly T[]): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Every node hears only the nodes of its own component. */
export function components(parts: readonly (readonly NodeId[])[]): Grudge {
  const grudge = new Map<NodeId, Set<NodeId>>();
  for (const part of parts) {
    const others = parts.filter((p) => p !== part).flat();
    for (const node of part) grudge.set(node, new Set(others));
  }
  return grudge;
}

/** One node cut off from everybody, both ways (Jepsen's "clog" of one node). */
export function isolate(node: NodeId, all: readonly NodeId[]): Grudge {
  return components([[node], all.filter((n) => n !== node)]);
}

/** Two halves: a majority and a minority. */
export function halves(rng: SeededRng, all: readonly NodeId[]): Grudge {
  const order = shuffled(rng, all);
  const cut = Math.floor(order.length / 2);
  return components([order.slice(0, cut), order.slice(cut)]);
}

/** Two halves that cannot hear each other, and one node in the middle that hears (and is heard by) both. */
export function bridge(rng: SeededRng, all: readonly NodeId[]): Grudge {
  const order = shuffled(rng, all);
  const middle = order[0]!;
  const rest = order.slice(1);
  const cut = Math.floor(rest.length / 2);
  const left = rest.slice(0, cut);
  const right = rest.slice(cut);
  const grudge = new Map<NodeId, Set<NodeId>>();
  for (const node of left) grudge.set(node, new Set(right));
  for (const node of right) grudge.set(node, new Set(left));
  grudge.set(middle, new Set());
  return grudge;
}

/**
 * Every node hears a majority (itself included), and no two nodes hear the
 * same majority: nodes on a shuffled ring each hear a window of the ring
 * around them. With an odd window that fits, the window is centred (the cut
 * is symmetric); otherwise it leans forward (one-way cuts).
 */
export function majoritiesRing(rng: SeededRng, all: readonly NodeId[]): Grudge {
  const ring = shuffled(rng, all);
  const n = ring.length;
  const size = Math.floor(n / 2) + 1;
  const back = size % 2 === 1 ? (size - 1) / 2 : 0;
  const grudge = new Map<NodeId, Set<NodeId>>();
  ring.forEach((node, i) => {
    const heard = new Set<NodeId>();
    for (let k = 0; k < size; k++) heard.add(ring[(i - back + k + n) % n]!);
    grudge.set(node, new Set(ring.filter((other) => !heard.has(other))));
  });
  return grudge;
}

export function drawPartition(rng: SeededRng, shape: PartitionShape, all: readonly NodeId[]): Grudge {
  switch (shape) {
    case 'isolate':
      return isolate(all[rng.int(all.length)]!, all);
    case 'halves':
      return halves(rng, all);
    case 'bridge':
      return bridge(rng, all);
    case 'majoritiesRing':
      return majoritiesRing(rng, all);
  }
}

/** The union of several grudges (a message is lost if any of them blocks it). */
export function blocks(grudges: readonly Grudge[], from: NodeId, to: NodeId): boolean {
  for (const grudge of grudges) {
    if (grudge.get(to)?.has(from) === true) return true;
  }
  return false;
}

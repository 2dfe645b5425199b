import type { Logger } from '../lib/logger.js';
import type { NodeId } from '../raft/core/types.js';
import type { HelloAnswer } from '../raft/transport/grpc-transport.js';

/**
 * How a never-configured node starts (DESIGN.md §3: a fresh cluster forms
 * once bootstrap_expect nodes have discovered each other; later nodes join).
 * A node among the initial voters (the first bootstrap_expect names of its
 * peer list) asks every peer whether it is configured:
 *
 *  - a peer in a cluster whose voters are not exactly the initial voters:
 *    the cluster exists and has changed (a replacement node's peer list no
 *    longer names the node it replaces): join it, never form another;
 *  - a peer configured with exactly the initial voters: the cluster formed
 *    (or is forming) with this node among them: bootstrap with the same;
 *  - every other initial voter answered and none is configured: form it;
 *  - otherwise wait: an initial voter that does not answer may be down, or
 *    in a cluster this node must not form beside.
 */

export type BootstrapDecision =
  | { readonly kind: 'bootstrap'; readonly reason: string }
  | { readonly kind: 'join'; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string };

/** `answers`: every other peer asked; null: it did not answer. */
export function decideBootstrap(self: NodeId, initialVoters: readonly NodeId[], answers: ReadonlyMap<NodeId, HelloAnswer | null>): BootstrapDecision {
  const expected = [...initialVoters].sort();
  const same = (voters: readonly NodeId[]): boolean => voters.length === expected.length && [...voters].sort().every((v, i) => v === expected[i]);
  let formed: NodeId | null = null;
  for (const [peer, answer] of [...answers].sort(([a], [b]) => a.localeCompare(b))) {
    if (answer === null || !answer.configured) continue;
    if (!same(answer.voters)) return { kind: 'join', reason: `${peer} is in a cluster whose voters are ${answer.voters.join(', ')}, not the initial ${expected.join(', ')}` };
    formed ??= peer;
  }
  if (formed !== null) return { kind: 'bootstrap', reason: `${formed} formed the cluster with the same initial voters` };
  const missing = expected.filter((name) => name !== self && (answers.get(name) ?? null) === null);
  if (missing.length === 0) return { kind: 'bootstrap', reason: `every initial voter answered (${expected.join(', ')}) and none is in a cluster yet` };
  return { kind: 'wait', reason: `waiting for ${missing.join(', ')} to answer before forming the cluster` };
}

export interface DiscoveryOptions {
  readonly self: NodeId;
  readonly initialVoters: readonly NodeId[];
  /** Every peer of the static list but this node. */
  readonly peers: readonly NodeId[];
  readonly hello: (peer: NodeId, timeoutMs: number) => Promise<HelloAnswer | null>;
  /** Is this node configured now (a leader may have sent it the configuration meanwhile)? */
  readonly configured: () => boolean;
  readonly bootstrap: () => void;
  readonly join: () => void;
  readonly log: Logger;
}

const HELLO_TIMEOUT_MS = 2_000;
const RETRY_MS = 1_000;

/** Ask, decide, and act once (bootstrap or join); returns a stop function. */
export function startDiscovery(o: DiscoveryOptions): () => void {
  let stopped = false;
  let lastReason = '';
  const run = async (): Promise<void> => {
    while (!stopped && !o.configured()) {
      const answers = new Map(await Promise.all(o.peers.map(async (peer): Promise<[NodeId, HelloAnswer | null]> => [peer, await o.hello(peer, HELLO_TIMEOUT_MS)])));
      if (stopped || o.configured()) break;
      const decision = decideBootstrap(o.self, o.initialVoters, answers);
      if (decision.kind === 'bootstrap') {
        o.log.info({ voters: o.initialVoters, reason: decision.reason }, 'discovery.bootstrap');
        o.bootstrap();
        return;
      }
      if (decision.kind === 'join') {
        o.log.warn({ reason: decision.reason, detail: 'this node is not one of the cluster\'s voters: it asks to join instead of forming a cluster' }, 'discovery.join');
        o.join();
        return;
      }
      if (decision.reason !== lastReason) o.log.info({ reason: decision.reason }, 'discovery.waiting');
      lastReason = decision.reason;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  };
  void run().catch((error: unknown) => o.log.error({ err: error }, 'discovery.failed'));
  return () => {
    stopped = true;
  };
}

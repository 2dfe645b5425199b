import type { Message, NodeId } from '../raft/core/types.js';

/** Everything that can happen in the simulated world, at a simulated time. */
export type SimEvent =
  /** One tick of a node's clock (a chain per process lifetime). */
  | { readonly kind: 'tick'; readonly node: NodeId; readonly life: number }
  | { readonly kind: 'deliver'; readonly message: Message; readonly senderLife: number }
  /** The disk acknowledged the write of the node's current Ready. */
  | { readonly kind: 'persisted'; readonly node: NodeId; readonly life: number }
  /** Transport feedback to a sender: a peer was unreachable, or a snapshot was (not) delivered. */
  | { readonly kind: 'report'; readonly node: NodeId; readonly life: number; readonly to: NodeId; readonly what: 'unreachable' | 'snapOk' | 'snapFailed' }
  | { readonly kind: 'crash' }
  | { readonly kind: 'restart'; readonly node: NodeId }
  | { readonly kind: 'pause' }
  | { readonly kind: 'partition' }
  | { readonly kind: 'heal'; readonly cut: string }
  /** Swizzle-clog: clog nodes one at a time, then unclog them one at a time. */
  | { readonly kind: 'clog'; readonly order: readonly NodeId[]; readonly step: number; readonly everyUnits: number }
  | { readonly kind: 'retire'; readonly node: NodeId }
  | { readonly kind: 'propose' }
  | { readonly kind: 'read' }
  | { readonly kind: 'transfer' }
  | { readonly kind: 'membership' }
  | { readonly kind: 'liveness' }
  | { readonly kind: 'probe' };

export type SimEventKind = SimEvent['kind'];

/** Small numbers for the trace digest (stable: changing them changes every digest). */
export const EVENT_CODES: Readonly<Record<SimEventKind, number>> = {
  tick: 1,
  deliver: 2,
  persisted: 3,
  report: 4,
  crash: 5,
  restart: 6,
  pause: 7,
  partition: 8,
  heal: 9,
  clog: 10,
  retire: 11,
  propose: 12,
  transfer: 13,
  membership: 14,
  liveness: 15,
  probe: 16,
  read: 17,
};

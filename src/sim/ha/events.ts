import type { Message, NodeId } from '../../raft/core/types.js';

/** Everything that can happen in the HA world: the Raft process events of ../events.ts plus the HA layer's. */
export type HaEvent =
  | { readonly kind: 'tick'; readonly node: NodeId; readonly life: number }
  | { readonly kind: 'deliver'; readonly message: Message; readonly senderLife: number }
  | { readonly kind: 'persisted'; readonly node: NodeId; readonly life: number }
  | { readonly kind: 'report'; readonly node: NodeId; readonly life: number; readonly to: NodeId; readonly what: 'unreachable' | 'snapOk' | 'snapFailed' }
  /** One iteration of a node's HA loop (every loop_wait on its clock). */
  | { readonly kind: 'haLoop'; readonly node: NodeId; readonly life: number }
  /** WAL streaming and synchronous-commit acknowledgements advance. */
  | { readonly kind: 'wal' }
  /** A client writes to every member that accepts writes. */
  | { readonly kind: 'write' }
  /** A proposal forwarded to the Raft leader (gRPC in the real agent). */
  | { readonly kind: 'forward'; readonly to: NodeId; readonly data: Uint8Array }
  | { readonly kind: 'crash' }
  | { readonly kind: 'restart'; readonly node: NodeId }
  | { readonly kind: 'pause' }
  | { readonly kind: 'partition' }
  | { readonly kind: 'heal' }
  /** An operator's request: switchover or failover to a member, cancel, pause or resume. */
  | { readonly kind: 'operator' };

export type HaEventKind = HaEvent['kind'];

/** Small numbers for the trace digest (stable: changing them changes every digest). */
export const HA_EVENT_CODES: Readonly<Record<HaEventKind, number>> = {
  tick: 1,
  deliver: 2,
  persisted: 3,
  report: 4,
  haLoop: 20,
  wal: 21,
  write: 22,
  forward: 23,
  crash: 5,
  restart: 6,
  pause: 7,
  partition: 8,
  heal: 9,
  operator: 24,
};

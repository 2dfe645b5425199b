import type { ConfChange, ConfState, Message, NodeId, RaftStatus, Ready, Snapshot } from './types.js';

/**
 * The public surface of the pure Raft core (implemented by RawNode in
 * raw-node.ts). Synchronous and I/O-free: the driver and the simulator are
 * the only callers. Errors are thrown synchronously.
 */
export interface RaftNode {
  /** Advance the logical clock by one tick (heartbeats, election timeouts, check-quorum). */
  tick(): void;
  /** Feed a message received from a peer. Messages from stale terms / unknown peers are ignored (debug log). */
  step(message: Message): void;
  /** Start an election now (pre-vote first when enabled). No-op for learners and non-members. */
  campaign(): void;
  /**
   * Give a never-configured node (empty log, no membership) the cluster's
   * index-0 snapshot naming the initial voters, as a leader would; the next
   * Ready persists it. False when the node is configured already.
   */
  bootstrap(snapshot: Snapshot): boolean;
  /**
   * Append a normal entry. Leader only: throws NotLeaderError otherwise, and
   * ProposalDroppedError during a leadership transfer or when uncommitted
   * entries exceed the limit. Returns the index and term the entry got: the
   * proposal succeeded iff the entry applied at `index` has this `term`.
   */
  propose(data: Uint8Array): { index: number; term: number };
  /**
   * Append a membership change. Leader only (NotLeaderError). Throws
   * ProposalDroppedError while another change is pending (not yet applied)
   * or when the change is invalid (e.g. removing the last voter, adding a voter that is not a learner and not caught up is allowed but discouraged).
   */
  proposeConfChange(change: ConfChange): { index: number; term: number };
  /**
   * Request a linearizable read point. The answer arrives as a ReadState
   * with the same context in a later Ready (followers forward to the leader).
   * Throws NotLeaderError when no leader is known.
   */
  readIndex(context: Uint8Array): void;
  /** Leader only: hand leadership to `to` (a voter); it is sent TimeoutNow once caught up. */
  transferLeadership(to: NodeId): void;
  /** Called by the driver when it applies a committed 'conf' entry; returns the new configuration. */
  applyConfChange(change: ConfChange): ConfState;
  /** The transport could not deliver to `to`: the leader falls back to probing it. */
  reportUnreachable(to: NodeId): void;
  /** Outcome of sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  /** Acknowledge that the last Ready was fully handled (persisted, sent, applied). */
  advance(ready: Ready): void;
  status(): RaftStatus;
}

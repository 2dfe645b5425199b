import { assert, unreachable } from '../../lib/assert.js';
import { Inflights } from './inflights.js';
import type { ProgressState, ProgressStatus } from './types.js';

/**
 * The leader's view of one peer's log. Three states:
 *  - probe: the leader does not know where the peer's log ends; it sends one
 *    AppendEntries at a time and waits for the answer (or a heartbeat answer);
 *  - replicate: the peer is known to be in sync; AppendEntries are pipelined
 *    up to the inflights window;
 *  - snapshot: the entries the peer needs are compacted; a snapshot is on its
 *    way and nothing else is sent until it is reported.
 */
export class Progress {
  /** Highest index known to be in the peer's log. */
  match = 0;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** probe: an AppendEntries is outstanding; replicate: the window is full. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(init: { next: number; maxInflightMsgs: number; isLearner: boolean; recentActive: boolean }) {
    assert(init.next >= 1, () => `progress next must be >= 1, got ${init.next}`);
    this.next = init.next;
    this.inflights = new Inflights(init.maxInflightMsgs);
    this.isLearner = init.isLearner;
    this.recentActive = init.recentActive;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
  }

  /** Account for an AppendEntries carrying `entryCount` entries just sent. */
  sentEntries(entryCount: number): void {
    switch (this.state) {
      case 'replicate':
        if (entryCount > 0) {
          this.next += entryCount;
          this.inflights.add(this.next - 1);
        }
        this.msgAppFlowPaused = this.inflights.full();
        return;
      case 'probe':
        if (entryCount > 0) this.msgAppFlowPaused = true;
        return;
      case 'snapshot':
        assert(false, 'sending entries to a peer in snapshot state');
        return;
      default:
        unreachable(this.state, 'progress state');
    }
  }

  /** The peer acknowledged `index`. Returns whether match moved forward. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * The peer rejected an AppendEntries whose previous index was `rejected`;
   * `matchHint` is the highest index that may still match. Returns false when
   * the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
      case 'replicate':
        return this.msgAppFlowPaused;
      case 'snapshot':
        return true;
      default:
        return unreachable(this.state, 'progress state');
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      paused: this.isPaused(),
      inflight: this.inflights.count,
      learner: this.isLearner,
    };
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }
}

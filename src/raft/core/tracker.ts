import { assert } from '../../lib/assert.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

/**
 * The configuration in force (voters and learners) with one Progress per
 * member, and the votes of the current election. Ids are kept sorted so that
 * every iteration (and therefore every message order) is deterministic.
 */
export class ProgressTracker {
  private voterIds: NodeId[] = [];
  private learnerIds: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(private readonly maxInflightMsgs: number) {}

  get voters(): readonly NodeId[] {
    return this.voterIds;
  }

  get learners(): readonly NodeId[] {
    return this.learnerIds;
  }

  confState(): ConfState {
    return { voters: [...this.voterIds], learners: [...this.learnerIds] };
  }

  isVoter(id: NodeId): boolean {
    return this.voterIds.includes(id);
  }

  isMember(id: NodeId): boolean {
    return this.progress.has(id);
  }

  /** Exactly one voter: it decides alone. */
  isSingleton(): boolean {
    return this.voterIds.length === 1;
  }

  /**
   * Switch to `confState`. Members that stay keep their progress; new members
   * start probing at `nextIndex`, marked recently active so that check-quorum
   * does not count them against the leader before they had a chance to answer.
   */
  setConfiguration(confState: ConfState, nextIndex: number): void {
    assertValidConfState(confState);
    const members = new Set([...confState.voters, ...confState.learners]);
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    const learners = new Set(confState.learners);
    for (const id of members) {
      const existing = this.progress.get(id);
      if (existing !== undefined) existing.isLearner = learners.has(id);
      else this.progress.set(id, this.newProgress(nextIndex, learners.has(id)));
    }
    this.voterIds = [...confState.voters].sort();
    this.learnerIds = [...confState.learners].sort();
  }

  /** Forget all replication state (a new term): every peer is probed again from `nextIndex`. */
  resetProgress(selfId: NodeId, lastIndex: number): void {
    for (const [id, pr] of this.progress) {
      const fresh = this.newProgress(lastIndex + 1, pr.isLearner);
      fresh.recentActive = false;
      if (id === selfId) fresh.match = lastIndex;
      this.progress.set(id, fresh);
    }
  }

  /** Members in sorted order (voters and learners). */
  memberIds(): NodeId[] {
    return [...this.progress.keys()].sort();
  }

  committed(): number {
    return committedIndex(this.voterIds, (id) => this.progress.get(id)?.match);
  }

  /** Did a majority of voters show activity since the last check? */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voterIds) active.set(id, this.progress.get(id)?.recentActive ?? false);
    return voteResult(this.voterIds, active) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Record `id`'s vote; the first answer of a voter in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voterIds) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voterIds, this.votes) };
  }

  private newProgress(next: number, isLearner: boolean): Progress {
    return new Progress({ next, maxInflightMsgs: this.maxInflightMsgs, isLearner, recentActive: true });
  }
}

function assertValidConfState(confState: ConfState): void {
  const voters = new Set(confState.voters);
  assert(voters.size === confState.voters.length, () => `duplicate voter in ${JSON.stringify(confState)}`);
  assert(new Set(confState.learners).size === confState.learners.length, () => `duplicate learner in ${JSON.stringify(confState)}`);
  for (const id of confState.learners) {
    assert(!voters.has(id), () => `${id} is both voter and learner`);
  }
  for (const id of [...confState.voters, ...confState.learners]) {
    assert(typeof id === 'string' && id !== '', 'member ids must be non-empty strings');
  }
}

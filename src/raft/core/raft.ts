import { assert } from '../../lib/assert.js';
import type { Logger } from '../../lib/logger.js';
import type { RaftOptions } from './config.js';
import { RaftLog } from './log.js';
import { isElectionMessage, makeMessage, type MessageFields } from './message.js';
import { ReadOnly } from './read-only.js';
import { ProgressTracker } from './tracker.js';
import {
  NONE,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  type NodeId,
  type RaftRole,
  type ReadState,
  type Ready,
  type SoftState,
} from './types.js';

/** Why a node became (or stayed) a follower: logged, and useful in tests. */
export type FollowerReason =
  | 'start'
  | 'higherTerm'
  | 'leaderAtSameTerm'
  | 'electionLost'
  | 'quorumInactive'
  | 'removedFromConfig'
  | 'snapshotAsLeader';

/** Why a node campaigns. */
export type CampaignReason = 'electionTimeout' | 'campaignRequested' | 'leadershipTransfer' | 'preVoteWon';

/** An entry as proposed, before the leader stamps term and index on it. */
export interface Proposal {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

const EMPTY_DATA = new Uint8Array(0);

/**
 * The state shared by every role of one Raft member, and the only place
 * roles change (becomeFollower / becomePreCandidate / becomeCandidate /
 * becomeLeader). Message handling lives in step.ts and step-<role>.ts;
 * leader-side sending in replication.ts. Fields are public to those files
 * only: the outside world goes through RawNode.
 */
export class Raft {
  readonly id: NodeId;
  readonly options: RaftOptions;
  readonly logger: Logger;
  readonly log: RaftLog;
  tracker: ProgressTracker;
  readOnly = new ReadOnly();

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: RaftRole = 'follower';

  /** Ticks since the last election timeout (leader: since the last check-quorum round). */
  electionElapsedTicks = 0;
  heartbeatElapsedTicks = 0;
  /** This term's election timeout, drawn from [electionTicks, 2 * electionTicks). */
  randomizedElectionTicks = 0;

  /** Leader: the member leadership is being handed to, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Leader: index of the latest conf change that may not be applied yet. */
  pendingConfIndex = 0;
  /** Leader: payload bytes of uncommitted entries (an estimate that never overestimates). */
  uncommittedBytes = 0;
  /** Leader: read requests waiting for the first commit in this term. */
  pendingReadIndexMessages: Message[] = [];

  /**
   * Leader: appends owed to every follower, sent when the next Ready is
   * built (flushBroadcast in replication.ts) so that all proposals and
   * commit advances between two Readies travel in one message per
   * follower. `commit` also forces an (empty) append to carry a new commit
   * index. Sending at Ready time loses nothing: messages only leave in a Ready.
   */
  broadcastOwed: { entries: boolean; commit: boolean } = { entries: false, commit: false };

  /** Output for the next Ready. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  constructor(options: RaftOptions) {
    this.id = options.id;
    this.options = options;
    this.logger = options.logger;
    this.log = new RaftLog(options.storage, options.maxCommittedSizePerReadyBytes);
    const { hardState, confState } = options.storage.initialState();
    this.tracker = new ProgressTracker(options.maxInflightMsgs);
    this.tracker.setConfiguration(confState, this.log.lastIndex() + 1);
    this.loadHardState(hardState);
    if (options.applied > 0) this.log.appliedTo(options.applied);
    this.becomeFollower(this.term, NONE, 'start');
  }

  // ---- role changes -------------------------------------------------------

  becomeFollower(term: number, leader: NodeId, reason: FollowerReason, details: Record<string, unknown> = {}): void {
    assert(term >= this.term, () => `becomeFollower: term ${term} < current term ${this.term}`);
    this.reset(term);
    this.lead = leader;
    this.role = 'follower';
    this.logger.info({ term: this.term, leader, reason, ...details }, 'raft.becomeFollower');
  }

  /** Pre-vote phase: neither the term nor the vote changes. */
  becomePreCandidate(reason: CampaignReason): void {
    assert(this.role !== 'leader', 'invalid transition leader -> preCandidate');
    assert(this.promotable(), 'a learner or non-member cannot become preCandidate');
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.logger.info({ term: this.term, leader: NONE, reason }, 'raft.becomePreCandidate');
  }

  becomeCandidate(reason: CampaignReason): void {
    assert(this.role !== 'leader', 'invalid transition leader -> candidate');
    assert(this.promotable(), 'a learner or non-member cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.logger.info({ term: this.term, leader: NONE, reason }, 'raft.becomeCandidate');
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', () => `invalid transition ${this.role} -> leader`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'a leader must be a member');
    self.becomeReplicate();
    self.recentActive = true;
    // Any conf change in the uncommitted tail may be pending: refuse new ones until it is applied.
    this.pendingConfIndex = this.log.lastIndex();
    const appended = this.appendEntries([{ type: 'normal', data: EMPTY_DATA }]);
    assert(appended !== undefined, 'the empty entry of a new leader cannot be dropped');
    this.logger.info({ term: this.term, leader: this.id, reason: 'electionWon', lastIndex: this.log.lastIndex() }, 'raft.becomeLeader');
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTicks = this.options.electionTicks + this.options.rng.int(this.options.electionTicks);
    this.leadTransferee = NONE;
    this.broadcastOwed = { entries: false, commit: false };
    this.tracker.resetVotes();
    this.tracker.resetProgress(this.id, this.log.lastIndex());
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  // ---- shared helpers ------------------------------------------------------

  /** A voter with no snapshot pending may campaign. Learners and non-members never do. */
  promotable(): boolean {
    const self = this.tracker.progress.get(this.id);
    return self !== undefined && !self.isLearner && !this.log.hasPendingSnapshot();
  }

  /** Queue a message for the next Ready. Election messages carry an explicit term; others get ours. */
  send(fields: MessageFields): void {
    let term: number;
    if (isElectionMessage(fields.type)) {
      assert(fields.term !== undefined && fields.term > 0, () => `${fields.type} must carry a term`);
      term = fields.term;
    } else {
      assert(fields.term === undefined || fields.term === 0, () => `${fields.type} must not carry a term`);
      // Proposals and read requests travel to the leader like local messages: no term check there.
      term = fields.type === 'prop' || fields.type === 'readIndex' ? 0 : this.term;
    }
    assert(fields.to !== NONE, () => `${fields.type} without a destination`);
    this.msgs.push(makeMessage({ ...fields, from: fields.from ?? this.id, term }));
  }

  /** Leader: stamp `proposals` with our term and the next indexes, and append them. Undefined when dropped for size. */
  appendEntries(proposals: readonly Proposal[]): Entry[] | undefined {
    const lastIndex = this.log.lastIndex();
    const entries = proposals.map((p, i): Entry => ({ term: this.term, index: lastIndex + 1 + i, type: p.type, data: p.data }));
    if (!this.increaseUncommittedSize(entries)) return undefined;
    const newLastIndex = this.log.append(entries);
    this.tracker.progress.get(this.id)?.maybeUpdate(newLastIndex);
    this.maybeCommit();
    return entries;
  }

  /** Leader: advance the commit index to what a majority has matched, if that entry is from our term. */
  maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.maybeTerm(this.log.committed) === this.term;
  }

  abortLeaderTransfer(reason: string): void {
    if (this.leadTransferee === NONE) return;
    this.logger.info({ term: this.term, to: this.leadTransferee, reason }, 'raft.transferLeadershipAborted');
    this.leadTransferee = NONE;
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---- Ready bookkeeping -----------------------------------------------------

  /** The driver handled `ready`: its entries/snapshot are durable and its committed entries applied. */
  advance(ready: Ready): void {
    this.reduceUncommittedSize(ready.committedEntries);
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    const appliedIndex = lastCommitted?.index ?? ready.snapshot?.metadata.index;
    if (appliedIndex !== undefined) this.log.appliedTo(appliedIndex);
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index, lastEntry.term);
    if (ready.snapshot !== undefined) this.log.stableSnapTo(ready.snapshot.metadata.index);
  }

  private increaseUncommittedSize(entries: readonly Entry[]): boolean {
    const bytes = payloadBytes(entries);
    // An empty log tail admits one proposal of any size, so a big entry cannot starve forever.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.options.maxUncommittedEntriesBytes) {
      return false;
    }
    this.uncommittedBytes += bytes;
    return true;
  }

  private reduceUncommittedSize(entries: readonly Entry[]): void {
    if (this.uncommittedBytes === 0) return;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - payloadBytes(entries));
  }

  private loadHardState(hardState: HardState): void {
    if (hardState.term === 0 && hardState.vote === NONE && hardState.commit === 0) return;
    assert(
      hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
      () => `hard state commit ${hardState.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hardState.commit;
    this.term = hardState.term;
    this.vote = hardState.vote;
  }
}

function payloadBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.data.byteLength;
  return bytes;
}

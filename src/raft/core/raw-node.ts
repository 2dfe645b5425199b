import { assert } from '../../lib/assert.js';
import { NotLeaderError, ProposalDroppedError } from '../../lib/errors.js';
import type { RaftNode } from './api.js';
import { resolveRaftOptions, type RaftOptionsInput } from './config.js';
import { hup } from './election.js';
import { applyConfChange } from './membership.js';
import { LOCAL_MESSAGE_TYPES, RESPONSE_MESSAGE_TYPES, makeMessage, type MessageFields } from './message.js';
import { Raft } from './raft.js';
import { pendingReadCount } from './read-index.js';
import { flushBroadcast } from './replication.js';
import { READ_INDEX_CONTEXT_MAX_BYTES, READ_INDEX_PENDING_MAX } from './read-only.js';
import { proposeConfChangeOnLeader, proposeOnLeader } from './step-leader.js';
import { stepRaft } from './step.js';
import { bootstrapConfiguration } from './step-follower.js';
import { tickRaft } from './tick.js';
import {
  NONE,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ProgressStatus,
  type RaftStatus,
  type Ready,
  type Snapshot,
  type SoftState,
} from './types.js';

/**
 * The synchronous Raft core behind the RaftNode interface: inputs are
 * ticks, messages and requests; output is the Ready batch. No I/O, no
 * clock, no randomness but the injected one.
 */
export class RawNode implements RaftNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced. */
  private outstanding: Ready | undefined = undefined;

  constructor(input: RaftOptionsInput) {
    this.raft = new Raft(resolveRaftOptions(input));
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    tickRaft(this.raft);
  }

  step(message: Message): void {
    const r = this.raft;
    if (LOCAL_MESSAGE_TYPES.has(message.type) || message.to !== r.id) {
      r.logger.debug({ type: message.type, from: message.from, to: message.to }, 'raft.ignoredMisaddressedMessage');
      return;
    }
    if (RESPONSE_MESSAGE_TYPES.has(message.type) && !r.tracker.isMember(message.from)) {
      r.logger.debug({ type: message.type, from: message.from, term: message.term }, 'raft.ignoredResponseFromNonMember');
      return;
    }
    stepRaft(r, message);
  }

  /**
   * Configure a node that never was (empty log, no membership) with `snapshot`,
   * the cluster's index-0 snapshot naming the initial voters: as if a leader had
   * sent it, so the next Ready persists and applies it. False when the node is
   * configured already (a leader got there first).
   */
  bootstrap(snapshot: Snapshot): boolean {
    return bootstrapConfiguration(this.raft, snapshot);
  }

  campaign(): void {
    hup(this.raft, this.raft.options.preVote ? 'preElection' : 'election', 'campaignRequested');
  }

  propose(data: Uint8Array): { index: number; term: number } {
    this.requireLeader();
    return firstEntryOf(proposeOnLeader(this.raft, [{ type: 'normal', data }]));
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.requireLeader();
    return firstEntryOf(proposeConfChangeOnLeader(this.raft, change));
  }

  readIndex(context: Uint8Array): void {
    const r = this.raft;
    assert(
      context.byteLength > 0 && context.byteLength <= READ_INDEX_CONTEXT_MAX_BYTES,
      () => `readIndex needs a unique context of 1..${READ_INDEX_CONTEXT_MAX_BYTES} bytes, got ${context.byteLength}`,
    );
    if (r.role === 'leader') {
      if (pendingReadCount(r) >= READ_INDEX_PENDING_MAX) {
        throw new ProposalDroppedError(`${READ_INDEX_PENDING_MAX} read index requests already pending`);
      }
    } else if (r.lead === NONE) {
      throw new NotLeaderError(NONE);
    }
    stepRaft(r, this.localMessage({ type: 'readIndex', to: r.id, context }));
  }

  transferLeadership(to: NodeId): void {
    this.requireLeader();
    if (!this.raft.tracker.isVoter(to)) throw new ProposalDroppedError(`leadership transfer target ${to} is not a voter`);
    stepRaft(this.raft, this.localMessage({ type: 'transferLeader', to: this.raft.id, from: to }));
  }

  applyConfChange(change: ConfChange): ConfState {
    return applyConfChange(this.raft, change);
  }

  reportUnreachable(to: NodeId): void {
    stepRaft(this.raft, this.localMessage({ type: 'unreachable', to: this.raft.id, from: to }));
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    stepRaft(this.raft, this.localMessage({ type: 'snapStatus', to: this.raft.id, from: to, reject: !ok }));
  }

  /** Is there anything to handle? Always false while a Ready is out (advance it first). */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    flushBroadcast(r);
    return (
      !sameSoftState(r.softState(), this.prevSoftState) ||
      !sameHardState(r.hardState(), this.prevHardState) ||
      r.log.hasPendingSnapshot() ||
      r.msgs.length > 0 ||
      r.log.unstableEntries().length > 0 ||
      r.log.hasNextCommittedEntries() ||
      r.readStates.length > 0
    );
  }

  /** The next batch of work for the driver. Messages and read states are handed over (not repeated). */
  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance() of the previous Ready');
    const r = this.raft;
    flushBroadcast(r);
    const softState = r.softState();
    const hardState = r.hardState();
    const entries: Entry[] = [...r.log.unstableEntries()];
    const snapshot = r.log.unstable.snapshot;
    const ready: Ready = {
      ...(sameSoftState(softState, this.prevSoftState) ? {} : { softState }),
      ...(sameHardState(hardState, this.prevHardState) ? {} : { hardState }),
      entries,
      ...(snapshot === undefined ? {} : { snapshot }),
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hardState.term !== this.prevHardState.term ||
        hardState.vote !== this.prevHardState.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (ready.softState !== undefined) this.prevSoftState = ready.softState;
    this.outstanding = ready;
    return ready;
  }

  advance(ready: Ready): void {
    assert(ready === this.outstanding, 'advance() must get the Ready returned by the last ready()');
    this.outstanding = undefined;
    if (ready.hardState !== undefined) this.prevHardState = ready.hardState;
    this.raft.advance(ready);
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress: Record<NodeId, ProgressStatus> = {};
    if (r.role === 'leader') {
      for (const id of r.tracker.memberIds()) progress[id] = r.tracker.progress.get(id)!.status();
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      role: r.role,
      leader: r.lead,
      leadTransferee: r.leadTransferee,
      confState: r.tracker.confState(),
      progress,
    };
  }

  private requireLeader(): void {
    if (this.raft.role !== 'leader') throw new NotLeaderError(this.raft.lead);
  }

  private localMessage(fields: MessageFields): Message {
    return makeMessage({ from: this.raft.id, ...fields });
  }
}

function firstEntryOf(result: Entry[] | string): { index: number; term: number } {
  if (typeof result === 'string') throw new ProposalDroppedError(result);
  const entry = result[0]!;
  return { index: entry.index, term: entry.term };
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

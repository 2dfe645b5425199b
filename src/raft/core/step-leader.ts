import { confChangeRefusal, encodeConfChange } from './conf-change.js';
import type { Progress } from './progress.js';
import type { Proposal, Raft } from './raft.js';
import { acknowledgeReadIndex, handleReadIndex, releasePendingReadIndexMessages } from './read-index.js';
import {
  oweBroadcast,
  bcastHeartbeat,
  maybeSendSnapshot,
  sendAllAppends,
  sendAppend,
  sendTimeoutNow,
} from './replication.js';
import { NONE, type ConfChange, type Entry, type Message } from './types.js';

/** The leader role: replicate, commit, confirm reads, transfer leadership. One handler per message type. */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'beat':
      bcastHeartbeat(r);
      return;
    case 'checkQuorum':
      checkQuorum(r);
      return;
    case 'prop':
      handleForwardedProposal(r, m);
      return;
    case 'readIndex':
      handleReadIndex(r, m);
      return;
    default:
      stepLeaderFromPeer(r, m);
  }
}

/** Messages about one peer need its progress; a peer we do not track is ignored. */
function stepLeaderFromPeer(r: Raft, m: Message): void {
  const pr = r.tracker.progress.get(m.from);
  if (pr === undefined) {
    r.logger.debug({ term: r.term, from: m.from, type: m.type }, 'raft.ignoredMessageFromUnknownPeer');
    return;
  }
  switch (m.type) {
    case 'appResp':
      pr.recentActive = true;
      if (m.reject) handleAppendRejection(r, pr, m);
      else handleAppendSuccess(r, pr, m);
      return;
    case 'heartbeatResp':
      handleHeartbeatResponse(r, pr, m);
      return;
    case 'snapStatus':
      handleSnapStatus(r, pr, m);
      return;
    case 'unreachable':
      // A pipelined AppendEntries was probably lost: find out where the peer is before sending more.
      if (pr.state === 'replicate') pr.becomeProbe();
      r.logger.debug({ term: r.term, peer: m.from, state: pr.state }, 'raft.peerUnreachable');
      return;
    case 'transferLeader':
      handleTransferLeader(r, pr, m.from);
      return;
    default:
      r.logger.debug({ term: r.term, from: m.from, type: m.type }, 'raft.ignoredMessageAsLeader');
  }
}

/**
 * Append proposals on the leader and replicate them. Returns the appended
 * entries, or why they were dropped.
 */
export function proposeOnLeader(r: Raft, proposals: readonly Proposal[]): Entry[] | string {
  if (!r.tracker.isMember(r.id)) return 'this leader was removed from the configuration';
  if (r.leadTransferee !== NONE) return `leadership transfer to ${r.leadTransferee} in progress`;
  const entries = r.appendEntries(proposals);
  if (entries === undefined) {
    return `uncommitted entries would exceed ${r.options.maxUncommittedEntriesBytes} bytes (raft.maxUncommittedEntriesBytes)`;
  }
  oweBroadcast(r, 'entries');
  return entries;
}

/** One membership change at a time: refused while an earlier one may still be unapplied. */
export function proposeConfChangeOnLeader(r: Raft, change: ConfChange): Entry[] | string {
  if (r.pendingConfIndex > r.log.applied) {
    return `conf change at index ${r.pendingConfIndex} may not be applied yet (applied ${r.log.applied})`;
  }
  const refusal = confChangeRefusal(r.tracker.confState(), change);
  if (refusal !== undefined) return refusal;
  const result = proposeOnLeader(r, [{ type: 'conf', data: encodeConfChange(change) }]);
  if (typeof result === 'string') return result;
  r.pendingConfIndex = result[0]!.index;
  r.logger.info({ term: r.term, change: change.type, nodeId: change.nodeId, index: r.pendingConfIndex }, 'raft.confChangeProposed');
  return result;
}

/** A follower forwarded proposals. Membership changes must be proposed on the leader itself. */
function handleForwardedProposal(r: Raft, m: Message): void {
  if (m.entries.length === 0 || m.entries.some((entry) => entry.type !== 'normal')) {
    r.logger.debug({ term: r.term, from: m.from, entries: m.entries.length }, 'raft.droppedForwardedProposal');
    return;
  }
  const result = proposeOnLeader(r, m.entries);
  if (typeof result === 'string') r.logger.debug({ term: r.term, from: m.from, reason: result }, 'raft.droppedForwardedProposal');
}

/** Step down unless a majority of voters was heard from in the last election timeout. */
function checkQuorum(r: Raft): void {
  const self = r.tracker.progress.get(r.id);
  if (self !== undefined) self.recentActive = true;
  if (!r.tracker.quorumActive()) {
    r.becomeFollower(r.term, NONE, 'quorumInactive');
    return;
  }
  for (const [id, pr] of r.tracker.progress) {
    if (id !== r.id) pr.recentActive = false;
  }
}

function handleAppendSuccess(r: Raft, pr: Progress, m: Message): void {
  const wasPaused = pr.isPaused();
  const updated = pr.maybeUpdate(m.index);
  // An answer at exactly match still ends a probe (or a snapshot that left the peer where the log continues).
  if (!updated && !(pr.match === m.index && pr.state !== 'replicate')) return;
  switch (pr.state) {
    case 'probe':
      pr.becomeReplicate();
      break;
    case 'snapshot':
      if (pr.match + 1 >= r.log.firstIndex()) {
        r.logger.debug({ term: r.term, peer: m.from, match: pr.match }, 'raft.peerRecoveredFromSnapshot');
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      break;
    case 'replicate':
      pr.inflights.freeLE(m.index);
      break;
  }
  if (r.maybeCommit()) {
    releasePendingReadIndexMessages(r);
    oweBroadcast(r, 'commit');
  } else if (wasPaused) {
    // It may have missed the latest commit index while paused.
    sendAppend(r, m.from);
  }
  sendAllAppends(r, m.from);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.logger.info({ term: r.term, to: m.from }, 'raft.transfereeCaughtUp');
    sendTimeoutNow(r, m.from);
  }
}

function handleAppendRejection(r: Raft, pr: Progress, m: Message): void {
  r.logger.debug(
    { term: r.term, peer: m.from, index: m.index, hintIndex: m.rejectHint, hintTerm: m.rejectHintTerm },
    'raft.appendRejectedByPeer',
  );
  if (m.index === 0) {
    // Only an unconfigured joiner rejects index 0: it needs our snapshot (the initial configuration).
    if (pr.state !== 'snapshot') maybeSendSnapshot(r, m.from, pr);
    return;
  }
  let nextProbeIndex = m.rejectHint;
  const hintTerm = m.rejectHintTerm ?? 0;
  // Skip every index where our term is above the peer's: none of them can match.
  if (hintTerm > 0) nextProbeIndex = r.log.findConflictByTerm(m.rejectHint, hintTerm).index;
  if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
    if (pr.state === 'replicate') pr.becomeProbe();
    sendAppend(r, m.from);
  }
}

function handleHeartbeatResponse(r: Raft, pr: Progress, m: Message): void {
  pr.recentActive = true;
  pr.msgAppFlowPaused = false;
  // Also for a full window: an empty append lets a peer whose appends were all lost recover.
  if (pr.match < r.log.lastIndex() || pr.state === 'probe') sendAppend(r, m.from);
  if (m.context !== undefined && m.context.byteLength > 0) acknowledgeReadIndex(r, m);
}

function handleSnapStatus(r: Raft, pr: Progress, m: Message): void {
  if (pr.state !== 'snapshot') return;
  const ok = !m.reject;
  // On failure probe from match, not from the snapshot that never arrived.
  if (!ok) pr.pendingSnapshot = 0;
  pr.becomeProbe();
  // Wait for the append answer (success) or a heartbeat interval (failure) before sending again.
  pr.msgAppFlowPaused = true;
  r.logger.debug({ term: r.term, peer: m.from, ok, next: pr.next }, 'raft.snapshotReported');
}

function handleTransferLeader(r: Raft, pr: Progress, transferee: string): void {
  if (pr.isLearner) {
    r.logger.debug({ term: r.term, to: transferee }, 'raft.ignoredTransferToLearner');
    return;
  }
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === transferee) return;
    r.abortLeaderTransfer(`superseded by a transfer to ${transferee}`);
  }
  if (transferee === r.id) return;
  // The transfer must finish within one election timeout (see tickHeartbeat).
  r.electionElapsedTicks = 0;
  r.leadTransferee = transferee;
  r.logger.info({ term: r.term, to: transferee, match: pr.match, lastIndex: r.log.lastIndex() }, 'raft.transferLeadershipStarted');
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, transferee);
  else sendAppend(r, transferee);
}
